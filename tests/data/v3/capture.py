"""Regenerate captured.json: SNMPv3 packets that net-snmp's snmpget exchanged with its snmpd.

Run it from the repository root, with net-snmp's snmpd and snmpget installed (`make deps`):

    .venv/bin/python tests/data/v3/capture.py

The script starts a private snmpd on 127.0.0.1 with the test users of tests/v3agent.py and runs
`snmpget -d` (which dumps every packet it sends and receives in hex) for sysLocation.0 once per
user in CASE_USERS. It rewrites captured.json next to this file with the engine discovery
exchange of the first run and the GET request and response of every run. Each run captures
other packets, because msgID, salts and engine time change. tests/test_usm_captured.py checks
any capture against our key derivation, MACs and ciphers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(TESTS_DIR), str(TESTS_DIR.parent)]

from agents import find_program  # noqa: E402 (needs the path set above)
from v3agent import (  # noqa: E402
    SYS_LOCATION_OID,
    V3Agent,
    V3User,
    make_user,
    netsnmp_args,
    start_restartable_v3_agent,
    user_by_name,
)

from snmpd_ng.security.keys import AuthProtocol, PrivProtocol  # noqa: E402

OUTPUT_PATH = Path(__file__).with_name("captured.json")
# Seconds to wait after the agent's last start, so that its engineTime is not 0.
ENGINE_TIME_PAUSE = 5.5

# One GET per user. The first six pairs and the two users without privacy are the minimum set of
# the tests. The other three exercise the AES key extensions, which run only when the hash is
# shorter than the AES key: Blumenthal from MD5's 16 octets, Reeder from SHA's 20 and SHA-224's 28.
# SHA-384 and SHA-512 with the Reeder protocols are not in the user matrix, so they are built here.
CASE_USERS: tuple[V3User, ...] = (
    user_by_name("priv_md5_des"),
    user_by_name("priv_sha_aes"),
    user_by_name("priv_sha224_aes192"),
    user_by_name("priv_sha256_aes256"),
    make_user(AuthProtocol.SHA384, PrivProtocol.AES192C),
    make_user(AuthProtocol.SHA512, PrivProtocol.AES256C),
    user_by_name("auth_sha256"),
    user_by_name("noauth"),
    user_by_name("priv_md5_aes256"),
    user_by_name("priv_sha_aes256c"),
    user_by_name("priv_sha224_aes256c"),
)

# snmpget -d (net-snmp 5.9.3) writes a header line per packet, then 16 octets a line:
#   Sending 64 bytes to UDP: [127.0.0.1]:161->[0.0.0.0]:42448
#   0000: 30 3E 02 01  03 30 11 02  04 6C 27 B7  04 02 03 00    0>...0...l'.....
# The hex columns end at column 56, and the printable copy of the octets follows them.
_PACKET_HEADER = re.compile(r"^(Sending|Received) (\d+) byte")
_DUMP_LINE = re.compile(r"^\d{4}: ")
_HEX_COLUMNS = slice(6, 56)


class CaptureError(RuntimeError):
    """snmpget failed, or its packet dump did not read as expected."""


def parse_packet_dump(output: str) -> list[tuple[str, bytes]]:
    """Return (direction, octets) for each packet in snmpget -d output, in order.

    The direction is "sent" or "received". Raise CaptureError when a packet's octets do not add
    up to the length in its header line.
    """
    packets: list[tuple[str, int, bytearray]] = []
    for line in output.splitlines():
        header = _PACKET_HEADER.match(line)
        if header is not None:
            direction = "sent" if header.group(1) == "Sending" else "received"
            packets.append((direction, int(header.group(2)), bytearray()))
        elif _DUMP_LINE.match(line) and packets:
            packets[-1][2].extend(bytes.fromhex(line[_HEX_COLUMNS]))

    for direction, length, octets in packets:
        if len(octets) != length:
            raise CaptureError(
                f"a {direction} packet of {length} octets has {len(octets)} in the dump; "
                "check the column layout of this net-snmp version's snmpget -d"
            )
    return [(direction, bytes(octets)) for direction, _, octets in packets]


def capture_get(agent: V3Agent, user: V3User) -> tuple[str, list[tuple[str, bytes]]]:
    """Run one snmpget -d as `user`; return what it printed and the packets it exchanged."""
    returncode, stdout, stderr = agent.snmpd.run_netsnmp(
        "snmpget", "-d", *netsnmp_args(user), "-On", SYS_LOCATION_OID
    )
    if returncode != 0:
        raise CaptureError(f"snmpget as {user.name} failed with status {returncode}: {stderr}")

    # The dump goes to stderr. A GET without -e first discovers the engine: probe, report,
    # then the request and its response.
    packets = parse_packet_dump(stderr)
    directions = [direction for direction, _ in packets]
    if directions != ["sent", "received", "sent", "received"]:
        raise CaptureError(f"snmpget as {user.name} exchanged {directions}, expected 4 packets")
    return stdout.strip(), packets


def describe_exchange(
    user: V3User, printed: str, packets: list[tuple[str, bytes]]
) -> dict[str, Any]:
    auth = user.auth_protocol.value if user.auth_protocol else None
    priv = user.priv_protocol.value if user.priv_protocol else None
    protocols = ", ".join(value for value in (auth, priv) if value)
    return {
        "description": f"GET sysLocation.0 as {user.name} ({user.level.value} {protocols})".strip(),
        "user": user.name,
        "level": user.level.value,
        "auth_protocol": auth,
        "priv_protocol": priv,
        "auth_passphrase": user.auth_passphrase,
        "priv_passphrase": user.priv_passphrase,
        "oid": SYS_LOCATION_OID,
        "printed": printed,
        "request": packets[2][1].hex(),
        "response": packets[3][1].hex(),
    }


def netsnmp_version() -> str:
    """Return net-snmp's version as `snmpget -V` prints it, such as 5.9.3."""
    completed = subprocess.run(
        [str(find_program("snmpget")), "-V"], capture_output=True, text=True, check=False
    )
    return completed.stderr.strip().removeprefix("NET-SNMP version:").strip()


def capture_all(work_dir: Path) -> dict[str, Any]:
    """Start an agent with CASE_USERS, capture one GET per user and return the JSON document."""
    agent = start_restartable_v3_agent(work_dir, CASE_USERS)
    try:
        # A restart and a pause give engineBoots 2 and engineTime 5 or more. Distinct
        # non-zero values catch a cipher that drops or swaps them in the AES IV.
        agent.restart()
        time.sleep(ENGINE_TIME_PAUSE)
        captures = [(user, *capture_get(agent, user)) for user in CASE_USERS]
    finally:
        agent.stop()

    _, _, first_packets = captures[0]
    return {
        "description": (
            "SNMPv3 packets of net-snmp's snmpget and snmpd on loopback, written by capture.py "
            "next to this file. Octets are hex. The passphrases are test values."
        ),
        "netsnmp_version": netsnmp_version(),
        "engine_id": agent.engine_id.hex(),
        "discovery": {
            "description": "engine discovery before the first GET: the manager's probe and the "
            "agent's usmStatsUnknownEngineIDs report",
            "probe": first_packets[0][1].hex(),
            "report": first_packets[1][1].hex(),
        },
        "exchanges": [describe_exchange(*capture) for capture in captures],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="snmpd-v3-capture-") as work_dir:
        document = capture_all(Path(work_dir))
    OUTPUT_PATH.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(document['exchanges'])} exchanges to {OUTPUT_PATH}")


if __name__ == "__main__":
    main()
