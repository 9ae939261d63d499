"""The cost of each step of one SNMPv3 authPriv GET, on its own, in CPU time and instructions.

A whole GET through the Manager also runs the transport, the event loop and the kernel, so it
cannot show which USM step costs what. cProfile charges its own cost to every call, which
inflates functions that make many small calls. Here each sans-IO step of a GET of 2 varbinds
(encoding, encryption, HMAC, decoding, the key cache) runs alone, on one request and one
response built here as snmpd_ng and a net-snmp agent would build them: engine ID
80 00 1F 88 04 + text, engineBoots 1, a sysDescr.0 of 60 octets and a sysUpTime.0.

- CPU time: each step runs REPETITIONS times per round, timed with `time.process_time`; the
  figure is the lowest of ROUNDS rounds. A step timed in a tight loop runs with warm caches, so
  the steps add up to less than the CPU of a whole GET.
- Instructions (`--instructions`): valgrind's cachegrind counts a run of the step COUNT times
  and a run that builds the same exchange but calls no step; the difference divided by COUNT
  is the figure. Valgrind 3.19 shows
  the program a CPU without SHA-NI and AVX-512, so OpenSSL's hashes run generic code there and
  the HMAC and cipher counts are higher than what this CPU executes natively.

SNMPv2c's encoding and decoding of the same GET are measured the same way, for comparison.

    .venv/bin/python bench/v3_steps.py                    # CPU time, both SNMPv3 profiles
    .venv/bin/python bench/v3_steps.py --instructions     # and cachegrind counts, about 5 min
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from snmpd_ng import Secret
from snmpd_ng.manager import AuthProtocol, PrivProtocol, UsmUser
from snmpd_ng.protocol.message import CommunityMessage, SnmpVersion, decode_message
from snmpd_ng.protocol.message import encode_message as encode_community_message
from snmpd_ng.protocol.oid import Oid
from snmpd_ng.protocol.pdu import Pdu, PduType
from snmpd_ng.protocol.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    UsmParameters,
    V3Message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)
from snmpd_ng.protocol.values import NULL, OctetString, TimeTicks, VarBind
from snmpd_ng.security import auth, priv
from snmpd_ng.security.credentials import SecurityLevel
from snmpd_ng.security.engine import EngineState, EngineStatus
from snmpd_ng.security.keycache import KeyCache
from snmpd_ng.security.usm import (
    MAX_MESSAGE_SIZE,
    LocalizedKeys,
    incoming_message,
    outgoing_request,
)
from snmpd_ng.transport.processing import decode_inbound

try:
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:
    from cryptography.hazmat.primitives.ciphers.modes import CFB

sys.path.append(str(Path(__file__).resolve().parent / "peers"))
from security import PROFILES, PROFILES_BY_KEY, SecurityProfile

ROUNDS = 5
REPETITIONS = 5000
COUNT = 2000
"""Calls of a step in the counted run under valgrind."""
VALGRIND_TIMEOUT = 300.0

ENGINE_ID = bytes.fromhex("80001f8804") + b"benchagent"
SYS_DESCR = b"Linux bench 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian x86_64"[:60]
GET_OIDS: tuple[Oid, ...] = ((1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 3, 0))
REQUEST_ID = 4242
# Fixed passphrases of a user that exists only in this process: the steps need keys, not an
# agent, and the same keys in every run.
AUTH_PASSPHRASE = "bench-steps-auth"
PRIV_PASSPHRASE = "bench-steps-priv"

_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")

Step = tuple[str, Callable[[], object]]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One GET and its response, and the state a synchronised manager has for the agent."""

    user: UsmUser
    cache: KeyCache
    keys: LocalizedKeys
    engine: EngineState
    scoped: bytes
    """The request's plaintext scopedPDU."""
    unsigned: bytes
    """The request as it is signed: encrypted, with the MAC still zeros."""
    ciphertext: bytes
    usm: UsmParameters
    """The request's USM fields."""
    response: bytes
    v2c_response: bytes


def get_pdu() -> Pdu:
    return Pdu(PduType.GET, REQUEST_ID, [VarBind(oid, NULL) for oid in GET_OIDS])


def response_pdu() -> Pdu:
    return Pdu(PduType.RESPONSE, REQUEST_ID, [VarBind(GET_OIDS[0], OctetString(SYS_DESCR)),
                                              VarBind(GET_OIDS[1], TimeTicks(4_242_424))])


def protect(keys: LocalizedKeys, usm: UsmParameters, scoped: bytes, flags: int,
            salt: int) -> tuple[bytes, bytes, bytes]:
    """Encrypt `scoped` and sign the message; return it signed, unsigned and the ciphertext."""
    assert keys.auth_protocol is not None and keys.priv_protocol is not None
    ciphertext, usm.priv_parameters = priv.encrypt(
        keys.priv_protocol, keys.priv_key, scoped, engine_boots=usm.engine_boots,
        engine_time=usm.engine_time, salt=salt)
    usm.auth_parameters = auth.zeroed_mac(keys.auth_protocol)
    unsigned, offset = encode_message(REQUEST_ID, MAX_MESSAGE_SIZE, flags, usm, ciphertext,
                                      encrypted=True)
    mac = auth.sign(keys.auth_protocol, keys.auth_key, unsigned)
    return unsigned[:offset] + mac + unsigned[offset + len(mac):], unsigned, ciphertext


def build_exchange(profile: SecurityProfile) -> Exchange:
    user = UsmUser(profile.user, AuthProtocol(profile.auth_protocol), Secret(AUTH_PASSPHRASE),
                   PrivProtocol(profile.priv_protocol), Secret(PRIV_PASSPHRASE))
    cache = KeyCache()
    keys = cache.keys(user, ENGINE_ID)
    assert keys is not None
    engine = EngineState(ENGINE_ID, EngineStatus.SYNCED, boots=1, time=1000,
                         latest_received_time=1000)
    name = profile.user.encode()

    scoped = encode_scoped_pdu(ENGINE_ID, b"", get_pdu())
    request_usm = UsmParameters(ENGINE_ID, 1, 1000, name)
    _, unsigned, ciphertext = protect(keys, request_usm, scoped,
                                      FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE, salt=1)
    # The agent's response: authoritative, not reportable, its own salt.
    response, _, _ = protect(keys, UsmParameters(ENGINE_ID, 1, 1000, name),
                             encode_scoped_pdu(ENGINE_ID, b"", response_pdu()),
                             FLAG_AUTH | FLAG_PRIV, salt=7)
    v2c_response = encode_community_message(
        CommunityMessage(SnmpVersion.V2C, b"public", response_pdu()))
    return Exchange(user, cache, keys, engine, scoped, unsigned, ciphertext, request_usm,
                    response, v2c_response)


def request_steps(exchange: Exchange) -> list[Step]:
    keys, engine, usm = exchange.keys, exchange.engine, exchange.usm
    assert keys.auth_protocol is not None and keys.priv_protocol is not None
    auth_protocol, priv_protocol = keys.auth_protocol, keys.priv_protocol
    flags = FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE
    return [
        ("Encode the scopedPDU", lambda: encode_scoped_pdu(ENGINE_ID, b"", get_pdu())),
        ("Encrypt it (priv.encrypt)",
         lambda: priv.encrypt(priv_protocol, keys.priv_key, exchange.scoped, engine_boots=1,
                              engine_time=1000, salt=3)),
        ("Encode the message around it",
         lambda: encode_message(REQUEST_ID, MAX_MESSAGE_SIZE, flags, usm, exchange.ciphertext,
                                encrypted=True)),
        ("HMAC: sign the request (auth.sign)",
         lambda: auth.sign(auth_protocol, keys.auth_key, exchange.unsigned)),
        ("Request, all of the above (usm.outgoing_request)",
         lambda: outgoing_request(exchange.user, SecurityLevel.AUTH_PRIV, keys, engine,
                                  get_pdu(), REQUEST_ID, context_engine_id=ENGINE_ID,
                                  context_name=b"", now=0.0, salt=3)),
    ]


def response_steps(exchange: Exchange) -> list[Step]:
    keys, user = exchange.keys, exchange.user
    assert keys.auth_protocol is not None and keys.priv_protocol is not None
    auth_protocol, priv_protocol = keys.auth_protocol, keys.priv_protocol
    _, decoded = decode_inbound(exchange.response)
    assert isinstance(decoded, V3Message) and decoded.usm is not None
    message, usm = decoded, decoded.usm
    zeroed = message.zeroed()
    plaintext = priv.decrypt(priv_protocol, keys.priv_key, message.data, usm.priv_parameters,
                             engine_boots=1, engine_time=1000)
    return [
        ("Decode the response's framing and USM fields",
         lambda: decode_inbound(exchange.response)),
        ("HMAC: verify the response (auth.verify)",
         lambda: auth.verify(auth_protocol, keys.auth_key, zeroed, usm.auth_parameters)),
        ("Decrypt the scopedPDU (priv.decrypt)",
         lambda: priv.decrypt(priv_protocol, keys.priv_key, message.data, usm.priv_parameters,
                              engine_boots=1, engine_time=1000)),
        ("Decode the scopedPDU and its PDU", lambda: decode_scoped_pdu(plaintext)),
        ("Response, verify to decode (usm.incoming_message)",
         lambda: incoming_message(message, user, keys, ENGINE_ID)),
    ]


def other_steps(exchange: Exchange) -> list[Step]:
    key, iv = exchange.keys.priv_key[:16], bytes(16)
    return [
        ("Look up the localised keys (KeyCache.keys, twice per GET)",
         lambda: exchange.cache.keys(exchange.user, ENGINE_ID)),
        ("Create one AES-CFB cipher context (cryptography)",
         lambda: Cipher(algorithms.AES(key), CFB(iv)).encryptor()),
        ("SNMPv2c: encode the request",
         lambda: encode_community_message(
             CommunityMessage(SnmpVersion.V2C, b"public", get_pdu()))),
        ("SNMPv2c: decode the response", lambda: decode_message(exchange.v2c_response)),
    ]


def all_steps(exchange: Exchange) -> list[Step]:
    return [*request_steps(exchange), *response_steps(exchange), *other_steps(exchange)]


def lowest_time(call: Callable[[], object], repetitions: int = REPETITIONS) -> float:
    """Return the CPU microseconds per call of `call`, the lowest of ROUNDS rounds."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(repetitions):
            call()
        best = min(best, time.process_time() - started)
    return best / repetitions * 1e6


def count_run(profile: SecurityProfile, position: int, count: int) -> int:
    """Return the instructions of a process that runs step `position` `count` times."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, __file__,
               "--security", profile.key, "--run-step", str(position), "--count", str(count)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": "0"},
                               timeout=VALGRIND_TIMEOUT)
    found = _TOTAL.search(completed.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no `I refs` line")
    return int(found.group(1).replace(",", ""))


def count_instructions(profile: SecurityProfile, steps: int) -> list[float]:
    """Return the instructions of one call of each of the first `steps` steps.

    A run that calls no step builds the same exchange and closures as every other run, so one
    such run is the baseline of all steps.
    """
    baseline = count_run(profile, 0, 0)
    return [(count_run(profile, position, COUNT) - baseline) / COUNT
            for position in range(steps)]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    v3_keys = [profile.key for profile in PROFILES if profile.is_v3]
    parser = argparse.ArgumentParser(description="Measure each step of an SNMPv3 GET alone.")
    parser.add_argument("--security", default=",".join(v3_keys),
                        help=f"comma-separated SNMPv3 profiles (default: {','.join(v3_keys)})")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions with valgrind's cachegrind")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS,
                        help=f"calls of a step per timed round (default: {REPETITIONS})")
    parser.add_argument("--run-step", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=COUNT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def render(profile: SecurityProfile, steps: list[Step], times: list[float],
           counts: list[float] | None) -> list[str]:
    header = "| Step | CPU µs per call |" + (" Instructions per call |" if counts else "")
    lines = [f"#### {profile.label}", "", header, "|---|---|" + ("---|" if counts else "")]
    for position, (label, _) in enumerate(steps):
        row = f"| {label} | {times[position]:.2f} |"
        if counts:
            row += f" {counts[position]:,.0f} |"
        lines.append(row)
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    profiles = [PROFILES_BY_KEY[key] for key in arguments.security.split(",")]
    if arguments.run_step is not None:
        # A child under valgrind: build the exchange, then run one step `--count` times.
        _, call = all_steps(build_exchange(profiles[0]))[arguments.run_step]
        for _ in range(arguments.count):
            call()
        return

    for profile in profiles:
        steps = all_steps(build_exchange(profile))
        times = [lowest_time(call, arguments.repetitions) for _, call in steps]
        counts = None
        if arguments.instructions:
            counts = count_instructions(profile, len(steps))
        print("\n".join(render(profile, steps, times, counts)), flush=True)


if __name__ == "__main__":
    main()
