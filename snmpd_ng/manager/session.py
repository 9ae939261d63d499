"""The manager's state for one target: its transport channel and the sizes that worked."""

from __future__ import annotations

from collections.abc import Callable

from snmpd_ng.manager.errors import InvalidRequestError
from snmpd_ng.manager.target import Target
from snmpd_ng.protocol.message import SnmpVersion
from snmpd_ng.transport.channel import Channel, ChannelSettings
from snmpd_ng.transport.processing import CommunityProcessing, MessageProcessing
from snmpd_ng.transport.usm import UsmContext, UsmProcessing

ProcessingFactory = Callable[[Target], MessageProcessing]


def community_processing(target: Target) -> MessageProcessing:
    """Build the message processing of an SNMPv1 or SNMPv2c target."""
    if target.version == SnmpVersion.V3:
        raise InvalidRequestError(
            f"{target.label}: SNMPv3 needs a security model, and none is plugged in")
    return CommunityProcessing(target.version, target.community.reveal())


def standard_processing(context: UsmContext) -> ProcessingFactory:
    """Return the factory of SNMPv1 and SNMPv2c community processing and SNMPv3 with USM, whose
    targets share `context` (engine states, localised keys, salts)."""

    def build(target: Target) -> MessageProcessing:
        if target.version != SnmpVersion.V3:
            return community_processing(target)
        if target.usm is None:
            raise InvalidRequestError(f"{target.label}: SNMPv3 needs a USM user")
        return UsmProcessing(user=target.usm, host=target.host, port=target.port,
                             label=target.label, context=context,
                             context_name=target.context_name,
                             context_engine_id=target.context_engine_id,
                             security_engine_id=target.security_engine_id)

    return build


class TargetSession:
    """Per-target state: the channel, and the request sizes a tooBig taught us."""

    __slots__ = ("bulk_cap", "channel", "label", "max_varbinds", "target", "version")

    def __init__(self, target: Target, processing: MessageProcessing, *,
                 dns_refresh_interval: float) -> None:
        _check_target(target)
        self.target = target
        self.label = target.label
        self.version = target.version
        settings = ChannelSettings(
            label=target.label, host=target.host, port=target.port, timeout=target.timeout,
            retries=target.retries, backoff=target.backoff, max_in_flight=target.max_in_flight,
            source_address=target.source_address, accept_any_source=target.accept_any_source,
        )
        self.channel = Channel(settings, processing, dns_refresh_interval=dns_refresh_interval)
        bind = getattr(processing, "bind", None)
        if bind is not None:
            bind(self.channel)
        self.max_varbinds = target.max_varbinds_per_request
        """Varbinds per GET or GETNEXT; lowered when the agent returns tooBig."""
        self.bulk_cap: int | None = None
        """Highest max-repetitions that did not get tooBig, once one did."""

    def repetitions(self, requested: int | None) -> int:
        """Return the max-repetitions to send: the request's or the target's, within the cap."""
        wanted = self.target.max_repetitions if requested is None else requested
        cap = self.bulk_cap
        return wanted if cap is None or wanted <= cap else cap

    def lower_bulk_cap(self, repetitions: int) -> None:
        """Remember that max-repetitions above `repetitions` got tooBig."""
        if self.bulk_cap is None or repetitions < self.bulk_cap:
            self.bulk_cap = repetitions


def _check_target(target: Target) -> None:
    """Raise InvalidRequestError for settings no request could work with."""
    problems = []
    if target.timeout <= 0:
        problems.append(f"timeout {target.timeout} must be above 0 seconds")
    if target.retries < 0:
        problems.append(f"retries {target.retries} must be 0 or more")
    if target.backoff < 1.0:
        problems.append(f"backoff {target.backoff} must be 1.0 or more")
    if target.max_in_flight < 1:
        problems.append(f"max_in_flight {target.max_in_flight} must be 1 or more")
    if target.max_varbinds_per_request < 1:
        problems.append(
            f"max_varbinds_per_request {target.max_varbinds_per_request} must be 1 or more")
    if not 0 <= target.max_repetitions <= 2**31 - 1:
        problems.append(f"max_repetitions {target.max_repetitions} must be in 0..2147483647")
    if not 0 < target.port < 65536:
        problems.append(f"port {target.port} must be in 1..65535")
    if problems:
        raise InvalidRequestError(f"{target.label}: invalid target: " + "; ".join(problems))
