"""Marker values the manager puts in results in place of data."""

from __future__ import annotations

from snmpd_ng.protocol.values import ExceptionValue, Tag


class NoSuchNameMarker(ExceptionValue):
    """An SNMPv1 varbind the agent rejected with error-status noSuchName (RFC 1157 4.1.2).

    SNMPv1 has no per-varbind exceptions: a GET with one unknown OID fails as a whole. The
    manager sends the GET again without that OID and puts this marker in its place, so the
    result still has one varbind per requested OID. It is an `ExceptionValue`, so
    `is_exception()` is true for it, as for SNMPv2's noSuchObject.
    """

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NO_SUCH_NAME"


# NOTE: encoding the marker (it is never sent) would produce noSuchObject's tag, its closest
# SNMPv2 equivalent.
NO_SUCH_NAME = NoSuchNameMarker("noSuchName", Tag.NO_SUCH_OBJECT)
