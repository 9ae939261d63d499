"""SNMP values, varbinds, OIDs and octets as JSON, and checked reading of decoded JSON.

The cache codec (snmpd_ng.cache.codec) builds its payloads from these pieces. A value is a
`[type name, ...]` list, such as `["Counter32", 5]` or `["OctetString", "eth0"]`. Octets that
are valid UTF-8 are a JSON string, others `{"hex": "..."}`. An OID is dotted text, the empty
OID an empty string.

The `read_*` functions check one field of decoded JSON and raise `InvalidField` with its path,
such as `value.tables[0].rows[3][1]`, when it does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from snmpd_ng.protocol.oid import Oid, format_oid
from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    Null,
    ObjectIdentifier,
    OctetString,
    Opaque,
    SnmpValue,
    TimeTicks,
    VarBind,
)

T = TypeVar("T")


class CacheEncodeError(TypeError):
    """A value the codec has no encoding for, or a time that is not a finite number."""


class InvalidField(Exception):
    """A field of decoded JSON that does not fit the layout. The message starts with its path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


# Checked access to decoded JSON. JSON has one number type, so bool (a subclass of int in
# Python) is rejected wherever a number is expected.


def read_dict(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidField(path, f"expected an object, got {_json_type(value)}")
    return value


def read_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidField(path, f"expected an array, got {_json_type(value)}")
    return value


def read_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidField(path, f"expected a string, got {_json_type(value)}")
    return value


def read_int(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidField(path, f"expected an integer, got {_json_type(value)}")
    return value


def read_float(value: object, path: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidField(path, f"expected a number, got {_json_type(value)}")
    return float(value)


def read_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidField(path, f"expected true or false, got {_json_type(value)}")
    return value


def read_optional(value: object, path: str, read: Callable[[object, str], T]) -> T | None:
    return None if value is None else read(value, path)


def read_nullable_field(document: Mapping[str, Any], name: str, path: str,
                        read: Callable[[object, str], T]) -> T | None:
    """Read a field that must be present but may be null."""
    if name not in document:
        raise InvalidField(f"{path}.{name}", "missing")
    return read_optional(document[name], f"{path}.{name}", read)


def read_field(document: Mapping[str, Any], name: str, path: str,
               read: Callable[[object, str], T]) -> T:
    if name not in document:
        raise InvalidField(f"{path}.{name}", "missing")
    return read(document[name], f"{path}.{name}")


def read_counts(value: object, path: str) -> dict[str, int]:
    counts = read_dict(value, path)
    return {name: read_int(count, f"{path}.{name}") for name, count in counts.items()}


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# OIDs and octets

_MAX_ARC_DIGITS = 40


def oid_text(oid: Sequence[int]) -> str:
    return format_oid(tuple(oid))


def read_oid(value: object, path: str) -> Oid:
    text = read_str(value, path)
    if not text:
        return ()
    parts = text.split(".")
    # A valid arc has at most 10 digits (2^32 - 1). The limit also keeps int() far below
    # Python's limit of 4300 digits per conversion, which would raise ValueError.
    if not all(part.isascii() and part.isdigit() and len(part) <= _MAX_ARC_DIGITS
               for part in parts):
        raise InvalidField(path, f"invalid OID {text[:80]!r}: expected dotted non-negative "
                                 f"numbers of at most {_MAX_ARC_DIGITS} digits")
    return tuple(int(part) for part in parts)


def octets_json(octets: bytes) -> str | dict[str, str]:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": octets.hex()}


def read_octets(value: object, path: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    text = read_field(read_dict(value, path), "hex", path, read_str)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidField(f"{path}.hex", "invalid hex digits") from None


# SNMP values

_INTEGER_TYPES: dict[type, str] = {
    Integer32: "Integer32", Counter32: "Counter32", Gauge32: "Gauge32",
    TimeTicks: "TimeTicks", Counter64: "Counter64",
}
_INTEGER_TYPES_BY_NAME: dict[str, type[int]] = {name: t for t, name in _INTEGER_TYPES.items()}
_BYTES_TYPES: dict[type, str] = {OctetString: "OctetString", IpAddress: "IpAddress"}
_BYTES_TYPES_BY_NAME: dict[str, type[bytes]] = {name: t for t, name in _BYTES_TYPES.items()}
_EXCEPTIONS_BY_NAME: dict[str, ExceptionValue] = {
    value.name: value for value in (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW)}


def type_name(value: object) -> str:
    """Name the SNMP type of a value as the codec and the JSON API write it."""
    if isinstance(value, ExceptionValue):
        return value.name
    for table in (_INTEGER_TYPES, _BYTES_TYPES):
        name = table.get(type(value))
        if name is not None:
            return name
    return type(value).__name__


def encode_value(value: SnmpValue) -> list[Any]:
    """Encode one SNMP value as `[type name, ...]`. Raises CacheEncodeError for other types."""
    value_type = type(value)
    if value_type in _INTEGER_TYPES:
        return [_INTEGER_TYPES[value_type], int(value)]  # type: ignore[arg-type]
    if value_type in _BYTES_TYPES:
        return [_BYTES_TYPES[value_type], octets_json(value)]  # type: ignore[arg-type]
    if isinstance(value, Opaque):
        return ["Opaque", octets_json(value), _number_json(value.inner), value.inner_tag]
    if isinstance(value, ObjectIdentifier):
        return ["ObjectIdentifier", oid_text(value)]
    if isinstance(value, Null):
        return ["Null"]
    if isinstance(value, ExceptionValue) and value.name in _EXCEPTIONS_BY_NAME:
        return [value.name]
    if isinstance(value, MalformedValue):
        return _encode_malformed(value)
    raise CacheEncodeError(f"cannot encode a varbind value of type {value_type.__name__}")


def _encode_malformed(value: MalformedValue) -> list[Any]:
    lenient: list[Any] | None
    if value.value is None:
        lenient = None
    elif type(value.value) is int:
        lenient = ["int", value.value]
    else:
        lenient = encode_value(value.value)  # type: ignore[arg-type]
    return ["MalformedValue", value.tag, value.raw.hex(), value.reason, lenient]


def _number_json(number: float | int | None) -> list[Any] | None:
    # float.hex keeps every bit, and NaN and infinities, which JSON numbers cannot carry.
    if number is None:
        return None
    if isinstance(number, float):
        return ["float", number.hex()]
    return ["int", int(number)]


def decode_value(value: object, path: str) -> SnmpValue:
    """Decode one `[type name, ...]` value. Raises InvalidField with `path`."""
    items = read_list(value, path)
    if not items:
        raise InvalidField(path, "empty value")
    name = read_str(items[0], f"{path}[0]")
    args = items[1:]

    integer_type = _INTEGER_TYPES_BY_NAME.get(name)
    if integer_type is not None:
        return integer_type(read_int(_single(args, path), f"{path}[1]"))  # type: ignore[return-value]
    bytes_type = _BYTES_TYPES_BY_NAME.get(name)
    if bytes_type is not None:
        return bytes_type(read_octets(_single(args, path), f"{path}[1]"))  # type: ignore[return-value]
    decoder = _OTHER_VALUE_DECODERS.get(name)
    if decoder is not None:
        return decoder(args, path)
    exception = _EXCEPTIONS_BY_NAME.get(name)
    if exception is not None and not args:
        return exception
    raise InvalidField(path, f"unknown SNMP value type {name[:40]!r}")


def _single(args: list[Any], path: str) -> Any:
    return _value_arguments(args, 1, path)[0]


def _value_arguments(args: list[Any], count: int, path: str) -> list[Any]:
    if len(args) != count:
        raise InvalidField(path, f"expected {count} argument(s) after the type name, "
                                 f"got {len(args)}")
    return args


def read_items(items: list[Any], count: int, path: str) -> list[Any]:
    """Return `items` after checking that the array has exactly `count` items."""
    if len(items) != count:
        raise InvalidField(path, f"expected {count} items, got {len(items)}")
    return items


def _decode_opaque(args: list[Any], path: str) -> Opaque:
    payload, inner, inner_tag = _value_arguments(args, 3, path)
    return Opaque(read_octets(payload, f"{path}[1]"), _number(inner, f"{path}[2]"),
                  read_optional(inner_tag, f"{path}[3]", read_int))


def _number(value: object, path: str) -> float | int | None:
    if value is None:
        return None
    kind, number = read_items(read_list(value, path), 2, path)
    if kind == "int":
        return read_int(number, f"{path}[1]")
    if kind != "float":
        raise InvalidField(path, f"expected 'int' or 'float', got {kind!r}")
    try:
        return float.fromhex(read_str(number, f"{path}[1]"))
    except ValueError:
        raise InvalidField(f"{path}[1]", f"invalid hexadecimal float {number[:40]!r}") from None


def _decode_oid_value(args: list[Any], path: str) -> ObjectIdentifier:
    return ObjectIdentifier(read_oid(_single(args, path), f"{path}[1]"))


def _decode_null(args: list[Any], path: str) -> Null:
    _value_arguments(args, 0, path)
    return NULL


def _decode_malformed(args: list[Any], path: str) -> MalformedValue:
    tag, raw, reason, lenient = _value_arguments(args, 4, path)
    try:
        raw_bytes = bytes.fromhex(read_str(raw, f"{path}[2]"))
    except ValueError:
        raise InvalidField(f"{path}[2]", "invalid hex digits") from None
    return MalformedValue(read_int(tag, f"{path}[1]"), raw_bytes, read_str(reason, f"{path}[3]"),
                          _lenient(lenient, f"{path}[4]"))


def _lenient(value: object, path: str) -> SnmpValue | int | None:
    if value is None:
        return None
    items = read_list(value, path)
    if items and items[0] == "int":
        return read_int(_single(items[1:], path), f"{path}[1]")
    # Checked before decoding, so a payload cannot nest malformed values as deep as it likes.
    if items and items[0] == "MalformedValue":
        raise InvalidField(path, "a malformed value's lenient reading cannot be malformed itself")
    return decode_value(items, path)


_OTHER_VALUE_DECODERS: dict[str, Callable[[list[Any], str], SnmpValue]] = {
    "Opaque": _decode_opaque,
    "ObjectIdentifier": _decode_oid_value,
    "Null": _decode_null,
    "MalformedValue": _decode_malformed,
}


def encode_varbinds(varbinds: Sequence[VarBind], base: Oid = ()) -> list[list[Any]]:
    cut = len(base)
    return [[oid_text(oid[cut:]), encode_value(value)] for oid, value in varbinds]


def decode_varbinds(value: object, path: str, base: Oid = ()) -> list[VarBind]:
    varbinds: list[VarBind] = []
    for position, item in enumerate(read_list(value, path)):
        item_path = f"{path}[{position}]"
        oid, encoded = read_items(read_list(item, item_path), 2, item_path)
        varbinds.append(VarBind(base + read_oid(oid, f"{item_path}[0]"),
                                decode_value(encoded, f"{item_path}[1]")))
    return varbinds
