"""Escalation: which receivers of a policy to notify about a group, and when.

The escalation of a group starts at the group's first notification (its first flush). Each
pass through the policy's tiers starts at a time `start`; tier *k* is due at `start + after`.
When it is due and the group still has an unacknowledged alert, its receivers get a `firing`
notification, or a `repeat` when this run notified them already. A tier outside its time
windows is skipped. The last tier notified is the current tier: it is
repeated every `repeat` seconds until the next tier is due. With `loops` above 1, a new pass
starts `loop_after` seconds after the previous one.

The escalation stops when no unacknowledged alert of the group is left to notify. The reason
is `acknowledged` when every active alert is acknowledged (an `acknowledged` notification goes
to everyone notified), and `muted` when the unacknowledged alerts left are all silenced or
inhibited. It stops for good when a `handoff` tier was notified. A stopped escalation other than a
handoff starts again from the first tier when the group gets an unacknowledged alert again: a
new alert, or one that fired again after resolving, whose acknowledgement expired. When the
group's alerts resolve, a `resolved` notification goes to every receiver notified in the
group's life, whether or not the escalation stopped.

Steps that were due while the daemon was down run at once when it is back, in order; missed
repeats of one tier collapse into one. Times are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snmpd_ng.alerting.grouping import GroupContent
from snmpd_ng.alerting.routing import Policy, Tier

MAX_STEPS_PER_ADVANCE = 1000
"""Steps one `advance` runs at most: a bound against a policy that would loop forever."""

STOPPED_ACKNOWLEDGED = "acknowledged"
STOPPED_MUTED = "muted"
STOPPED_HANDOFF = "handed_off"
RESTARTABLE = frozenset({STOPPED_ACKNOWLEDGED, STOPPED_MUTED})


@dataclass
class EscalationState:
    """The progress of one group's escalation, stored with the group."""

    policy: str
    started_at: float | None = None
    """When the first pass started; None before the group's first notification."""
    pass_index: int = 0
    pass_started_at: float = 0.0
    next_tier: int = 0
    """Index of the next tier to notify in this pass."""
    current_tier: int | None = None
    last_sent_at: float | None = None
    stopped: str | None = None
    sequence: int = 0
    """Count of notification batches, for stable notification ids."""
    notified: dict[str, int] = field(default_factory=dict)
    """Every receiver notified in the group's life, with the tier (1-based) that reached it."""
    run_notified: list[str] = field(default_factory=list)
    """Receivers notified since the escalation last started; they get updates."""

    @property
    def has_started(self) -> bool:
        return self.started_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EscalationState:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class Planned:
    """One notification to send: to whom, which event, from which tier."""

    receiver: str
    event: str
    tier: int
    sequence: int


@dataclass(frozen=True)
class Step:
    """One escalation step that ran or was skipped, for the history."""

    kind: str
    """One of started, tier, repeat, loop, skipped (outside the time windows), stopped."""
    tier: int | None
    detail: str = ""


@dataclass
class Outcome:
    planned: list[Planned] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.planned.extend(other.planned)
        self.steps.extend(other.steps)


class Escalator:
    """The escalation rules applied to the state of one group at a time."""

    def __init__(self, policies: Mapping[str, Policy]) -> None:
        self.policies = dict(policies)

    def on_flush(self, state: EscalationState, content: GroupContent, changed: bool,
                 now: float) -> Outcome:
        """Decide what a group flush sends: the first tier, an update, a resolve, a restart."""
        if not state.has_started:
            if content.has_unacknowledged:
                return self._start(state, content, now)
            return Outcome()
        outcome = Outcome()
        if content.resolved and not content.notifiable:
            outcome.planned = self._to_everyone(state, "resolved")
        elif state.stopped in RESTARTABLE and content.has_unacknowledged:
            return self._start(state, content, now)
        if state.stopped is None and not content.has_unacknowledged and not content.is_over:
            reason = self._stop_reason(content)
            outcome.steps.append(self._stop(state, reason))
            if reason == STOPPED_ACKNOWLEDGED and content.notifiable and not outcome.planned:
                outcome.planned = self._to_everyone(state, "acknowledged")
        if changed and content.notifiable and not outcome.planned:
            # A change that leaves nothing to show (every alert silenced or inhibited) sends
            # nothing: the receivers hear again when an alert is unmuted or resolves.
            outcome.planned = self._update(state, content)
        return outcome

    def on_acknowledged(self, state: EscalationState, content: GroupContent) -> Outcome:
        """Stop the escalation once every notifiable alert is acknowledged, and tell everyone."""
        if not state.has_started or content.has_unacknowledged or not content.notifiable:
            return Outcome()
        outcome = Outcome(planned=self._to_everyone(state, "acknowledged"))
        if state.stopped is None:
            outcome.steps.append(self._stop(state, STOPPED_ACKNOWLEDGED))
        return outcome

    def advance(self, state: EscalationState, content: GroupContent, now: float) -> Outcome:
        """Run every step due at `now`: tiers, repeats and new passes."""
        outcome = Outcome()
        policy = self.policies.get(state.policy)
        if policy is None or not state.has_started or state.stopped is not None:
            return outcome
        for _ in range(MAX_STEPS_PER_ADVANCE):
            due = self._next_step(state, policy)
            if due is None or due[0] > now:
                break
            if not content.has_unacknowledged:
                outcome.steps.append(self._stop(state, self._stop_reason(content)))
                break
            outcome.extend(self._run_step(state, policy, due[1], now))
            if state.stopped is not None:
                break
        return outcome

    def next_due(self, state: EscalationState) -> float | None:
        """Return when the next step is due, or None when none is."""
        policy = self.policies.get(state.policy)
        if policy is None or not state.has_started or state.stopped is not None:
            return None
        due = self._next_step(state, policy)
        return due[0] if due is not None else None

    def _start(self, state: EscalationState, content: GroupContent, now: float) -> Outcome:
        state.started_at = state.started_at if state.started_at is not None else now
        state.stopped = None
        state.run_notified = []
        self._begin_pass(state, 0, now)
        policy = self.policies.get(state.policy)
        if policy is None:
            return Outcome(steps=[Step("stopped", None, f"policy {state.policy} not found")])
        outcome = Outcome(steps=[Step("started", None)])
        outcome.extend(self.advance(state, content, now))
        return outcome

    @staticmethod
    def _begin_pass(state: EscalationState, index: int, now: float) -> None:
        state.pass_index = index
        state.pass_started_at = now
        state.next_tier = 0
        state.current_tier = None
        state.last_sent_at = None

    def _next_step(self, state: EscalationState, policy: Policy) -> tuple[float, str] | None:
        """Return the earliest step as (time, kind); a tier wins a tie with a repeat."""
        candidates: list[tuple[float, int, str]] = []
        if state.next_tier < len(policy.tiers):
            tier = policy.tiers[state.next_tier]
            candidates.append((state.pass_started_at + tier.after, 0, "tier"))
        repeat = self._repeat_interval(state, policy)
        if repeat is not None and state.last_sent_at is not None:
            candidates.append((state.last_sent_at + repeat, 1, "repeat"))
        if state.pass_index + 1 < policy.loops and policy.loop_after is not None:
            candidates.append((state.pass_started_at + policy.loop_after, 2, "loop"))
        if not candidates:
            return None
        time, _, kind = min(candidates)
        return time, kind

    @staticmethod
    def _repeat_interval(state: EscalationState, policy: Policy) -> float | None:
        if state.current_tier is None or state.current_tier >= len(policy.tiers):
            return None
        return policy.tiers[state.current_tier].repeat

    def _run_step(self, state: EscalationState, policy: Policy, kind: str,
                  now: float) -> Outcome:
        if kind == "loop":
            self._begin_pass(state, state.pass_index + 1, now)
            return Outcome(steps=[Step("loop", None, f"pass {state.pass_index + 1}")])
        if kind == "repeat":
            assert state.current_tier is not None
            return self._notify_tier(state, policy.tiers[state.current_tier],
                                     state.current_tier, "repeat", now)
        index = state.next_tier
        state.next_tier += 1
        return self._notify_tier(state, policy.tiers[index], index, "tier", now)

    def _notify_tier(self, state: EscalationState, tier: Tier, index: int, kind: str,
                     now: float) -> Outcome:
        number = index + 1
        if kind == "tier":
            state.current_tier = index
        state.last_sent_at = now
        if not tier.is_active(now):
            return Outcome(steps=[Step("skipped", number, "outside the tier's time windows")])
        state.sequence += 1
        planned = []
        for receiver in tier.receivers:
            event = "repeat" if receiver in state.run_notified else "firing"
            planned.append(Planned(receiver, event, number, state.sequence))
            state.notified.setdefault(receiver, number)
            if receiver not in state.run_notified:
                state.run_notified.append(receiver)
        outcome = Outcome(planned=planned, steps=[Step(kind, number)])
        if tier.handoff:
            outcome.steps.append(self._stop(state, STOPPED_HANDOFF))
        return outcome

    def _to_everyone(self, state: EscalationState, event: str) -> list[Planned]:
        if not state.notified:
            return []
        state.sequence += 1
        return [Planned(receiver, event, tier, state.sequence)
                for receiver, tier in state.notified.items()]

    def _update(self, state: EscalationState, content: GroupContent) -> list[Planned]:
        """Plan an update for this run's receivers: `acknowledged` when no shown alert fires."""
        if not state.run_notified:
            return []
        state.sequence += 1
        event = "firing" if content.has_unacknowledged else "acknowledged"
        return [Planned(receiver, event, state.notified.get(receiver, 0), state.sequence)
                for receiver in state.run_notified]

    @staticmethod
    def _stop_reason(content: GroupContent) -> str:
        """Return why an escalation with no unacknowledged notifiable alert stops.

        It is `acknowledged` when every active alert is acknowledged, and `muted` when an
        unacknowledged one is left but silenced or inhibited.
        """
        return STOPPED_MUTED if content.firing else STOPPED_ACKNOWLEDGED

    @staticmethod
    def _stop(state: EscalationState, reason: str) -> Step:
        state.stopped = reason
        return Step("stopped", None, reason)

