"""The error messages of net-snmp 5.9.3's tools, which scripts match on.

The error-status texts are what libnetsnmp 5.9.3 prints for each status (read from its output).
`snmpget` writes "Error in packet" without a dot, and the other tools write "Error in packet.".
The timeout line ends in a dot for `snmpget` and `snmpgetnext` only. Every tool leaves a blank
line after "Failed object".
"""

from __future__ import annotations

from snmpd_ng.cli.options import Tool
from snmpd_ng.cli.output import OutputOptions, format_oid_name
from snmpd_ng.protocol.oid import Oid

_ERROR_STATUS_TEXTS = {
    0: "(noError) No Error",
    1: "(tooBig) Response message would have been too large.",
    2: "(noSuchName) There is no such variable name in this MIB.",
    3: "(badValue) The value given has the wrong type or length.",
    4: "(readOnly) The two parties used do not have access to use the specified SNMP PDU.",
    5: "(genError) A general failure occured",
    6: "noAccess",
    7: "wrongType (The set datatype does not match the data type the agent expects)",
    8: "wrongLength (The set value has an illegal length from what the agent expects)",
    9: "wrongEncoding",
    10: "wrongValue (The set value is illegal or unsupported in some way)",
    11: "noCreation (That table does not support row creation or that object can not ever be "
        "created)",
    12: "inconsistentValue (The set value is illegal or unsupported in some way)",
    13: "resourceUnavailable (This is likely a out-of-memory failure within the agent)",
    14: "commitFailed",
    15: "undoFailed",
    16: "authorizationError (access denied to that object)",
    17: "notWritable (That object does not support modification)",
    18: "inconsistentName (That object can not currently be created)",
}

# net-snmp's exit codes: 1 for usage errors, timeouts and walk errors, 2 for an error-status.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_ERROR_STATUS = 2


def error_status_text(status: int) -> str:
    """Return net-snmp's text for an error-status, such as `noAccess`."""
    return _ERROR_STATUS_TEXTS.get(status, "Unknown Error")


def error_in_packet(tool: Tool, status: int, failed: Oid | None, output: OutputOptions) -> str:
    """Return the lines a tool writes to stderr for a response with an error-status.

    `failed` is the OID at the response's error-index, or None when the index points nowhere.
    """
    dot = "" if tool == Tool.GET else "."
    text = f"Error in packet{dot}\nReason: {error_status_text(status)}\n"
    if failed is not None:
        text += f"Failed object: {format_oid_name(failed, output)}\n\n"
    return text


def timeout_message(tool: Tool, agent_label: str) -> str:
    """Return the line written when no response came, for the agent as the user wrote it."""
    dot = "." if tool in (Tool.GET, Tool.GETNEXT) else ""
    return f"Timeout: No Response from {agent_label}{dot}\n"


def oid_not_increasing(previous: Oid, returned: Oid, output: OutputOptions) -> str:
    """Return the walk error for an agent whose GETNEXT or GETBULK went backwards or repeated."""
    return (f"Error: OID not increasing: {format_oid_name(previous, output)}\n"
            f" >= {format_oid_name(returned, output)}\n\n")
