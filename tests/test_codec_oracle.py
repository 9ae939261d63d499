"""Differential tests: our BER codec against pyasn1's, on generated and on real messages.

pyasn1 checks neither SNMP's value ranges nor our tolerance list, so the comparison is on BER
itself: the bytes each encoder writes, and what each decoder reads from the same bytes.
"""

from __future__ import annotations

import pytest
from codec_oracle_asn1 import asn1_decode, asn1_encode
from codec_packets import community_packets, rewrite_length, same_pdu, tlv_length_positions
from codec_strategies import messages
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from snmpd_ng.protocol.errors import DecodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    SnmpVersion,
    decode_message,
    encode_message,
)
from snmpd_ng.protocol.pdu import Pdu, PduType, TrapV1Pdu
from snmpd_ng.protocol.values import Integer32, MalformedValue

PACKETS = community_packets()
ORACLE_SETTINGS = settings(max_examples=150, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow])


def is_pyasn1_padded(number: int) -> bool:
    """Tell whether pyasn1 0.6 writes `number` with a redundant 0xFF octet.

    It encodes -128 as FF 80 and -2^31 as FF 80 00 00 00, which X.690 section 8.3.2 forbids.
    Our encoder writes 80 and 80 00 00 00.
    """
    return number < 0 and (-number) & (-number - 1) == 0 and (-number).bit_length() % 8 == 0


def has_pyasn1_padded_number(message: CommunityMessage) -> bool:
    pdu = message.pdu
    numbers: list[int] = [value for _, value in pdu.varbinds if type(value) is Integer32]
    if isinstance(pdu, TrapV1Pdu):
        numbers.append(pdu.specific_trap)
    else:
        numbers.append(pdu.request_id)
    return any(is_pyasn1_padded(number) for number in numbers)


def same_message(left: CommunityMessage, right: CommunityMessage) -> bool:
    return (left.version is right.version and left.community == right.community
            and same_pdu(left.pdu, right.pdu))


@given(messages())
@ORACLE_SETTINGS
def test_pyasn1_decodes_our_encoding(message: CommunityMessage) -> None:
    assert same_message(asn1_decode(encode_message(message)), message)


@given(messages())
@ORACLE_SETTINGS
def test_our_encoding_equals_pyasn1_encoding(message: CommunityMessage) -> None:
    assume(not has_pyasn1_padded_number(message))

    assert encode_message(message) == asn1_encode(message)


@given(messages())
@ORACLE_SETTINGS
def test_we_decode_pyasn1_encoding(message: CommunityMessage) -> None:
    assume(not has_pyasn1_padded_number(message))

    assert same_message(decode_message(asn1_encode(message)), message)


@pytest.mark.parametrize("number", [-128, -32768, -(2**31)])
def test_pyasn1_pads_negative_powers_of_two(number: int) -> None:
    message = CommunityMessage(SnmpVersion.V2C, b"public", Pdu(PduType.GET, number, []))

    ours = encode_message(message)
    theirs = asn1_encode(message)

    assert len(theirs) == len(ours) + 1
    assert same_message(decode_message(theirs), message)


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_both_decoders_agree_on_captured_packet(name: str) -> None:
    assert same_message(decode_message(PACKETS[name]), asn1_decode(PACKETS[name]))


@pytest.mark.parametrize("name", sorted(PACKETS))
def test_pyasn1_re_encodes_captured_packet_like_us(name: str) -> None:
    message = decode_message(PACKETS[name])

    assert asn1_encode(message) == encode_message(message) == PACKETS[name]


SHORT_PACKETS = {name: data for name, data in PACKETS.items() if len(data) < 0x70}


@pytest.mark.parametrize("name", sorted(SHORT_PACKETS))
def test_both_decoders_agree_on_long_form_lengths(name: str) -> None:
    data = SHORT_PACKETS[name]

    for position in tlv_length_positions(data):
        changed = rewrite_length(data, position, b"\x82\x00" + data[position:position + 1], 2)

        assert same_message(decode_message(changed), asn1_decode(changed)), position


def has_flagged_value(message: CommunityMessage) -> bool:
    return any(isinstance(varbind.value, MalformedValue) for varbind in message.pdu.varbinds)


# Where we reject on purpose what pyasn1 accepts: X.690 and RFC 3417 rules pyasn1 does not
# enforce, and messages that are not SNMPv1/v2c.
DOCUMENTED_REJECTIONS = ("indefinite", "not a community-based", "no content octets",
                         "too long for this field", "reserved", "TimeTicks of")


def decode_both(data: bytes) -> tuple[CommunityMessage | DecodeError, CommunityMessage | None]:
    """Decode with both codecs: our message or DecodeError, pyasn1's message or None."""
    try:
        ours: CommunityMessage | DecodeError = decode_message(data)
    except DecodeError as exc:
        ours = exc
    try:
        theirs: CommunityMessage | None = asn1_decode(data)
    except Exception:  # pyasn1 raises its own errors, SnmpVersion a ValueError
        theirs = None
    return ours, theirs


def same_but_trap_time_stamp_sign(ours: CommunityMessage, theirs: CommunityMessage) -> bool:
    """Tell whether the messages differ only in a trap time-stamp that pyasn1 read as negative;
    we read TimeTicks as unsigned, like the varbind values."""
    if not (isinstance(ours.pdu, TrapV1Pdu) and isinstance(theirs.pdu, TrapV1Pdu)):
        return False
    if theirs.pdu.time_stamp >= 0:
        return False
    theirs.pdu.time_stamp = ours.pdu.time_stamp
    return same_message(ours, theirs)


@given(st.sampled_from(sorted(PACKETS)), st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_decoders_agree_on_one_changed_octet(name: str, draw: st.DataObject) -> None:
    data = bytearray(PACKETS[name])
    position = draw.draw(st.integers(0, len(data) - 1), label="position")
    data[position] = draw.draw(st.integers(0, 255), label="octet")

    ours, theirs = decode_both(bytes(data))

    if isinstance(ours, DecodeError):
        if theirs is not None:
            assert any(words in ours.reason for words in DOCUMENTED_REJECTIONS), ours
    elif theirs is None:
        assert has_flagged_value(ours), "we accepted what pyasn1 rejects without flagging it"
    elif not has_flagged_value(ours):
        assert same_message(ours, theirs) or same_but_trap_time_stamp_sign(ours, theirs)
