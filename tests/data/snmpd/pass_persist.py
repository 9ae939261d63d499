"""Serve fixed test values under .1.3.6.1.4.1.99999 to net-snmp's snmpd through pass_persist.

snmpd starts this script once (``pass_persist OID PYTHON SCRIPT STATE_DIR`` in its config) and
writes requests to its stdin, one field a line: ``PING`` (reply ``PONG``), ``get`` or ``getnext``
followed by a numeric OID, or ``set`` followed by an OID and a ``TYPE "VALUE"`` line; snmpd sends a
``PING`` before each request and an empty line after a set. A value reply is
three lines: OID, type keyword, value. ``NONE`` means "no such object" for get and "end of this
subtree" for getnext. A set reply is ``DONE`` or an SNMP error-status name such as ``not-writable``.

The object ``.12.0`` is read from ``STATE_DIR/dynamic-value.txt`` on every request, so a test can
change it between two requests; a SET of an OCTET STRING on it rewrites that file.

Standard library only: snmpd may run it with any Python 3.
"""

import sys
from pathlib import Path

ROOT = (1, 3, 6, 1, 4, 1, 99999)
DYNAMIC_FILE_NAME = "dynamic-value.txt"
DYNAMIC_DEFAULT = "initial"

# Suffix under ROOT -> (pass_persist type keyword, value text as snmpd parses it).
# "octet" values are hex digit pairs separated by spaces; snmpd sends them as OCTET STRING, so
# they carry bytes that a one-line "string" value cannot (a newline, 0x00, 0xff).
FIXED_OBJECTS: dict[tuple[int, ...], tuple[str, str]] = {
    (1, 0): ("counter", "3013173741"),
    (2, 0): ("counter64", "18446744073694799162"),
    (3, 0): ("counter64", "10403350064868154552"),
    (4, 0): ("integer", "-5"),
    (5, 0): ("gauge", "4294967295"),
    (6, 0): ("timeticks", "123456789"),
    (7, 0): ("objectid", ".2.999.1"),
    (8, 0): ("ipaddress", "127.0.200.1"),
    (9, 0): ("string", ""),
    (10, 0): ("octet", "00 ff 80 7f 0a 20"),
    (11, 0): ("octet", "6c 69 6e 65 31 0a 6c 69 6e 65 32"),
}
DYNAMIC_SUFFIX = (12, 0)


def parse_oid(text: str) -> tuple[int, ...] | None:
    """Return the OID in dotted decimal ``text`` as a tuple, or None when it is not one."""
    parts = text.strip().strip(".").split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def format_oid(oid: tuple[int, ...]) -> str:
    return "." + ".".join(str(arc) for arc in oid)


def read_dynamic_value(state_dir: Path) -> str:
    path = state_dir / DYNAMIC_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DYNAMIC_DEFAULT
    # The reply is line-based, so only the first line of the file can be served.
    return text.splitlines()[0] if text else ""


def current_objects(state_dir: Path) -> dict[tuple[int, ...], tuple[str, str]]:
    """Return every served object by full OID, with the dynamic one read from disk now."""
    objects = {ROOT + suffix: entry for suffix, entry in FIXED_OBJECTS.items()}
    objects[ROOT + DYNAMIC_SUFFIX] = ("string", read_dynamic_value(state_dir))
    return objects


def lookup(command: str, oid: tuple[int, ...], state_dir: Path) -> list[str]:
    """Return the reply lines for a ``get`` or ``getnext`` of ``oid``."""
    objects = current_objects(state_dir)
    if command == "get":
        found = oid if oid in objects else None
    else:
        # Tuples compare arc by arc, which is the lexicographic OID order of RFC 3416.
        found = min((candidate for candidate in objects if candidate > oid), default=None)
    if found is None:
        return ["NONE"]
    value_type, value = objects[found]
    return [format_oid(found), value_type, value]


def decode_set_value(type_and_value: str) -> str | None:
    """Return the text of a ``set`` value line, or None when it is not an OCTET STRING.

    net-snmp 5.9.3 writes ``string "TEXT"`` for printable text (inner quotes left as they are) and
    ``octet "HEX HEX ..."`` for any other OCTET STRING.
    """
    value_type, _, quoted = type_and_value.partition(" ")
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        return None
    value = quoted[1:-1]
    if value_type == "string":
        return value
    if value_type == "octet":
        try:
            return bytes.fromhex(value).decode("utf-8", errors="replace")
        except ValueError:
            return None
    return None


def store(oid: tuple[int, ...], type_and_value: str, state_dir: Path) -> str:
    """Apply a ``set`` request and return the reply: ``DONE`` or an error-status name."""
    if oid != ROOT + DYNAMIC_SUFFIX:
        return "not-writable"
    value = decode_set_value(type_and_value)
    if value is None:
        return "wrong-type"
    if "\n" in value or "\r" in value:
        # A get reply carries the value on one line, so a line break could not be served back.
        return "wrong-value"
    (state_dir / DYNAMIC_FILE_NAME).write_text(value + "\n", encoding="utf-8")
    return "DONE"


def reply(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def serve(state_dir: Path) -> None:
    """Answer requests from stdin until snmpd closes it."""
    while True:
        command = sys.stdin.readline()
        if not command:
            return
        command = command.strip()
        if command == "PING":
            reply(["PONG"])
            continue
        if command not in ("get", "getnext", "set"):
            # An empty line or an unknown command: snmpd ignores anything but the replies above.
            continue

        oid = parse_oid(sys.stdin.readline())
        if command == "set":
            type_and_value = sys.stdin.readline().strip()
            reply([store(oid, type_and_value, state_dir) if oid else "not-writable"])
        elif oid is None:
            reply(["NONE"])
        else:
            reply(lookup(command, oid, state_dir))


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write(f"usage: {sys.argv[0]} STATE_DIR\n")
        return 2
    serve(Path(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
