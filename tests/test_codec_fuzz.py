"""Mutation fuzzing of the decoder, seeded with captured packets and the field-case vectors.

The contract under test: for any datagram, `decode_message` returns a message or raises
DecodeError, never another exception and never through its internal-error net. What it returns
can be printed, formatted and re-encoded (or refused with EncodeError). The fast varbind path
gives what the reference path gives. The normal run is bounded (a fixed number of rounds, about
ten seconds); `make fuzz` runs the `slow` variant with more rounds and other seeds.

Inputs that once broke the contract are kept below as named cases.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from codec_packets import captured_packets, hex_bytes, reference_varbinds, same_varbinds

from snmpd_ng.protocol.ber import encode_tlv, read_header
from snmpd_ng.protocol.errors import DecodeError, EncodeError
from snmpd_ng.protocol.message import (
    CommunityMessage,
    decode_message,
    decode_version,
    encode_message,
)
from snmpd_ng.protocol.oid import format_oid
from snmpd_ng.protocol.values import MalformedValue, VarBind
from snmpd_ng.protocol.varbinds import decode_varbind_items

FIELD_CASE_SEEDS = [
    # Long-form tooBig, Counter32 without pad, Counter64 of nine octets, name with 0x80 lead,
    # Opaque float, GETBULK rows ending in endOfMibView.
    "30 82 00 1F 02 01 01 04 06 70 75 62 6C 69 63 A2 82 00 10 02 04 4A 6D 8B 35 02 01 01 02 01 00"
    " 30 82 00 00",
    "30 2D 02 01 00 04 06 70 75 62 6C 69 63 A2 20 02 02 12 34 02 01 00 02 01 00 30 14 30 12 06 0A"
    " 2B 06 01 02 01 02 02 01 0A 03 41 04 B3 99 61 ED",
    "30 33 02 01 01 04 06 70 75 62 6C 69 63 A2 26 02 02 12 34 02 01 00 02 01 00 30 1A 30 18 06 0B"
    " 2B 06 01 02 01 1F 01 01 01 06 01 46 09 00 FF FF FF FF FF 1E E5 3A",
    "30 82 00 38 02 01 00 04 06 70 75 62 6C 69 63 A2 82 00 29 02 04 75 F6 71 99 02 01 00 02 01 00"
    " 30 82 00 19 30 82 00 15 06 82 00 0E 2B 06 01 04 01 80 81 FE 48 01 08 05 01 00 02 01 0C",
    "30 31 02 01 01 04 06 70 75 62 6C 69 63 A2 24 02 02 12 34 02 01 00 02 01 00 30 18 30 16 06 0B"
    " 2B 06 01 04 01 8F 65 0A 01 06 01 44 07 9F 78 04 41 5B 33 33",
    "30 5C 02 01 01 04 06 70 75 62 6C 69 63 A2 4F 02 02 12 34 02 01 00 02 01 00 30 43 30 0F 06 0A"
    " 2B 06 01 02 01 01 09 01 03 0A 04 01 78 30 0F 06 0A 2B 06 01 02 01 01 09 01 04 0A 43 01 00 30"
    " 0F 06 0A 2B 06 01 02 01 01 09 01 04 01 43 01 00 30 0E 06 0A 2B 06 01 02 01 01 09 01 04 0A 82"
    " 00",
]

# Inputs the fuzzer found while the codec was written, named for what they broke. Each decoded
# with an exception other than DecodeError, or returned a value that could not be printed.
FUZZ_CRASH_CASES = {
    # An INTEGER value of 2,000 octets: the "outside Integer32's range" reason formatted a number
    # of over 4,300 digits, which Python refuses to convert to text.
    "integer-value-of-2000-octets": "30 82 07 f8 02 01 01 04 06 70 75 62 6c 69 63 a2 82 07 e9"
    " 02 01 01 02 01 00 02 01 00 30 82 07 dc 30 82 07 d8 06 02 2b 06 02 82 07 d0 01"
    + " 00" * 1999,
    # The same for a version number: the error message itself raised ValueError.
    "version-of-2000-octets": "30 82 07 d4 02 82 07 d0 01" + " 00" * 1999,
    # A Counter64 of 2,000 octets with a leading 0x01: "above the limit" formatted the number.
    # A name with a 0x80 lead octet and a value of unknown tag 0x53: the value came back as a
    # MalformedValue whose lenient value was another MalformedValue.
    "name-and-value-both-malformed": "30 55 02 01 01 04 06 70 75 62 6c 69 63 a7 48 02 04 3f f3"
    " 9e 4b 02 01 00 02 01 00 30 3a 30 0e 06 08 2b 80 01 02 01 01 03 00 53 02 04 d2 30 17 06 0a"
    " 2b 06 01 06 03 01 01 04 01 00 06 09 2b 06 01 06 03 01 01 05 03 30 0f 06 0a 2b 06 01 02 01"
    " 02 02 01 01 02 02 01 02",
    "counter64-of-2000-octets": "30 82 07 f8 02 01 01 04 06 70 75 62 6c 69 63 a2 82 07 e9"
    " 02 01 01 02 01 00 02 01 00 30 82 07 dc 30 82 07 d8 06 02 2b 06 46 82 07 d0 01"
    + " 00" * 1999,
}


def check_decoded(message: CommunityMessage) -> None:
    """Assert what every decoded message must allow: printing, formatting and re-encoding."""
    repr(message)
    for varbind in message.pdu.varbinds:
        assert type(varbind) is VarBind
        assert all(type(arc) is int and arc >= 0 for arc in varbind.oid)
        format_oid(varbind.oid)
        if isinstance(varbind.value, MalformedValue):
            assert not isinstance(varbind.value.value, MalformedValue)
            repr(varbind.value)
    # A decoded name may be one we refuse to send, such as an arc above 2^32-1.
    with contextlib.suppress(EncodeError):
        encode_message(message)


def check_paths_agree(data: bytes) -> None:
    """Assert that the fast varbind path and the reference path read any byte range alike."""
    for start in range(len(data)):
        if data[start] != 0x30:
            continue
        try:
            _, content_start, content_stop = read_header(data, start, len(data), "test")
        except DecodeError:
            continue
        try:
            fast: object = decode_varbind_items(data, content_start, content_stop)
        except DecodeError as exc:
            fast = (exc.reason, exc.offset)
        try:
            reference: object = reference_varbinds(data, content_start, content_stop)
        except DecodeError as exc:
            reference = (exc.reason, exc.offset)
        if isinstance(fast, list) and isinstance(reference, list):
            assert same_varbinds(fast, reference)
        else:
            assert fast == reference


def check_datagram(data: bytes) -> None:
    """Decode one datagram and check the whole contract on it."""
    try:
        message = decode_message(data)
    except DecodeError as exc:
        assert exc.__cause__ is None, f"internal decoder error on {data.hex()}"
        assert 0 <= exc.offset <= len(data)
        str(exc)
    else:
        check_decoded(message)
    with contextlib.suppress(DecodeError):
        decode_version(data)


# --- Mutations


def _flip_bit(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_octet(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    data[rng.randrange(len(data))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF,
                                                rng.randrange(256)))


def _insert(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    position = rng.randrange(len(data) + 1)
    data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))


def _delete(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    start = rng.randrange(len(data))
    del data[start:start + rng.randint(1, 8)]


def _duplicate(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.randint(1, 32)]
    position = rng.randrange(len(data) + 1)
    data[position:position] = chunk


def _splice(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    other = rng.choice(seeds)
    cut = rng.randrange(len(data))
    data[cut:] = other[rng.randrange(len(other)):]


def _long_run(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    # Long runs make huge integers, sub-identifiers and lengths. Above 1,800 octets a number
    # has more than the 4,300 digits str() accepts.
    position = rng.randrange(len(data) + 1)
    size = rng.randint(8, 600) if rng.random() < 0.9 else rng.randint(1_800, 6_000)
    data[position:position] = bytes((rng.choice((0x00, 0x80, 0x81, 0xFF)),)) * size


RAW_MUTATIONS: list[Callable[[random.Random, bytearray, list[bytes]], None]] = [
    _flip_bit, _set_octet, _set_octet, _insert, _delete, _duplicate, _splice, _long_run]


# Structure-aware mutations: raw mutations nearly always break the outer length, so the decoder
# would stop at the first header. These change one TLV of the tree and write all lengths anew,
# which reaches the PDU fields, the varbinds and the value decoders.

# [identifier octets, content bytes or list of child nodes]
Node = list[Any]

INTERESTING_TAGS = [b"\x02", b"\x04", b"\x05", b"\x06", b"\x30", b"\x40", b"\x41", b"\x42",
                    b"\x43", b"\x44", b"\x46", b"\x80", b"\x81", b"\x82", b"\xa2", b"\x9f\x78"]
INTERESTING_CONTENTS = [b"", b"\x00", b"\x80", b"\xff", b"\x00\xff\xff\xff\xff",
                        b"\xff" * 9, b"\x01" + b"\x00" * 9, b"\x2b\x80\x01", b"\x2b\x06\x81",
                        b"\x9f\x78\x04\x41\x5b\x33\x33", b"\x88\x37\x01"]


def parse_tree(data: bytes, start: int, stop: int) -> list[Node]:
    """Split data[start:stop] into TLV nodes, descending into constructed ones where possible."""
    nodes: list[Node] = []
    cursor = start
    while cursor < stop:
        tag, content_start, content_stop = read_header(data, cursor, stop, "fuzz")
        identifier = data[cursor:cursor + (1 if tag < 0x100 else (tag.bit_length() + 7) // 8)]
        content: bytes | list[Node] = data[content_start:content_stop]
        if identifier[0] & 0x20:
            with contextlib.suppress(DecodeError):
                content = parse_tree(data, content_start, content_stop)
        nodes.append([identifier, content])
        cursor = content_stop
    return nodes


def write_tree(rng: random.Random, nodes: list[Node]) -> bytes:
    """Serialize nodes with correct lengths, now and then in a non-minimal long form."""
    out = bytearray()
    for identifier, content in nodes:
        body = write_tree(rng, content) if isinstance(content, list) else content
        length = len(body)
        if length < 0x80 and rng.random() > 0.05:
            header = bytes((length,))
        else:
            octets = length.to_bytes(rng.choice((2, 4)), "big")
            header = bytes((0x80 | len(octets),)) + octets
        out += identifier + header + body
    return bytes(out)


def all_nodes(nodes: list[Node]) -> list[tuple[list[Node], int]]:
    """Return every node as (its parent list, its index), depth first."""
    found: list[tuple[list[Node], int]] = []
    for index, node in enumerate(nodes):
        found.append((nodes, index))
        if isinstance(node[1], list):
            found.extend(all_nodes(node[1]))
    return found


def mutate_tree(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """Change one TLV of a seed's tree and serialize it again."""
    try:
        tree = parse_tree(data, 0, len(data))
    except DecodeError:
        return data
    if not tree:
        return data
    candidates = all_nodes(tree)
    if len(candidates) > 4 and rng.random() < 0.8:
        # Mostly below the message header: the first four are message, version, community, PDU.
        candidates = candidates[4:]
    parent, index = rng.choice(candidates)
    action = rng.randrange(6)
    if action == 0:
        parent[index][0] = rng.choice(INTERESTING_TAGS)
    elif action == 1:
        parent[index][1] = rng.choice(INTERESTING_CONTENTS)
    elif action == 2:
        parent[index][1] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
    elif action == 3:
        parent.insert(index, [bytes(parent[index][0]), parent[index][1]])
    elif action == 4:
        del parent[index]
    else:
        donor = rng.choice(seeds)
        donor_parent, donor_index = rng.choice(all_nodes(parse_tree(donor, 0, len(donor))))
        # A copy, so that a node moved into its own subtree makes no cycle.
        parent[index] = copy.deepcopy(donor_parent[donor_index])
    return write_tree(rng, tree)


def fuzz_seeds() -> list[bytes]:
    return [*captured_packets().values(), *(hex_bytes(text) for text in FIELD_CASE_SEEDS)]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """Return one mutant: a few structure-aware changes, then now and then raw ones."""
    data = rng.choice(seeds)
    for _ in range(rng.choice((1, 1, 2, 3))):
        data = mutate_tree(rng, data, seeds)
    if rng.random() < 0.3:
        raw = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 5))):
            if raw:
                rng.choice(RAW_MUTATIONS)(rng, raw, seeds)
        data = bytes(raw)
    return data


def run_fuzz(rounds: int, seed: int) -> None:
    """Mutate seeds `rounds` times with a fixed random seed and check every result."""
    rng = random.Random(seed)
    seeds = fuzz_seeds()
    for _ in range(rounds):
        check_datagram(mutate(rng, seeds))


# --- Tests


@pytest.mark.parametrize("name", sorted(FUZZ_CRASH_CASES))
def test_fuzz_crash_case_keeps_contract(name: str) -> None:
    data = hex_bytes(FUZZ_CRASH_CASES[name])

    check_datagram(data)
    check_paths_agree(data)


def test_fuzz_crash_integer_value_is_flagged_without_number() -> None:
    message = decode_message(hex_bytes(FUZZ_CRASH_CASES["integer-value-of-2000-octets"]))
    value = message.pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value is None


def test_fuzz_crash_name_and_value_reasons_are_joined() -> None:
    message = decode_message(hex_bytes(FUZZ_CRASH_CASES["name-and-value-both-malformed"]))
    value = message.pdu.varbinds[0].value

    assert isinstance(value, MalformedValue)
    assert value.value is None
    assert "name:" in value.reason
    assert "unknown type tag 0x53" in value.reason


def huge_subidentifier_message(octets: int) -> bytes:
    """Build a GET response whose only name ends in one sub-identifier of `octets` octets."""
    name = b"\x2b" + b"\x81" * (octets - 1) + b"\x01"
    varbind = encode_tlv(0x30, encode_tlv(0x06, name) + b"\x05\x00")
    pdu = encode_tlv(0xA2, hex_bytes("02 01 01 02 01 00 02 01 00") + encode_tlv(0x30, varbind))
    return encode_tlv(0x30, hex_bytes("02 01 01 04 06") + b"public" + pdu)


def test_huge_subidentifier_decodes_in_linear_time_and_prints() -> None:
    # A 60,000-octet sub-identifier took 0.3 s to decode, and repr() of the result raised
    # ValueError because the number had more than 4,300 digits.
    data = huge_subidentifier_message(60_000)
    started = time.process_time()

    message = decode_message(data)

    assert time.process_time() - started < 0.2
    assert message.pdu.varbinds[0].oid == (1, 3, 2**64)
    assert isinstance(message.pdu.varbinds[0].value, MalformedValue)
    check_decoded(message)


def test_fuzz_crash_version_is_decode_error() -> None:
    with pytest.raises(DecodeError, match="too long"):
        decode_message(hex_bytes(FUZZ_CRASH_CASES["version-of-2000-octets"]))


@pytest.mark.parametrize("seed", range(len(FIELD_CASE_SEEDS)))
def test_fast_and_reference_paths_agree_on_field_cases(seed: int) -> None:
    check_paths_agree(hex_bytes(FIELD_CASE_SEEDS[seed]))


def test_fuzz_mutations_keep_contract() -> None:
    started = time.monotonic()

    run_fuzz(rounds=100_000, seed=20261204)

    # The normal run must stay bounded; more rounds belong in the slow variant.
    assert time.monotonic() - started < 60


def test_fuzz_mutations_keep_paths_agreeing() -> None:
    rng = random.Random(7)
    seeds = fuzz_seeds()
    for _ in range(10_000):
        check_paths_agree(mutate(rng, seeds))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_fuzz_mutations_long_run(seed: int) -> None:
    run_fuzz(rounds=1_000_000, seed=seed)
