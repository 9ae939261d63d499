"""The async shell around the protocol layer: UDP sockets, request matching, timeouts, retries."""

from snmpd_ng.transport.channel import Channel, ChannelSettings
from snmpd_ng.transport.errors import (
    BudgetExceeded,
    RequestTimeout,
    ResolutionError,
    TargetError,
    TransportError,
)
from snmpd_ng.transport.processing import CommunityProcessing, MessageProcessing
from snmpd_ng.transport.stats import GlobalStats, TargetStats
from snmpd_ng.transport.transport import Transport

__all__ = [
    "BudgetExceeded",
    "Channel",
    "ChannelSettings",
    "CommunityProcessing",
    "GlobalStats",
    "MessageProcessing",
    "RequestTimeout",
    "ResolutionError",
    "TargetError",
    "TargetStats",
    "Transport",
    "TransportError",
]
