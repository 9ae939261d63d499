"""The error messages of net-snmp 5.9.3's tools, which scripts match on.

The error-status texts are what libnetsnmp 5.9.3 prints for each status (read from its output).
`snmpget` writes "Error in packet" without a dot, and the other tools write "Error in packet.".
The timeout line ends in a dot for `snmpget` and `snmpgetnext` only. Every tool leaves a blank
line after "Failed object". An SNMPv3 security failure starts with libnetsnmp 5.9.3's text for it
(such as "Unknown user name") and goes on with what to check.
"""

from __future__ import annotations

from snmpd_ng.cli.options import Tool
from snmpd_ng.cli.output import OutputOptions, format_oid_name
from snmpd_ng.manager import (
    DecryptionFailedError,
    NotInTimeWindowError,
    PrivacyMismatchError,
    SecurityError,
    Target,
    UnknownContextError,
    UnknownEngineIdError,
    UnknownUserNameError,
    UnsupportedSecurityLevelError,
    WrongDigestError,
)
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

# Texts of SNMPv3 failures, with {agent}, {user}, {level} and {context} filled in. Each starts
# with libnetsnmp 5.9.3's text for the case where it has one, so that scripts matching on it keep
# working. net-snmp has none for the last three: it times out on a privacy mismatch and on an
# unknown context, and prints "Unknown Report message" for the other reports.
_SECURITY_ERROR_TEXTS: dict[type[SecurityError], str] = {
    UnknownUserNameError: "Unknown user name: the agent at {agent} has no USM user {user!r}; "
                          "check -u",
    WrongDigestError: "Authentication failure (incorrect password, community or key): the agent "
                      "at {agent} rejected the digest of user {user!r}; check -a and -A (or "
                      "-3m, -3k)",
    DecryptionFailedError: "Decryption error: the agent at {agent} could not decrypt the "
                           "request of user {user!r}; check -x and -X (or -3M, -3K)",
    UnsupportedSecurityLevelError: "Unsupported security level: the agent at {agent} does not "
                                   "accept user {user!r} at {level}; check -l",
    UnknownEngineIdError: "Unknown engine ID: the agent at {agent} did not accept the engine "
                          "ID; check -e, or leave it out to discover the agent's",
    NotInTimeWindowError: "Not in time window: the agent at {agent} still reported the "
                          "request outside its time window after resynchronisation; check that "
                          "no other device shares its engine ID",
    UnknownContextError: "Unknown context: the agent at {agent} serves user {user!r} in the "
                         "default context but not in context {context!r}; check -n",
    PrivacyMismatchError: "Privacy failure: the agent at {agent} responds to user {user!r} "
                          "at authNoPriv but not at authPriv, so the privacy settings differ "
                          "from the agent's; check -X (or -3M, -3K) and -x: the protocol "
                          "(DES, AES, AES-192, AES-256), and for AES-192 and AES-256 the -C "
                          "variant, which Cisco devices use",
}

# net-snmp's exit codes: 1 for usage errors, timeouts, walk errors and SNMPv3 security
# failures, 2 for an error-status.
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


def security_error_message(tool: Tool, error: SecurityError, target: Target) -> str:
    """Return the line written when an SNMPv3 request fails in USM, such as a wrong digest.

    The line names the user, level and context, which are not secret, and never a key.
    """
    template = _SECURITY_ERROR_TEXTS.get(type(error))
    level = target.usm.security_level.value if target.usm is not None else "noAuthNoPriv"
    if template is None:
        # A report that no subclass covers: its message already names the target and the cause.
        return f"snmpd-ng {tool.value}: SNMPv3 request failed: {error}\n"
    text = template.format(agent=target.label, user=error.user, level=level,
                           context=target.context_name)
    return f"snmpd-ng {tool.value}: {text}\n"
