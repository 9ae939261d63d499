"""The SNMP value types: reprs, str, equality, singletons and pickling."""

from __future__ import annotations

import copy
import pickle

import pytest

from snmpd_ng.protocol.values import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    MalformedValue,
    Null,
    ObjectIdentifier,
    OctetString,
    Opaque,
    Tag,
    TimeTicks,
    Unsigned32,
    VarBind,
    is_exception,
)

INTEGER_TYPES = [Integer32, Counter32, Gauge32, TimeTicks, Counter64]


@pytest.mark.parametrize("kind", INTEGER_TYPES)
def test_integer_repr_names_type(kind: type[int]) -> None:
    assert repr(kind(42)) == f"{kind.__name__}(42)"


@pytest.mark.parametrize("kind", INTEGER_TYPES)
def test_integer_str_is_plain_number(kind: type[int]) -> None:
    value = kind(42)

    assert str(value) == "42"
    assert f"{value}" == "42"
    assert f"{value:>4}" == "  42"


def test_negative_integer32_repr() -> None:
    assert repr(Integer32(-5)) == "Integer32(-5)"


def test_integer_types_do_arithmetic_as_int() -> None:
    assert Counter32(10) - Counter32(4) == 6


def test_unsigned32_is_gauge32() -> None:
    assert Unsigned32 is Gauge32


def test_octet_string_repr_names_type() -> None:
    assert repr(OctetString(b"host")) == "OctetString(b'host')"


def test_octet_string_equals_bytes() -> None:
    assert OctetString(b"host") == b"host"


def test_ip_address_repr_and_str() -> None:
    address = IpAddress(b"\xc0\x00\x02\x01")

    assert repr(address) == "IpAddress(b'\\xc0\\x00\\x02\\x01')"
    assert str(address) == "192.0.2.1"


def test_object_identifier_repr_and_str() -> None:
    oid = ObjectIdentifier((1, 3, 6, 1))

    assert repr(oid) == "ObjectIdentifier((1, 3, 6, 1))"
    assert str(oid) == "1.3.6.1"
    assert oid == (1, 3, 6, 1)


def test_opaque_repr_shows_inner_number() -> None:
    value = Opaque(b"\x9f\x78\x04\x41\x5b\x33\x33", 13.5, 0x78)

    assert repr(value) == "Opaque(b'\\x9fx\\x04A[33', inner=13.5, inner_tag=0x78)"


def test_opaque_repr_without_inner() -> None:
    assert repr(Opaque(b"\x01")) == "Opaque(b'\\x01')"


def test_opaque_pickles_with_inner() -> None:
    value = Opaque(b"\x9f\x78\x04\x41\x5b\x33\x33", 13.5, 0x78)

    restored = pickle.loads(pickle.dumps(value))

    assert restored == value
    assert restored.inner == 13.5
    assert restored.inner_tag == 0x78


def test_null_is_singleton() -> None:
    assert Null() is NULL
    assert repr(NULL) == "Null()"


@pytest.mark.parametrize("value", [NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW, NULL])
def test_singletons_survive_pickle_and_copy(value: object) -> None:
    assert pickle.loads(pickle.dumps(value)) is value
    assert copy.deepcopy(value) is value


@pytest.mark.parametrize(("value", "tag", "name"), [
    (NO_SUCH_OBJECT, Tag.NO_SUCH_OBJECT, "noSuchObject"),
    (NO_SUCH_INSTANCE, Tag.NO_SUCH_INSTANCE, "noSuchInstance"),
    (END_OF_MIB_VIEW, Tag.END_OF_MIB_VIEW, "endOfMibView"),
])
def test_exception_values_carry_tag_and_name(value: object, tag: int, name: str) -> None:
    assert is_exception(value)
    assert value.tag == tag  # type: ignore[attr-defined]
    assert repr(value) == name


@pytest.mark.parametrize("value", [NULL, Integer32(0), OctetString(b""), None])
def test_is_exception_false_for_data(value: object) -> None:
    assert not is_exception(value)


def test_malformed_value_equality_uses_all_fields() -> None:
    first = MalformedValue(0x41, b"\x41\x01\xff", "negative", Counter32(255))

    assert first == MalformedValue(0x41, b"\x41\x01\xff", "negative", Counter32(255))
    assert first != MalformedValue(0x41, b"\x41\x01\xff", "other", Counter32(255))
    assert hash(first) == hash(MalformedValue(0x41, b"\x41\x01\xff", "negative", Counter32(255)))


def test_malformed_value_repr_shows_raw_hex() -> None:
    value = MalformedValue(0x9F78, b"\x9f\x78\x00", "unknown type tag 0x9f78")

    assert repr(value) == (
        "MalformedValue(tag=0x9f78, raw=9f7800, reason='unknown type tag 0x9f78', value=None)")


def test_varbind_unpacks_and_shows_types() -> None:
    varbind = VarBind((1, 3, 6), OctetString(b"x"))
    oid, value = varbind

    assert oid == (1, 3, 6)
    assert value == b"x"
    assert repr(varbind) == "VarBind(oid=(1, 3, 6), value=OctetString(b'x'))"


def test_varbind_built_by_tuple_new_equals_constructed() -> None:
    built = tuple.__new__(VarBind, ((1, 3), NULL))

    assert built == VarBind((1, 3), NULL)
    assert built.value is NULL
