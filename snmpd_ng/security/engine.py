"""The manager's record of each authoritative SNMP engine: its ID, boots and clock.

RFC 3414 section 2.3: a non-authoritative engine (the manager) keeps, per authoritative engine,
snmpEngineBoots, snmpEngineTime and latestReceivedEngineTime, learned from authenticated messages.
State is kept per (address, engine ID): one engine reached at two addresses shares its ID and its
clock, while cloned machines share the ID but not the clock, and must not overwrite each other.

Sans-IO: `now` is the caller's monotonic clock in seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# RFC 3414 2.2.3: a message is timely if its time is within 150 seconds of the engine's.
TIME_WINDOW_SECONDS = 150
# RFC 3414 2.2.2: engineBoots stays at 2^31-1 forever once it gets there, and no message is then
# timely; engineTime wraps back to 0 at 2^31-1 and boots goes up.
MAX_ENGINE_BOOTS = 2_147_483_647
MAX_ENGINE_TIME = 2_147_483_647


class EngineStatus(enum.Enum):
    UNKNOWN = "unknown"
    """No engine ID yet: the next request is a discovery probe."""
    DISCOVERING = "discovering"
    """A discovery probe was sent and no report has come back yet."""
    DISCOVERED = "discovered"
    """The engine ID is known; boots and time are only the unauthenticated report's hint."""
    SYNCED = "synced"
    """Boots and time come from an authenticated message of this engine."""


class TimeUpdate(enum.Enum):
    """The effect of an authenticated message's boots and time on the local notion."""

    FIRST = "first"
    """The first authenticated values: taken as they are."""
    NEWER = "newer"
    """Later than what was known: the notion moved forward (RFC 3414 3.2 step 7b)."""
    REBOOTED = "rebooted"
    """engineBoots went up: the agent restarted."""
    UNCHANGED = "unchanged"
    """Not later than what was known: the notion stays (a replay, or a clock gone back)."""


@dataclass(slots=True)
class EngineState:
    """One authoritative engine at one address."""

    engine_id: bytes = b""
    status: EngineStatus = EngineStatus.UNKNOWN
    boots: int = 0
    time: int = 0
    """engineTime at `learned_at`."""
    learned_at: float = 0.0
    """Local clock (seconds) when `time` was learned."""
    latest_received_time: int = 0
    stale_reports: int = 0
    reboots: int = 0
    """Times engineBoots went up while this state was synced: restarts of the agent."""
    """notInTimeWindow reports in a row whose boots and time were older than the notion."""

    def estimated_time(self, now: float) -> int:
        """Estimate the engine's time now from the last value learned and the local clock."""
        elapsed = max(0, int(now - self.learned_at))
        return min(MAX_ENGINE_TIME, self.time + elapsed)

    def discovered(self, engine_id: bytes, boots: int, engine_time: int, now: float) -> None:
        """Take the engine ID of a discovery report, and its boots and time as a hint.

        The hint is used for the next request only; it never becomes the authenticated notion,
        so a forged report cannot push the notion ahead of the real engine. A synced state keeps
        its authenticated boots and time; call `forget_time()` first to drop them.
        """
        if self.status is EngineStatus.SYNCED:
            return
        self.engine_id = engine_id
        self.status = EngineStatus.DISCOVERED
        self.boots, self.time, self.learned_at = boots, engine_time, now
        self.latest_received_time = 0
        self.stale_reports = 0

    def update(self, boots: int, engine_time: int, now: float) -> TimeUpdate:
        """Apply the boots and time of an authenticated message (RFC 3414 3.2 step 7b)."""
        if self.status is not EngineStatus.SYNCED:
            self._take(boots, engine_time, now)
            self.status = EngineStatus.SYNCED
            return TimeUpdate.FIRST
        if boots > self.boots:
            self._take(boots, engine_time, now)
            self.reboots += 1
            return TimeUpdate.REBOOTED
        if boots == self.boots and engine_time > self.latest_received_time:
            self._take(boots, engine_time, now)
            return TimeUpdate.NEWER
        return TimeUpdate.UNCHANGED

    def _take(self, boots: int, engine_time: int, now: float) -> None:
        self.boots, self.time, self.learned_at = boots, engine_time, now
        self.latest_received_time = engine_time
        self.stale_reports = 0

    def in_window(self, boots: int, engine_time: int, now: float) -> bool:
        """Tell whether an authenticated message is timely (RFC 3414 3.2 step 7b, after update)."""
        if self.boots == MAX_ENGINE_BOOTS or boots < self.boots:
            return False
        return not (boots == self.boots
                    and engine_time < self.estimated_time(now) - TIME_WINDOW_SECONDS)

    def forget_time(self) -> None:
        """Drop the notion of boots and time, keeping the engine ID: the next authenticated
        message of this engine is taken as it is (after an agent that lost its engineBoots)."""
        self.status = EngineStatus.DISCOVERED
        self.latest_received_time = 0
        self.stale_reports = 0

    def forget(self) -> None:
        """Forget everything: the next request discovers the engine again."""
        self.engine_id = b""
        self.status = EngineStatus.UNKNOWN
        self.boots = self.time = self.latest_received_time = self.stale_reports = 0


Address = tuple[str, int]


class EngineTable:
    """Engine states by (address, engine ID), shared by every target of one manager."""

    __slots__ = ("_addresses", "_latest", "_states")

    def __init__(self) -> None:
        self._states: dict[tuple[Address, bytes], EngineState] = {}
        self._latest: dict[Address, bytes] = {}
        # Addresses with a state of each engine ID, in insertion order, so that the clone check
        # after every authenticated response looks at one engine's addresses, not at the table.
        self._addresses: dict[bytes, dict[Address, None]] = {}

    def latest(self, address: Address) -> EngineState | None:
        """Return the state of the engine last discovered at `address`, if any, so that a new
        target at a known address skips discovery."""
        engine_id = self._latest.get(address)
        return self._states.get((address, engine_id)) if engine_id is not None else None

    def get(self, address: Address, engine_id: bytes) -> EngineState:
        """Return the state of `engine_id` at `address`, creating an empty one."""
        key = (address, engine_id)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = EngineState(engine_id=engine_id)
            self._addresses.setdefault(engine_id, {})[address] = None
        self._latest[address] = engine_id
        return state

    def conflicts(self, address: Address, state: EngineState, now: float) -> list[Address]:
        """Return other addresses whose synced state of the same engine ID contradicts `state`.

        One engine at two addresses has one clock. A lower boots than another address has, or
        the same boots with times more than the window apart, means two engines share the ID
        (cloned machines). A higher boots is a reboot the other address has not seen yet.
        """
        found = []
        for other_address in self._addresses.get(state.engine_id, {}):
            other = self._states[other_address, state.engine_id]
            if other_address == address or other.status is not EngineStatus.SYNCED:
                continue
            if state.boots < other.boots or (
                state.boots == other.boots
                and abs(state.estimated_time(now) - other.estimated_time(now))
                > TIME_WINDOW_SECONDS
            ):
                found.append(other_address)
        return found

    def discard(self, address: Address) -> None:
        """Forget every engine state of `address` (a target removed from the configuration)."""
        for key in [key for key in self._states if key[0] == address]:
            del self._states[key]
            addresses = self._addresses[key[1]]
            del addresses[address]
            if not addresses:
                del self._addresses[key[1]]
        self._latest.pop(address, None)
