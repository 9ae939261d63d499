"""net-snmp's command-line options for the five tools, parsed the way net-snmp 5.9 parses them.

Options may come before or after the agent and OIDs (as with glibc's getopt, which net-snmp
uses), short options take their argument attached or as the next word (`-v2c`, `-v 2c`), and
`-O` and `-C` take a string of letters. The SNMPv3 options are read in `snmpd_ng.cli.usm`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum

from snmpd_ng.cli.errors import OperandError as OperandError
from snmpd_ng.cli.errors import UsageError as UsageError
from snmpd_ng.cli.output import OutputOptions
from snmpd_ng.cli.usm import (
    V3_VALUE_OPTIONS,
    SnmpV3Options,
    apply_v3_option,
    build_usm_user,
    check_passphrases,
)
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.security.credentials import UsmUser


class Tool(Enum):
    """The net-snmp tool that a subcommand replaces."""

    GET = "get"
    GETNEXT = "getnext"
    WALK = "walk"
    BULKWALK = "bulkwalk"
    SET = "set"


# net-snmp's defaults: a 1 s timeout and 5 retries. snmpbulkwalk requests 10 rows per GETBULK.
DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 5
DEFAULT_MAX_REPETITIONS = 10

# snmpwalk and snmpbulkwalk walk mib-2 when no OID is given.
DEFAULT_WALK_ROOT = ".1.3.6.1.2.1"

# -O letters that change nothing when no MIB file is loaded (checked with net-snmp 5.9.3).
_NO_EFFECT_OUTPUT_LETTERS = frozenset("sSbXE0Ue")

# -C letters each tool accepts, as in net-snmp 5.9.3, plus -CI for bulkwalk (net-snmp's
# snmpbulkwalk always GETs the root of an empty walk).
_APPLICATION_LETTERS = {
    Tool.GET: "f",
    Tool.GETNEXT: "f",
    Tool.WALK: "cIip",
    Tool.BULKWALK: "cIipnr",
    Tool.SET: "",
}

# Options that take an argument, besides -O and -C.
_VALUE_OPTIONS = frozenset("vctr")


@dataclass
class ToolOptions:
    """Everything the command line sets for one run of a tool."""

    tool: Tool
    version: SnmpVersion = SnmpVersion.V2C
    community: str | None = None
    """-c, required with SNMPv1 and SNMPv2c and ignored with SNMPv3, as in net-snmp."""
    v3: SnmpV3Options = field(default_factory=SnmpV3Options)
    """The SNMPv3 options as given; read with every version, used only with -v 3."""
    usm: UsmUser | None = None
    """The USM user the SNMPv3 options make, set when the version is SNMPv3."""
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    output: OutputOptions = field(default_factory=OutputOptions)
    check_increasing: bool = True
    """False after -Cc: a walk accepts OIDs that do not increase."""
    get_root_if_empty: bool = True
    """False after -CI: a walk that finds nothing does not GET the root."""
    include_root: bool = False
    """-Ci: GET the root and print it before walking."""
    print_count: bool = False
    """-Cp: print 'Variables found: N' after a walk."""
    fix_pdu: bool = True
    """False after -Cf: a failed SNMPv1 GET is not sent again without the failed OID."""
    non_repeaters: int = 0
    max_repetitions: int = DEFAULT_MAX_REPETITIONS
    agent: str = ""
    operands: list[str] = field(default_factory=list)
    """OIDs, or for set the OID TYPE VALUE triples, as written."""
    debug: bool = False
    """-d: log each request and response (the manager's DEBUG events) to stderr."""
    show_help: bool = False
    show_version: bool = False


def parse_arguments(tool: Tool, argv: list[str]) -> ToolOptions:
    """Parse one tool's arguments (without the subcommand). Raises UsageError."""
    options = ToolOptions(tool)
    positional: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            positional.extend(words)
            break
        if _is_value_position(tool, positional) or not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        if word in ("-h", "--help"):
            options.show_help = True
            return options
        if word in ("-V", "--version"):
            options.show_version = True
            return options
        if word == "-d":
            options.debug = True
            continue
        _apply_option(options, word, words)

    _check_operands(options, positional)
    return options


def _is_value_position(tool: Tool, positional: list[str]) -> bool:
    # A set VALUE may start with "-" (i -5), so it is never read as an option: after the agent,
    # every third word is a value.
    return tool == Tool.SET and len(positional) >= 3 and (len(positional) - 1) % 3 == 2


def _apply_option(options: ToolOptions, word: str, words: Iterator[str]) -> None:
    letter = word[1]
    rest = word[2:]
    if letter not in _VALUE_OPTIONS and letter not in V3_VALUE_OPTIONS and letter not in "OC":
        raise UsageError(f"invalid option -- '{letter}'")

    argument = rest if rest else _next_word(words, letter)
    if letter in V3_VALUE_OPTIONS:
        apply_v3_option(options.v3, letter, argument, lambda option: _next_word(words, option))
    elif letter == "v":
        options.version = _parse_version(argument)
    elif letter == "c":
        options.community = argument
    elif letter == "t":
        options.timeout = _parse_timeout(argument)
    elif letter == "r":
        options.retries = _parse_retries(argument)
    elif letter == "O":
        options.output = parse_output_letters(argument, options.output)
    else:
        _apply_application_letters(options, argument, words)


def _next_word(words: Iterator[str], letter: str) -> str:
    try:
        word = next(words)
    except StopIteration:
        raise UsageError(f"option -{letter} requires an argument") from None
    return word


def _parse_version(text: str) -> SnmpVersion:
    if text == "1":
        return SnmpVersion.V1
    if text in ("2c", "2C"):
        return SnmpVersion.V2C
    if text == "3":
        return SnmpVersion.V3
    raise UsageError(f"Invalid version specified after -v flag: {text}")


def _parse_timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"Invalid timeout in seconds after -t flag: {text!r} "
                         "(expected a number of seconds above 0, such as 1 or 0.5)")
    return seconds


def _parse_retries(text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"Invalid number of retries after -r flag: {text!r} "
                         "(expected a whole number, 0 or more)")
    return int(text)


def parse_output_letters(letters: str, current: OutputOptions) -> OutputOptions:
    """Apply the letters of one -O option. q, Q, v and t toggle, as in net-snmp."""
    output = current
    for letter in letters:
        if letter == "n":
            output = replace(output, numeric=True, full=False)
        elif letter == "f":
            output = replace(output, full=True, numeric=False)
        elif letter == "q":
            output = replace(output, quick=not output.quick)
        elif letter == "Q":
            output = replace(output, quick=not output.quick, quick_equals=not output.quick_equals)
        elif letter == "v":
            output = replace(output, value_only=not output.value_only)
        elif letter == "t":
            output = replace(output, numeric_timeticks=not output.numeric_timeticks)
        elif letter == "x":
            output = replace(output, hex_strings=True, ascii_strings=False)
        elif letter == "a":
            output = replace(output, ascii_strings=True, hex_strings=False)
        elif letter not in _NO_EFFECT_OUTPUT_LETTERS:
            raise UsageError(f"Unknown output option passed to -O: {letter}. "
                             "snmpd-ng supports -O with a, f, n, q, Q, t, v and x")
    return output


def _apply_application_letters(options: ToolOptions, letters: str, words: Iterator[str]) -> None:
    allowed = _APPLICATION_LETTERS[options.tool]
    position = 0
    while position < len(letters):
        letter = letters[position]
        position += 1
        if letter not in allowed:
            raise UsageError(f"Unknown flag passed to -C: {letter}")
        if letter in "nr":
            digits = _leading_digits(letters[position:])
            position += len(digits)
            if not digits:
                digits = _next_word(words, "C" + letter)
            _set_bulk_size(options, letter, digits)
        else:
            _set_application_flag(options, letter)


def _leading_digits(text: str) -> str:
    count = 0
    while count < len(text) and text[count].isdigit():
        count += 1
    return text[:count]


def _set_bulk_size(options: ToolOptions, letter: str, text: str) -> None:
    if not text.isdigit() or int(text) > 2**31 - 1:
        raise UsageError(f"-C{letter} needs a whole number in 0..2147483647, not {text!r}")
    if letter == "n":
        options.non_repeaters = int(text)
        return
    if int(text) == 0:
        # net-snmp 5.9.3 loops forever on -Cr0: an agent returns no rows, so nothing advances.
        raise UsageError("-Cr0 would never finish: give max-repetitions of 1 or more")
    options.max_repetitions = int(text)


def _set_application_flag(options: ToolOptions, letter: str) -> None:
    if letter == "c":
        options.check_increasing = not options.check_increasing
    elif letter == "I":
        options.get_root_if_empty = False
    elif letter == "i":
        options.include_root = True
    elif letter == "p":
        options.print_count = True
    elif letter == "f":
        options.fix_pdu = False


def _check_operands(options: ToolOptions, positional: list[str]) -> None:
    if not positional:
        raise UsageError("No hostname specified.")
    options.agent, operands = positional[0], positional[1:]
    _check_security(options)

    tool = options.tool
    if tool in (Tool.WALK, Tool.BULKWALK):
        if len(operands) > 1:
            raise UsageError(f"{tool.value} takes one OID, got {len(operands)}: "
                             f"{' '.join(operands)}")
        operands = operands or [DEFAULT_WALK_ROOT]
    elif not operands:
        raise UsageError("Missing object name")
    elif tool == Tool.SET and len(operands) % 3 == 1:
        raise UsageError(f"{operands[-1]}: Needs type and value")
    elif tool == Tool.SET and len(operands) % 3 == 2:
        raise UsageError(f"{operands[-2]}: Needs value")
    if tool == Tool.BULKWALK and options.version == SnmpVersion.V1:
        raise UsageError("Cannot send V2 PDU on V1 session: bulkwalk needs -v 2c or -v 3")
    options.operands = operands


def _check_security(options: ToolOptions) -> None:
    # net-snmp derives keys from -A and -X while it reads the options, so a short passphrase is
    # an error even with -v 2c. It ignores -c with -v 3.
    check_passphrases(options.v3)
    if options.version == SnmpVersion.V3:
        options.usm = build_usm_user(options.v3)
    elif options.community is None:
        raise UsageError("No community name specified.")
