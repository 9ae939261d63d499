"""Exceptions of the protocol layer.

`SnmpError` is the root of every error snmpd_ng raises on purpose. The protocol layer adds two
branches: `DecodeError` for a peer's bytes that cannot be framed, and `EncodeError` for a value
that we were asked to send but that SNMP cannot carry (our caller's mistake).
"""

from __future__ import annotations


class SnmpError(Exception):
    """Root of all snmpd_ng errors."""


class DecodeError(SnmpError):
    """A message whose framing cannot be decoded.

    `field` names the part of the message being read (for example "pdu.request-id") and `offset`
    is the byte offset in the datagram where the problem starts.
    """

    def __init__(self, reason: str, *, field: str, offset: int) -> None:
        self.reason = reason
        self.field = field
        self.offset = offset
        super().__init__(f"cannot decode {field} at byte {offset}: {reason}")


class EncodeError(SnmpError, ValueError):
    """A value that cannot be encoded as SNMP asks, such as an OID arc above 2^32-1."""
