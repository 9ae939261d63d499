"""Counters of what happened on the wire, per target and for the whole manager."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(slots=True)
class TargetStats:
    """Counters of one target. `Manager.stats()` returns a copy, so a snapshot never changes."""

    requests: int = 0
    """Logical requests sent (a retransmission is counted in `retries`, not here)."""
    responses: int = 0
    """Responses accepted (matched request-id, address and community)."""
    timeouts: int = 0
    """Requests that got no acceptable response within the timeout and retries."""
    retries: int = 0
    """Retransmissions after an attempt timed out."""
    malformed_responses: int = 0
    """Datagrams from the target's address that could not be decoded."""
    malformed_values: int = 0
    """Varbinds in accepted responses whose value broke its type's encoding rules."""
    unexpected_source: int = 0
    """Responses to this target's requests that came from another address or port."""
    unknown_request_id: int = 0
    """Datagrams from this target's address whose request-id matches no outstanding request:
    late replies, duplicates and mismatched ids."""
    wrong_community: int = 0
    """Responses whose community differs from the request's."""
    too_big: int = 0
    """tooBig responses (each one shrinks max-repetitions or splits the varbind list)."""
    error_status: dict[str, int] = field(default_factory=dict)
    """Responses with an error-status other than noError, by the RFC 3416 name."""
    last_rtt: float | None = None
    """Seconds from sending the attempt that got the accepted response to receiving it."""
    reports: dict[str, int] = field(default_factory=dict)
    """SNMPv3 Report PDUs received, by kind: unknown_engine_id, not_in_time_window,
    unknown_user_name, wrong_digest, decryption_error, unsupported_security_level,
    unknown_context, other_report. Discovery's own unknown_engine_id report is counted too."""
    security_errors: dict[str, int] = field(default_factory=dict)
    """SNMPv3 requests that failed with a SecurityError, by its `kind` (the report kinds and
    privacy_mismatch)."""
    security_drops: dict[str, int] = field(default_factory=dict)
    """SNMPv3 messages from the agent dropped by our own USM checks, by reason:
    authentication_failed, decryption_failed, outside_time_window, wrong_engine_id, wrong_user,
    wrong_security_level, unauthenticated_report."""
    engine_discoveries: int = 0
    """SNMPv3 engine ID discoveries completed (RFC 3414 section 4)."""
    engine_time_syncs: int = 0
    """Times the agent's engineBoots and engineTime were learned from an authenticated
    message outside the normal flow: the first one after discovery, and after notInTimeWindow."""
    engine_reboots: int = 0
    """Times the agent's engineBoots went up: the agent restarted."""
    engine_id_conflicts: int = 0
    """Times another address answered with this target's engine ID and boots or time that
    disagree with it: cloned machines sharing one engine ID."""

    def snapshot(self) -> TargetStats:
        """Return a copy that later traffic does not change."""
        return replace(self, error_status=dict(self.error_status), reports=dict(self.reports),
                       security_errors=dict(self.security_errors),
                       security_drops=dict(self.security_drops))


@dataclass(slots=True)
class GlobalStats:
    """Counters of the whole manager: every target added up, plus what matches no target."""

    targets: int = 0
    requests: int = 0
    responses: int = 0
    timeouts: int = 0
    retries: int = 0
    malformed_responses: int = 0
    malformed_values: int = 0
    unexpected_source: int = 0
    unknown_request_id: int = 0
    wrong_community: int = 0
    too_big: int = 0
    unmatched_datagrams: int = 0
    """Datagrams from an address of no target whose request-id matches no outstanding request."""
    undecodable_datagrams: int = 0
    """Datagrams from an address of no target that could not be decoded."""
    socket_errors: int = 0
    """Errors the sockets reported (ICMP port unreachable, for example)."""
    in_flight: int = 0
    """Requests waiting for a response at the moment of the snapshot."""
    receive_buffer_drops: int | None = 0
    """Datagrams the kernel dropped on the manager's sockets because their receive buffer was
    full (the `drops` column of /proc/net/udp); None where the kernel does not report it."""
