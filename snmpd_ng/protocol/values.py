"""SNMP value types (RFC 2578 section 7, RFC 3416 section 3) as Python objects.

Integer types subclass `int` and string types subclass `bytes`, so arithmetic and comparisons work
directly; the class carries the BER tag. The three per-varbind exceptions of SNMPv2 are singletons.
A value that a peer encoded wrongly becomes a `MalformedValue`, which keeps the raw bytes and, where
one reading is clear, a lenient value, so one bad varbind never costs the others.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar, NamedTuple

from snmpd_ng.protocol.oid import Oid, format_oid


class Tag(IntEnum):
    """BER identifier octets of the SNMP types (application class 0x40, context class 0x80)."""

    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OBJECT_IDENTIFIER = 0x06
    SEQUENCE = 0x30
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


class _IntegerValue(int):
    """Base of the integer types: an `int` whose repr names the SNMP type."""

    __slots__ = ()
    tag: ClassVar[int]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int.__repr__(self)})"

    # int has no __str__ of its own, so str() and f-strings would fall back to the repr above.
    # They must keep printing the plain number.
    __str__ = int.__repr__


class Integer32(_IntegerValue):
    """INTEGER / Integer32, -2^31..2^31-1."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.INTEGER


class Counter32(_IntegerValue):
    """Counter32, 0..2^32-1, wraps to 0."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.COUNTER32


class Gauge32(_IntegerValue):
    """Gauge32 (also Unsigned32, which has the same tag), 0..2^32-1."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.GAUGE32


Unsigned32 = Gauge32


class TimeTicks(_IntegerValue):
    """TimeTicks in hundredths of a second, 0..2^32-1."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.TIMETICKS


class Counter64(_IntegerValue):
    """Counter64, 0..2^64-1 (RFC 2578 section 7.1.10)."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.COUNTER64


class OctetString(bytes):
    """OCTET STRING: text or binary, as the agent sent it."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.OCTET_STRING

    def __repr__(self) -> str:
        return f"OctetString({bytes.__repr__(self)})"


class IpAddress(bytes):
    """IpAddress: four octets in network order."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.IP_ADDRESS

    def __repr__(self) -> str:
        return f"IpAddress({bytes.__repr__(self)})"

    def __str__(self) -> str:
        return ".".join(str(octet) for octet in self)


class Opaque(bytes):
    """Opaque: an OCTET STRING that carries another BER value (RFC 2578 section 7.1.9).

    `inner` is the number inside when the payload is one of net-snmp's Opaque-wrapped types
    (float, double, 64-bit integers), else None. `inner_tag` is that type's tag octet after 0x9F.
    """

    tag: ClassVar[int] = Tag.OPAQUE
    inner: float | int | None
    inner_tag: int | None

    def __new__(
        cls, payload: bytes, inner: float | int | None = None, inner_tag: int | None = None
    ) -> Opaque:
        obj = super().__new__(cls, payload)
        obj.inner = inner
        obj.inner_tag = inner_tag
        return obj

    def __repr__(self) -> str:
        if self.inner_tag is None:
            return f"Opaque({bytes.__repr__(self)})"
        payload = bytes.__repr__(self)
        return f"Opaque({payload}, inner={self.inner!r}, inner_tag=0x{self.inner_tag:02x})"

    def __reduce__(self) -> tuple[type[Opaque], tuple[bytes, float | int | None, int | None]]:
        return (Opaque, (bytes(self), self.inner, self.inner_tag))


class ObjectIdentifier(tuple[int, ...]):
    """OBJECT IDENTIFIER used as a value (names of varbinds are plain `Oid` tuples)."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.OBJECT_IDENTIFIER

    def __repr__(self) -> str:
        return f"ObjectIdentifier({tuple.__repr__(self)})"

    def __str__(self) -> str:
        return format_oid(self)


class Null:
    """NULL, the value of every varbind in a GET, GETNEXT or GETBULK request."""

    __slots__ = ()
    tag: ClassVar[int] = Tag.NULL
    _instance: ClassVar[Null | None] = None

    def __new__(cls) -> Null:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Null()"


class ExceptionValue:
    """One of SNMPv2's per-varbind exceptions (RFC 3416 section 3): not data, but why none came."""

    __slots__ = ("name", "tag")

    def __init__(self, name: str, tag: int) -> None:
        self.name = name
        self.tag = tag

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return {Tag.NO_SUCH_OBJECT: "NO_SUCH_OBJECT", Tag.NO_SUCH_INSTANCE: "NO_SUCH_INSTANCE",
                Tag.END_OF_MIB_VIEW: "END_OF_MIB_VIEW"}[Tag(self.tag)]


NO_SUCH_OBJECT = ExceptionValue("noSuchObject", Tag.NO_SUCH_OBJECT)
NO_SUCH_INSTANCE = ExceptionValue("noSuchInstance", Tag.NO_SUCH_INSTANCE)
END_OF_MIB_VIEW = ExceptionValue("endOfMibView", Tag.END_OF_MIB_VIEW)
NULL = Null()


class MalformedValue:
    """A varbind value that breaks the encoding rules of its type.

    - `tag`: the value's identifier as an integer (0x41, or 0x9F78 for a two-octet identifier).
    - `raw`: the value's whole TLV as received, or the whole VarBind TLV when the name is at fault.
    - `reason`: the rule it breaks.
    - `value`: the lenient reading when one is clear, else None. An example is the unsigned number
      behind a Counter32 sent without its 0x00 pad. It is never itself a MalformedValue.
    """

    __slots__ = ("raw", "reason", "tag", "value")

    def __init__(self, tag: int, raw: bytes, reason: str, value: SnmpValue | int | None = None):
        self.tag = tag
        self.raw = raw
        self.reason = reason
        self.value = value

    def __repr__(self) -> str:
        return (f"MalformedValue(tag=0x{self.tag:02x}, raw={self.raw.hex()}, "
                f"reason={self.reason!r}, value={self.value!r})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, MalformedValue) and other.tag == self.tag
                and other.raw == self.raw and other.reason == self.reason
                and other.value == self.value)

    def __hash__(self) -> int:
        return hash((self.tag, self.raw, self.reason))


SnmpValue = (
    Integer32 | Counter32 | Gauge32 | TimeTicks | Counter64 | OctetString | IpAddress | Opaque
    | ObjectIdentifier | Null | ExceptionValue | MalformedValue
)


class VarBind(NamedTuple):
    """One variable binding: an OID and its value."""

    oid: Oid
    value: SnmpValue


def is_exception(value: object) -> bool:
    """Tell whether `value` is noSuchObject, noSuchInstance or endOfMibView."""
    return isinstance(value, ExceptionValue)
