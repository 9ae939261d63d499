"""Errors of the command line, raised while the tools read their arguments.

`snmpd_ng.cli.options` re-exports `UsageError` and `OperandError`, so modules import them from
either place.
"""

from __future__ import annotations


class UsageError(Exception):
    """A command line that the tool cannot run. The message names the word and the reason."""


class OperandError(UsageError):
    """An OID, type letter or value that cannot be used; reported without the usage line."""


class UsmUserError(OperandError):
    """SNMPv3 options that make no usable USM user; reported without the usage line.

    net-snmp reports these cases without the usage line too. The message never shows a
    passphrase or a key.
    """
