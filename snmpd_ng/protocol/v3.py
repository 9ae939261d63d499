"""SNMPv3 messages (RFC 3412 section 6) with USM security parameters (RFC 3414 section 2.4).

    SNMPv3Message ::= SEQUENCE {
        msgVersion INTEGER (3),
        msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags OCTET STRING (SIZE(1)),
                                 msgSecurityModel },
        msgSecurityParameters OCTET STRING,     -- BER of UsmSecurityParameters for USM
        msgData CHOICE { plaintext ScopedPDU, encryptedPDU OCTET STRING } }
    ScopedPDU ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, data PDUs }

Framing only: authentication and privacy live in `snmpd_ng.security.usm`, which signs the octets
`encode_message` returns at the offset it returns, and checks a decoded message's MAC over
`V3Message.zeroed()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from snmpd_ng.protocol.ber import (
    encode_integer_tlv,
    encode_length,
    encode_tlv,
    read_header,
    read_integer,
    read_octet_string,
)
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import decode_pdu, encode_pdu
from snmpd_ng.protocol.pdu import AnyPdu
from snmpd_ng.protocol.values import Tag

# msgFlags bits (RFC 3412 section 6.4).
FLAG_AUTH = 0x01
FLAG_PRIV = 0x02
FLAG_REPORTABLE = 0x04

# msgSecurityModel of USM (RFC 3411 section 5, SnmpSecurityModel).
USM_SECURITY_MODEL = 3

# RFC 3412 section 6: msgMaxSize is INTEGER (484..2147483647).
MIN_MAX_SIZE = 484
INT32_MAX = 2_147_483_647

_VERSION_TLV = b"\x02\x01\x03"


@dataclass(slots=True)
class UsmParameters:
    """UsmSecurityParameters (RFC 3414 section 2.4). `auth_parameters` is the MAC."""

    engine_id: bytes
    engine_boots: int
    engine_time: int
    user_name: bytes
    auth_parameters: bytes = b""
    priv_parameters: bytes = b""

    def __repr__(self) -> str:
        # The MAC and salt are not secret, but they are noise in a log line.
        return (f"UsmParameters(engine_id={self.engine_id.hex()}, "
                f"engine_boots={self.engine_boots}, engine_time={self.engine_time}, "
                f"user_name={self.user_name!r})")


@dataclass(slots=True)
class V3Message:
    """A decoded SNMPv3 message whose scopedPDU may still be encrypted.

    `data` is the ScopedPDU's encoding (a SEQUENCE) when `encrypted` is False, else the content of
    encryptedPDU. `auth_start` and `auth_stop` locate msgAuthenticationParameters' content in
    `raw`, the whole datagram, for checking the MAC.
    """

    msg_id: int
    max_size: int
    flags: int
    security_model: int
    usm: UsmParameters | None
    """None when msgSecurityModel is not USM."""
    data: bytes
    encrypted: bool
    raw: bytes
    auth_start: int = 0
    auth_stop: int = 0

    @property
    def reportable(self) -> bool:
        return bool(self.flags & FLAG_REPORTABLE)

    def zeroed(self) -> bytes:
        """Return the datagram with the MAC replaced by zeros, as it was signed (RFC 3414 6.3.2)."""
        raw, start, stop = self.raw, self.auth_start, self.auth_stop
        return raw[:start] + bytes(stop - start) + raw[stop:]


@dataclass(slots=True)
class ScopedPdu:
    """A ScopedPDU (RFC 3412 section 6.8)."""

    context_engine_id: bytes
    context_name: bytes
    pdu: AnyPdu


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: AnyPdu) -> bytes:
    """Encode a ScopedPDU. Raises EncodeError for what the PDU cannot carry."""
    body = b"".join((
        encode_tlv(Tag.OCTET_STRING, context_engine_id),
        encode_tlv(Tag.OCTET_STRING, context_name),
        encode_pdu(pdu),
    ))
    return b"\x30" + encode_length(len(body)) + body


def encode_message(msg_id: int, max_size: int, flags: int, usm: UsmParameters, data: bytes, *,
                   encrypted: bool) -> tuple[bytes, int]:
    """Encode an SNMPv3 message with USM; return it and where msgAuthenticationParameters'
    content starts in it.

    `data` is an encoded ScopedPDU, or the ciphertext when `encrypted` is True.
    """
    _check_header(msg_id, max_size, flags, usm)

    # UsmSecurityParameters up to the MAC's content, then the MAC and what follows it.
    before_mac = b"".join((
        encode_tlv(Tag.OCTET_STRING, usm.engine_id),
        encode_integer_tlv(usm.engine_boots),
        encode_integer_tlv(usm.engine_time),
        encode_tlv(Tag.OCTET_STRING, usm.user_name),
        b"\x04", encode_length(len(usm.auth_parameters)),
    ))
    after_mac = usm.auth_parameters + encode_tlv(Tag.OCTET_STRING, usm.priv_parameters)
    usm_length = len(before_mac) + len(after_mac)
    usm_header = b"\x30" + encode_length(usm_length)
    security_header = b"\x04" + encode_length(len(usm_header) + usm_length)

    global_data = encode_tlv(Tag.SEQUENCE, b"".join((
        encode_integer_tlv(msg_id),
        encode_integer_tlv(max_size),
        encode_tlv(Tag.OCTET_STRING, bytes((flags,))),
        encode_integer_tlv(USM_SECURITY_MODEL),
    )))
    head = b"".join((_VERSION_TLV, global_data, security_header, usm_header, before_mac))
    tail = after_mac + (encode_tlv(Tag.OCTET_STRING, data) if encrypted else data)
    outer = b"\x30" + encode_length(len(head) + len(tail))
    return outer + head + tail, len(outer) + len(head)


def _check_header(msg_id: int, max_size: int, flags: int, usm: UsmParameters) -> None:
    if not 0 <= msg_id <= INT32_MAX:
        raise EncodeError(f"msgID {msg_id} is outside 0..{INT32_MAX}")
    if not MIN_MAX_SIZE <= max_size <= INT32_MAX:
        raise EncodeError(f"msgMaxSize {max_size} is outside {MIN_MAX_SIZE}..{INT32_MAX}")
    if not 0 <= flags <= 0x07 or flags & (FLAG_AUTH | FLAG_PRIV) == FLAG_PRIV:
        raise EncodeError(f"msgFlags 0x{flags:02x} is invalid (privacy needs authentication)")
    for name, number in (("EngineBoots", usm.engine_boots), ("EngineTime", usm.engine_time)):
        if not 0 <= number <= INT32_MAX:
            raise EncodeError(f"msgAuthoritative{name} {number} is outside 0..{INT32_MAX}")
    if len(usm.user_name) > 32:
        raise EncodeError(f"msgUserName has {len(usm.user_name)} octets; at most 32 are allowed")


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_message(data: bytes) -> V3Message:
    """Decode an SNMPv3 datagram's framing and USM parameters, without checking the MAC.

    Raises DecodeError, and no other exception, for anything that is not a well-formed SNMPv3
    message.
    """
    if type(data) is not bytes:
        data = bytes(data)
    try:
        try:
            message = _decode_usual(data)
        except (_Unusual, IndexError):
            message = None
        return message or _decode_message(data)
    except DecodeError:
        raise
    except Exception as exc:  # the decoder's contract: only DecodeError escapes
        raise DecodeError(f"internal decoder error ({type(exc).__name__}); please report it "
                          "with the datagram", field="v3", offset=0) from exc


def _decode_usual(data: bytes) -> V3Message | None:
    """Decode the usual shape of a USM message quickly, or return None for the full decoder.

    The usual shape: every TLV has a one-octet tag and a short length, except the message and
    msgData, which may have a long one; integers have 1 to 4 content octets. Anything else, and
    any value out of range, goes to `_decode_message`, which gives the exact error. Both accept
    the same messages with the same result.
    """
    end = len(data)
    if end < 2 or data[0] != 0x30:
        return None
    pos = _skip_length(data, 1)
    if pos is None or pos + 3 > end or data[pos:pos + 3] != b"\x02\x01\x03":
        return None

    # msgGlobalData: SEQUENCE { msgID, msgMaxSize, msgFlags, msgSecurityModel }.
    pos += 3
    if data[pos] != 0x30 or data[pos + 1] >= 0x80:
        return None
    global_end = pos + 2 + data[pos + 1]
    if global_end > end:
        return None
    msg_id, pos = _small_integer(data, pos + 2, global_end)
    max_size, pos = _small_integer(data, pos, global_end)
    if pos + 3 > global_end or data[pos] != 0x04 or data[pos + 1] != 1:
        return None
    flags = data[pos + 2]
    model, pos = _small_integer(data, pos + 3, global_end)
    if (pos != global_end or model != USM_SECURITY_MODEL or msg_id < 0 or max_size < MIN_MAX_SIZE
            or flags & (FLAG_AUTH | FLAG_PRIV) == FLAG_PRIV):
        return None

    # msgSecurityParameters: OCTET STRING holding UsmSecurityParameters.
    if data[pos] != 0x04 or data[pos + 1] >= 0x80 or data[pos + 2] != 0x30:
        return None
    params_end = pos + 2 + data[pos + 1]
    if params_end > end or data[pos + 3] != params_end - pos - 4:
        return None
    engine_id, cursor = _small_string(data, pos + 4, params_end)
    boots, cursor = _small_integer(data, cursor, params_end)
    engine_time, cursor = _small_integer(data, cursor, params_end)
    user_name, cursor = _small_string(data, cursor, params_end)
    auth_start = cursor + 2
    _, cursor = _small_string(data, cursor, params_end)
    priv, cursor = _small_string(data, cursor, params_end)
    if cursor != params_end or boots < 0 or engine_time < 0 or len(user_name) > 32:
        return None

    message = V3Message(msg_id, max_size, flags, model,
                        UsmParameters(engine_id, boots, engine_time, user_name,
                                      data[auth_start:cursor - len(priv) - 2], priv),
                        b"", False, data, auth_start, cursor - len(priv) - 2)
    # msgData: a plaintext ScopedPDU or an encryptedPDU, to the end of the datagram.
    tag = data[cursor] if cursor < end else -1
    start = _skip_length(data, cursor + 1) if cursor + 1 < end else None
    if start is None or tag not in (0x30, 0x04) or (tag == 0x04) != bool(flags & FLAG_PRIV):
        return None
    if tag == 0x04:
        message.data, message.encrypted = data[start:], True
    else:
        message.data = data[cursor:]
    return message


def _skip_length(data: bytes, pos: int) -> int | None:
    """Return where the content starts after the length at `pos`, if that content ends exactly
    at the end of `data`; None for any other length."""
    first = data[pos]
    if first < 0x80:
        start, length = pos + 1, first
    elif first == 0x81 and pos + 2 <= len(data):
        start, length = pos + 2, data[pos + 1]
    elif first == 0x82 and pos + 3 <= len(data):
        start, length = pos + 3, (data[pos + 1] << 8) | data[pos + 2]
    else:
        return None
    return start if start + length == len(data) else None


class _Unusual(Exception):
    """A TLV outside the usual shape: the full decoder takes over."""


def _small_integer(data: bytes, pos: int, end: int) -> tuple[int, int]:
    size = data[pos + 1] if pos + 2 <= end else 0
    if data[pos] != 0x02 or not 0 < size <= 4 or pos + 2 + size > end:
        raise _Unusual
    stop = pos + 2 + size
    return int.from_bytes(data[pos + 2:stop], "big", signed=True), stop


def _small_string(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    size = data[pos + 1] if pos + 2 <= end else 0x80
    if data[pos] != 0x04 or size >= 0x80 or pos + 2 + size > end:
        raise _Unusual
    stop = pos + 2 + size
    return data[pos + 2:stop], stop


def decode_msg_id(data: bytes) -> int:
    """Read msgID alone: the transport's key to find the request before any USM work."""
    _, start, stop = _read_outer(data)
    _, pos = read_integer(data, start, stop, "message.version")
    tag, pos, global_stop = read_header(data, pos, stop, "msgGlobalData")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE, got tag 0x{tag:02x}", field="msgGlobalData",
                          offset=pos)
    msg_id, _ = read_integer(data, pos, global_stop, "msgID")
    return msg_id


def _read_outer(data: bytes) -> tuple[int, int, int]:
    tag, start, stop = read_header(data, 0, len(data), "message")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="message",
                          offset=0)
    if stop != len(data):
        raise DecodeError(f"{len(data) - stop} bytes follow the message", field="message",
                          offset=stop)
    return tag, start, stop


def _decode_message(data: bytes) -> V3Message:
    _, start, stop = _read_outer(data)
    version, pos = read_integer(data, start, stop, "message.version")
    if version != 3:
        raise DecodeError(f"version {version} is not SNMPv3", field="message.version",
                          offset=start)
    msg_id, max_size, flags, model, pos = _decode_global_data(data, pos, stop)

    tag, params_start, params_stop = read_header(data, pos, stop, "msgSecurityParameters")
    if tag != Tag.OCTET_STRING:
        raise DecodeError(f"expected OCTET STRING, got tag 0x{tag:02x}",
                          field="msgSecurityParameters", offset=pos)
    message = V3Message(msg_id, max_size, flags, model, None, b"", False, data)
    if model == USM_SECURITY_MODEL:
        _decode_usm(data, params_start, params_stop, message)

    _decode_msg_data(data, params_stop, stop, message)
    return message


def _decode_global_data(data: bytes, pos: int, end: int) -> tuple[int, int, int, int, int]:
    tag, start, stop = read_header(data, pos, end, "msgGlobalData")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE, got tag 0x{tag:02x}", field="msgGlobalData",
                          offset=pos)
    msg_id, cursor = read_integer(data, start, stop, "msgID")
    max_size, cursor = read_integer(data, cursor, stop, "msgMaxSize")
    flags_octets, cursor = read_octet_string(data, cursor, stop, "msgFlags")
    model, cursor = read_integer(data, cursor, stop, "msgSecurityModel")
    if cursor != stop:
        raise DecodeError(f"{stop - cursor} bytes follow msgSecurityModel",
                          field="msgGlobalData", offset=cursor)

    if not 0 <= msg_id <= INT32_MAX:
        raise DecodeError(f"msgID {msg_id} is outside 0..{INT32_MAX}", field="msgID",
                          offset=start)
    if not MIN_MAX_SIZE <= max_size <= INT32_MAX:
        raise DecodeError(f"msgMaxSize {max_size} is outside {MIN_MAX_SIZE}..{INT32_MAX}",
                          field="msgMaxSize", offset=start)
    if len(flags_octets) != 1:
        raise DecodeError(f"msgFlags has {len(flags_octets)} octets, expected 1",
                          field="msgFlags", offset=start)
    flags = flags_octets[0]
    # RFC 3412 7.2 step 5: privacy without authentication is an invalid combination.
    if flags & (FLAG_AUTH | FLAG_PRIV) == FLAG_PRIV:
        raise DecodeError("msgFlags asks for privacy without authentication", field="msgFlags",
                          offset=start)
    return msg_id, max_size, flags, model, stop


def _decode_usm(data: bytes, start: int, stop: int, message: V3Message) -> None:
    tag, pos, end = read_header(data, start, stop, "UsmSecurityParameters")
    if tag != Tag.SEQUENCE or end != stop:
        raise DecodeError("msgSecurityParameters does not hold one SEQUENCE",
                          field="UsmSecurityParameters", offset=start)
    engine_id, pos = read_octet_string(data, pos, end, "msgAuthoritativeEngineID")
    boots, pos = read_integer(data, pos, end, "msgAuthoritativeEngineBoots")
    engine_time, pos = read_integer(data, pos, end, "msgAuthoritativeEngineTime")
    user_name, pos = read_octet_string(data, pos, end, "msgUserName")
    tag, auth_start, auth_stop = read_header(data, pos, end, "msgAuthenticationParameters")
    if tag != Tag.OCTET_STRING:
        raise DecodeError(f"expected OCTET STRING, got tag 0x{tag:02x}",
                          field="msgAuthenticationParameters", offset=pos)
    priv, pos = read_octet_string(data, auth_stop, end, "msgPrivacyParameters")
    if pos != end:
        raise DecodeError(f"{end - pos} bytes follow msgPrivacyParameters",
                          field="UsmSecurityParameters", offset=pos)

    # RFC 3414 2.4: both are INTEGER (0..2147483647).
    for name, number in (("engineBoots", boots), ("engineTime", engine_time)):
        if not 0 <= number <= INT32_MAX:
            raise DecodeError(f"{name} {number} is outside 0..{INT32_MAX}",
                              field="UsmSecurityParameters", offset=start)
    if len(user_name) > 32:
        raise DecodeError(f"msgUserName has {len(user_name)} octets (at most 32)",
                          field="msgUserName", offset=start)
    message.usm = UsmParameters(engine_id, boots, engine_time, user_name,
                                data[auth_start:auth_stop], priv)
    message.auth_start, message.auth_stop = auth_start, auth_stop


def _decode_msg_data(data: bytes, pos: int, end: int, message: V3Message) -> None:
    tag, start, stop = read_header(data, pos, end, "msgData")
    if stop != end:
        raise DecodeError(f"{end - stop} bytes follow msgData", field="msgData", offset=stop)
    if tag == Tag.OCTET_STRING:
        message.data, message.encrypted = data[start:stop], True
    elif tag == Tag.SEQUENCE:
        message.data = data[pos:stop]
    else:
        raise DecodeError(f"expected a ScopedPDU or an encryptedPDU, got tag 0x{tag:02x}",
                          field="msgData", offset=pos)
    if message.encrypted != bool(message.flags & FLAG_PRIV):
        raise DecodeError("msgData is encrypted and the privacy flag of msgFlags is not set, "
                          "or the reverse",
                          field="msgData", offset=pos)


def decode_scoped_pdu(data: bytes) -> ScopedPdu:
    """Decode a plaintext or decrypted ScopedPDU.

    Octets after the SEQUENCE are ignored: DES pads the plaintext to 8 octets (RFC 3414 8.1.1.2).
    Raises DecodeError only; a wrong privacy key shows up here as garbage that does not decode.
    """
    try:
        return _decode_scoped_pdu(bytes(data))
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"internal decoder error ({type(exc).__name__}); please report it "
                          "with the datagram", field="ScopedPDU", offset=0) from exc


def _decode_scoped_pdu(data: bytes) -> ScopedPdu:
    tag, start, stop = read_header(data, 0, len(data), "ScopedPDU")
    if tag != Tag.SEQUENCE:
        raise DecodeError(f"expected SEQUENCE (0x30), got tag 0x{tag:02x}", field="ScopedPDU",
                          offset=0)
    context_engine_id, pos = read_octet_string(data, start, stop, "contextEngineID")
    context_name, pos = read_octet_string(data, pos, stop, "contextName")
    pdu, pos = decode_pdu(data, pos, stop)
    if pos != stop:
        raise DecodeError(f"{stop - pos} bytes follow the PDU", field="ScopedPDU", offset=pos)
    return ScopedPdu(context_engine_id, context_name, pdu)
