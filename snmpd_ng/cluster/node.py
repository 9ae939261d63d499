"""One node of the cluster: heartbeats, assignment, target leases, self-fencing.

Theory of operation. Every heartbeat interval the node runs one HEARTBEAT script, which renews
its membership lease, removes dead members, renews the leader lease and returns the live members.
The node then computes the rendezvous assignment over the eligible members, and runs one LEASES
script that acquires or renews the leases of its targets and releases those it no longer owns.
Polling calls `claim()` before each poll, which decides from local state with no round trip, and
`commit()` after it, which writes the poll record only while the lease still holds (the fencing
check).

When Redis cannot be reached, nothing is renewed: the leases' local deadlines pass, claims stop
once the time left is shorter than a poll's budget plus the margin, and after the last deadline
the node is fenced (it polls nothing). When Redis responds again, the node rejoins as a new member,
waits out the join delay like any new node, and takes its share back. No restart is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import structlog

from snmpd_ng.clock import Clock
from snmpd_ng.cluster.assignment import Member, assign, eligible_members
from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.ownership import Claim, LeaseChanges, Ownership, QuietCheck
from snmpd_ng.cluster.redis_conn import (
    REDIS_ERRORS,
    RedisClient,
    describe,
    explain_redis_error,
    persistence_warning,
)
from snmpd_ng.cluster.reply import reply_number, reply_text
from snmpd_ng.cluster.scripts import COMMIT_POLL, HEARTBEAT, LEASES, LEAVE
from snmpd_ng.cluster.settings import ClusterSettings
from snmpd_ng.cluster.status import ClusterStatus
from snmpd_ng.ratelimit import WarningLimiter

log = structlog.get_logger(__name__)

POLL_LOG_LENGTH = 100_000
"""Entries kept in the `polls` stream (approximately: Redis trims whole blocks)."""
LOGGED_TARGETS = 10
"""Target names a log line lists at most; the counts cover all of them."""
STOP_TIMEOUT = 2.0
"""Seconds the leave at stop may take; after it, the leases simply expire."""

ChangeListener = Callable[[LeaseChanges], None]
ReleaseHook = Callable[[frozenset[str]], Awaitable[None]]


@dataclass(slots=True)
class NodeCounters:
    """This node's totals since start, for /metrics and the member hash."""

    heartbeats: int = 0
    heartbeat_failures: int = 0
    lease_requests_failed: int = 0
    commits: int = 0
    commits_rejected: int = 0
    """Polls whose record was refused because the lease had passed to another node."""
    commit_failures: int = 0
    """Polls whose record could not be written (Redis unreachable)."""
    rejoins: int = 0
    fenced_episodes: int = 0
    last_heartbeat_rtt: float = 0.0


@dataclass(frozen=True, slots=True)
class PollTotals:
    """Polling totals that the node writes into its member hash at each heartbeat."""

    polls: int
    poll_errors: int
    targets_up: int


class PollRate:
    """Polls per second over the whole cluster, from two successive snapshots of the totals.

    A member that leaves takes its total with it, so a drop of the sum is no rate: the last rate
    stays in place.
    """

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None
        self.value = 0.0

    def update(self, now: float, total: int) -> None:
        if self._last is not None:
            then, previous = self._last
            if now > then and total >= previous:
                self.value = (total - previous) / (now - then)
        self._last = (now, total)


def software_version() -> str:
    try:
        return version("snmpd-ng")
    except PackageNotFoundError:
        return "unknown"


class ClusterNode:
    """The cluster side of one daemon: owns its Redis state and answers polling's questions."""

    def __init__(self, settings: ClusterSettings, *, node_id: str, targets: Collection[str],
                 client: RedisClient, clock: Clock,
                 poll_totals: Callable[[], PollTotals] | None = None,
                 failover_bound: float | None = None) -> None:
        self.settings = settings
        self.node_id = node_id
        self.failover_bound = failover_bound
        """Seconds within which a dead node's targets are polled again (reported only)."""
        self.keys = Keys(settings.redis.key_prefix)
        self.counters = NodeCounters()
        self.ownership = Ownership(node_id, settings.lease_margin)
        self._targets = sorted(targets)
        self._client = client
        self._clock = clock
        self._poll_totals = poll_totals
        self._listeners: list[ChangeListener] = []
        self._quiet: QuietCheck = _always_quiet
        self._before_release: ReleaseHook | None = None
        self._task: asyncio.Task[None] | None = None
        self._warnings = WarningLimiter()
        self._heartbeat_script = client.register_script(HEARTBEAT)
        self._leases_script = client.register_script(LEASES)
        self._leave_script = client.register_script(LEAVE)
        self._commit_script = client.register_script(COMMIT_POLL)
        self._members: tuple[Member, ...] = ()
        self._eligible: tuple[Member, ...] = ()
        self._last_ok: float | None = None
        """Local monotonic time of the last heartbeat that Redis replied to."""
        self._joined = False
        self._fenced = False
        self._checked_persistence = False
        self.leader: str | None = None
        self._leader_until = 0.0
        """Local monotonic time until which this node's leader lease surely holds."""
        self.config_mismatch = False
        self._mismatch_to_explain: str | None = None
        """A member with the majority's config, whose sections the next beat compares."""
        self.instance = secrets.token_hex(8)
        """Tells this process from another one started with the same node id by mistake."""
        self.duplicate_of: str | None = None
        """Instance id of the other live process that uses this node id, None when there is none."""
        self.snapshot: ClusterStatus | None = None
        self.poll_rate = PollRate()
        self.last_heartbeat_error: str | None = None
        """Cause of the last heartbeat failure (unreachable, a rejected login, ...), or None
        after a heartbeat that Redis replied to."""

    # Life cycle

    async def start(self) -> None:
        """Start the heartbeat task; Redis may still be down, the task keeps trying."""
        log.info("cluster node starting", node=self.node_id, redis=describe(self.settings.redis),
                 lease_ttl=self.settings.lease_ttl,
                 heartbeat_interval=self.settings.heartbeat_seconds,
                 join_delay=self.settings.join_delay_seconds,
                 failover_bound=self.failover_bound)
        self._task = asyncio.create_task(self._loop(), name="snmpd-ng cluster heartbeat")

    async def stop(self) -> None:
        """Stop heartbeats, release the leases and leave, so that others take over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                ttl_ms = str(int(self.settings.lease_ttl * 1000))
                await self._leases_script(keys=[self.keys.members],
                                          args=[self.keys.base, self.node_id, ttl_ms, "0",
                                                *sorted(self.ownership.held)])
                await self._leave_script(keys=[self.keys.members],
                                         args=[self.keys.base, self.node_id, self.instance])
        except (*REDIS_ERRORS, TimeoutError) as exc:
            log.warning("cluster leave failed; the leases will expire instead",
                        node=self.node_id, error=self._explain(exc))
        self.ownership.held.clear()
        log.info("cluster node stopped", node=self.node_id)

    def add_listener(self, listener: ChangeListener) -> None:
        """Call `listener` with the targets gained and lost after each lease change."""
        self._listeners.append(listener)

    def set_quiet_check(self, quiet: QuietCheck) -> None:
        """Ask `quiet(target, window)` before releasing a target that moved away.

        Polling decides from its schedules whether no slot of the target is due within the
        window. Without it, a target is released at the first heartbeat after it moved.
        """
        self._quiet = quiet

    def set_release_hook(self, hook: ReleaseHook) -> None:
        """Await `hook(targets)` before releasing targets that moved away, with a timeout.

        The alerting rules save the targets' rule state there, while this node still holds
        the leases that the save's fencing checks.
        """
        self._before_release = hook

    def set_poll_totals(self, source: Callable[[], PollTotals]) -> None:
        """Read the polling totals for the member hash from `source` at each heartbeat."""
        self._poll_totals = source

    @property
    def targets(self) -> list[str]:
        """Every target of the config, whichever node polls it."""
        return self._targets

    def update_targets(self, targets: Collection[str]) -> None:
        """Take the target list of a reloaded config; applies at the next heartbeat."""
        self._targets = sorted(targets)

    # Questions from polling

    def claim(self, target: str, budget: float) -> Claim | None:
        return self.ownership.claim(target, budget, self._clock.now())

    def finish(self, claim: Claim) -> None:
        self.ownership.finish(claim)

    def owns(self, target: str) -> bool:
        return self.ownership.owns(target, self._clock.now())

    def owned(self) -> frozenset[str]:
        return self.ownership.owned(self._clock.now())

    def lease_value(self, target: str) -> str | None:
        """Return the value of the target's lease key while this node holds it, else None.

        The shared cache passes it with each write, which Redis makes only while the lease key
        still has that value.
        """
        lease = self.ownership.held.get(target)
        if lease is None or lease.deadline <= self._clock.now():
            return None
        return f"{self.node_id} {lease.token}"

    @property
    def joined(self) -> bool:
        return self._joined

    @property
    def fenced(self) -> bool:
        return self._fenced

    @property
    def is_leader(self) -> bool:
        """True while this node holds the leader lease, by its own clock.

        The lease counts from when the heartbeat that renewed it was sent, less the margin, so
        a node that stalled (a stopped process, a long pause) stops acting as the leader before
        Redis hands the lease to another node.
        """
        return (self.leader == self.node_id and not self._fenced
                and self._clock.now() < self._leader_until)

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    async def commit(self, claim: Claim, fields: dict[str, str]) -> bool:
        """Write the poll's record if the lease still holds; return False when fenced off.

        `fields` must hold "job" and "slot" (the slot's Unix time as text), which make the
        record idempotent; the others are stored as they are.

        A Redis failure is counted and returns True, because the local lease was valid when the
        poll started and its deadline covers the poll's budget: the result is valid.
        """
        args = [self.keys.base, claim.target, claim.lease_value, str(POLL_LOG_LENGTH),
                fields.get("job", ""), fields.get("slot", "")]
        for name, value in fields.items():
            if name not in ("job", "slot"):
                args += [name, value]
        try:
            written = await self._commit_script(keys=[self.keys.members], args=args)
        except REDIS_ERRORS as exc:
            self.counters.commit_failures += 1
            self._warn("commit", "cluster poll record not written", error=self._explain(exc))
            return True
        if written:
            self.counters.commits += 1
            return True
        self.counters.commits_rejected += 1
        self._warn(f"fenced:{claim.target}", "cluster poll result dropped: the lease passed "
                   "to another node during the poll", target=claim.target, token=claim.token)
        return False

    async def last_slots(self, keys: Sequence[tuple[str, str]]
                         ) -> dict[tuple[str, str], float | None]:
        """Return the slot (Unix seconds) of the last recorded poll of each (target, job).

        One read for all of them, so that a node taking over many targets learns their slots
        at once. None for a pair without a record, and for every pair when Redis fails (the
        caller then waits for the next slots, as without a record).
        """
        if not keys:
            return {}
        fields = [self.keys.slot_field(target, job) for target, job in keys]
        try:
            replies = await self._client.hmget(self.keys.slots, fields)
        except REDIS_ERRORS as exc:
            self._warn("last-slot", "cluster last poll slots not read", pairs=len(keys),
                       error=self._explain(exc))
            return dict.fromkeys(keys)
        return {key: _slot_of(reply) for key, reply in zip(keys, replies, strict=True)}

    # The heartbeat loop

    async def _loop(self) -> None:
        interval = self.settings.heartbeat_seconds
        while True:
            started = self._clock.now()
            try:
                await self.beat()
            except Exception as exc:  # The loop must outlive any fault of one beat.
                log.error("cluster heartbeat step failed", node=self.node_id, error=repr(exc),
                          exc_info=exc)
            await self._clock.sleep_until(started + interval)

    async def beat(self) -> None:
        """Run one heartbeat: membership, assignment, leases, then the status snapshot."""
        sent_at = self._clock.now()
        try:
            reply = await self._heartbeat_script(keys=[self.keys.members],
                                                 args=self._heartbeat_args())
        except REDIS_ERRORS as exc:
            self._on_redis_failure(exc, sent_at)
            return
        self.counters.last_heartbeat_rtt = self._clock.now() - sent_at
        self.counters.heartbeats += 1
        if reply_text(reply[0]) == "conflict":
            self._on_duplicate_id(reply_text(reply[2]))
            return
        if self.duplicate_of is not None:
            log.info("cluster node id free again: this process joins", node=self.node_id)
            self.duplicate_of = None
        now_ms = self._read_members(reply)
        if self._mismatch_to_explain is not None:
            await self._explain_config_mismatch(self._mismatch_to_explain)
        if self.leader == self.node_id:
            self._leader_until = sent_at + self.settings.lease_ttl - self.settings.lease_margin
        await self._on_redis_back()

        self._update_assignment(now_ms)
        await self._update_leases()
        await self._refresh_snapshot()

    def _heartbeat_args(self) -> list[str]:
        totals = self._poll_totals() if self._poll_totals is not None else PollTotals(0, 0, 0)
        fields = {
            "address": self.settings.advertise_url or "",
            "capacity": repr(self.settings.capacity),
            "version": software_version(),
            "config_hash": self.settings.config_hash,
            "config_sections": self.settings.config_sections,
            "owned": str(len(self.ownership.held)),
            "polls_total": str(totals.polls),
            "poll_errors_total": str(totals.poll_errors),
            "targets_up": str(totals.targets_up),
            "heartbeat_rtt_ms": f"{self.counters.last_heartbeat_rtt * 1000:.1f}",
        }
        ttl_ms = int(self.settings.lease_ttl * 1000)
        # Two heartbeats without one from the other process: it has stopped.
        stale_ms = int(2 * self.settings.heartbeat_seconds * 1000)
        args = [self.keys.base, self.node_id, str(ttl_ms), self.instance, str(stale_ms)]
        for name, value in fields.items():
            args += [name, value]
        return args

    def _read_members(self, reply: Sequence[object]) -> int:
        """Parse the HEARTBEAT reply into the member list; return Redis's time in ms."""
        now_ms = int(reply_text(reply[0]))
        self.leader = reply_text(reply[1]) or None
        members = []
        for i in range(2, len(reply) - 3, 4):
            members.append(Member(
                node_id=reply_text(reply[i]),
                joined_ms=int(reply_number(reply[i + 1], now_ms)),
                capacity=_positive(reply_number(reply[i + 2], 1.0), 1.0),
                config_hash=reply_text(reply[i + 3]),
            ))
        self._log_membership_changes(members)
        self._members = tuple(members)
        self._check_config_hash()
        return now_ms

    def _log_membership_changes(self, members: Sequence[Member]) -> None:
        before = {member.node_id for member in self._members}
        after = {member.node_id for member in members}
        if before and before != after:
            log.info("cluster membership changed", node=self.node_id,
                     joined=sorted(after - before), left=sorted(before - after),
                     members=len(after))

    def _check_config_hash(self) -> None:
        """Compare this node's config hash with the majority's (the leader's on a tie)."""
        counts = Counter(member.config_hash for member in self._members)
        if not counts:
            return
        ranked = counts.most_common()
        majority = ranked[0][0]
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            leaders = [m.config_hash for m in self._members if m.node_id == self.leader]
            majority = leaders[0] if leaders else majority
        mismatch = majority != self.settings.config_hash
        if mismatch and not self.config_mismatch:
            # Logged at the next step of the heartbeat, with the sections that differ.
            self._mismatch_to_explain = next(
                (m.node_id for m in self._members if m.config_hash == majority), None)
        elif self.config_mismatch and not mismatch:
            log.info("cluster config matches the other nodes' again", node=self.node_id)
        self.config_mismatch = mismatch

    async def _explain_config_mismatch(self, other: str) -> None:
        """Log the config mismatch with the sections that differ from member `other`'s."""
        from snmpd_ng.config.cluster import differing_sections

        self._mismatch_to_explain = None
        try:
            theirs = reply_text(await self._client.hget(self.keys.member(other),
                                                        "config_sections"))
        except REDIS_ERRORS as exc:
            theirs = ""
            self._warn("config-sections", "cluster config sections not read",
                       error=self._explain(exc))
        sections = differing_sections(self.settings.config_sections, theirs) if theirs else []
        log.error("cluster config differs from the other nodes'; load the same config file "
                  "on every node", node=self.node_id, config_hash=self.settings.config_hash,
                  cluster_config_hash=next((m.config_hash for m in self._members
                                            if m.node_id == other), ""),
                  compared_with=other, differing_sections=sections or "unknown")

    def _update_assignment(self, now_ms: int) -> None:
        """Give this node the targets the rendezvous hash assigns it among eligible members."""
        delay_ms = self.settings.join_delay_seconds * 1000
        self._eligible = eligible_members(self._members, now_ms, delay_ms)
        nodes = [(member.node_id, member.capacity) for member in self._eligible]
        owners = assign(self._targets, nodes)
        self.ownership.set_desired(t for t, owner in owners.items() if owner == self.node_id)

    async def _update_leases(self) -> None:
        # The new owner acquires a released target at its next heartbeat, so no slot of it may
        # be due before then (plus the margin).
        window = self.settings.heartbeat_seconds + self.settings.lease_margin
        hold, release = self.ownership.to_request(self._clock.now(), self._quiet, window,
                                                  self.settings.lease_ttl)
        if release:
            await self._run_release_hook(release)
        ttl_ms = int(self.settings.lease_ttl * 1000)
        args = [self.keys.base, self.node_id, str(ttl_ms), str(len(hold)), *hold, *release]
        sent_at = self._clock.now()
        try:
            tokens = await self._leases_script(keys=[self.keys.members], args=args)
        except REDIS_ERRORS as exc:
            self.counters.lease_requests_failed += 1
            self._warn("leases", "cluster lease request failed", error=self._explain(exc))
            return
        changes = self.ownership.apply(hold, [int(t) for t in tokens], release, sent_at,
                                       self.settings.lease_ttl)
        self._notify(changes)

    async def _run_release_hook(self, targets: Sequence[str]) -> None:
        if self._before_release is None:
            return
        try:
            # Half a heartbeat, so that the leases are still renewed on time.
            async with asyncio.timeout(self.settings.heartbeat_seconds / 2):
                await self._before_release(frozenset(targets))
        except Exception as exc:  # The release goes ahead, and the hook's own log has the details.
            self._warn("release-hook", "cluster release hook failed", error=repr(exc),
                       targets=len(targets))

    def _notify(self, changes: LeaseChanges) -> None:
        if not changes.gained and not changes.lost:
            return
        log.info("cluster targets moved", node=self.node_id, gained=len(changes.gained),
                 lost=len(changes.lost), owned=len(self.ownership.held),
                 gained_targets=sorted(changes.gained)[:LOGGED_TARGETS],
                 lost_targets=sorted(changes.lost)[:LOGGED_TARGETS])
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception as exc:  # A listener's fault must not stop the heartbeats.
                log.error("cluster change listener failed", error=repr(exc), exc_info=exc)

    async def _refresh_snapshot(self) -> None:
        from snmpd_ng.cluster.status_reader import read_status

        try:
            self.snapshot = await read_status(
                self._client, self.keys, redis=describe(self.settings.redis),
                targets=self._targets, join_delay=self.settings.join_delay_seconds,
                self_id=self.node_id, config_hash=self.settings.config_hash,
                fenced=self._fenced)
        except REDIS_ERRORS as exc:
            self._warn("status", "cluster status not read", error=self._explain(exc))
            return
        total = sum(member.polls_total for member in self.snapshot.members)
        self.poll_rate.update(self._clock.now(), total)

    def _on_duplicate_id(self, other: str) -> None:
        """Poll nothing while another live process uses this node id."""
        if self.duplicate_of is None:
            log.error("another snmpd-ng process is running with this node id; this one polls "
                      "nothing until that one stops. Give each node its own cluster.node_id "
                      "or state_dir", node=self.node_id, instance=self.instance,
                      other_instance=other)
        self.duplicate_of = other
        self._joined = False
        lapsed = frozenset(self.ownership.held)
        self.ownership.held.clear()
        if lapsed:
            self._notify(LeaseChanges(frozenset(), lapsed))

    # Redis lost and found

    def _on_redis_failure(self, exc: BaseException, sent_at: float) -> None:
        self.counters.heartbeat_failures += 1
        self.last_heartbeat_error = self._explain(exc)
        effect = "polling continues until the leases end" if self.ownership.held else "no leases"
        self._warn("heartbeat", "cluster heartbeat failed", effect=effect,
                   error=self._explain(exc))
        now = self._clock.now()
        lapsed = self.ownership.expire(now)
        if lapsed:
            self._notify(LeaseChanges(frozenset(), lapsed))
        if not self._fenced and not self.ownership.held and self._joined:
            self._fenced = True
            self._joined = False
            self.counters.fenced_episodes += 1
            log.error("cluster node fenced", node=self.node_id,
                      effect="Redis failed for longer than the lease: polling stopped until it "
                             "answers again",
                      redis=describe(self.settings.redis), error=self._explain(exc))
        if self.snapshot is not None and self._fenced:
            self.snapshot = _with_fenced(self.snapshot)

    async def _on_redis_back(self) -> None:
        self._last_ok = self._clock.now()
        self.last_heartbeat_error = None
        if self._fenced:
            self._fenced = False
            self.counters.rejoins += 1
            log.info("cluster node rejoined: Redis responds again", node=self.node_id)
        if not self._joined:
            self._joined = True
            log.info("cluster joined", node=self.node_id, members=len(self._members))
        if not self._checked_persistence:
            await self._check_persistence()

    async def _check_persistence(self) -> None:
        try:
            warning = await persistence_warning(self._client)
        except Exception as exc:  # Checked again at the next heartbeat.
            log.warning("cluster persistence check failed", error=self._explain(exc))
            return
        self._checked_persistence = True
        if warning is not None:
            log.warning("redis persistence", warning=warning,
                        redis=describe(self.settings.redis))

    def _explain(self, exc: BaseException) -> str:
        return explain_redis_error(self.settings.redis, exc)

    def _warn(self, kind: str, event: str, **fields: object) -> None:
        suppressed = self._warnings.admit(kind, self._clock.now())
        if suppressed is not None:
            log.warning(event, node=self.node_id, suppressed=suppressed, **fields)

    def eligible_members(self) -> tuple[Member, ...]:
        return self._eligible


def _with_fenced(status: ClusterStatus) -> ClusterStatus:
    from dataclasses import replace

    return replace(status, fenced=True)


def _slot_of(recorded: object) -> float | None:
    """Return the slot of a `slots` value ("<slot> <lease value>"), None when there is none."""
    if recorded is None:
        return None
    try:
        return float(reply_text(recorded).split(" ", 1)[0])
    except ValueError:
        return None


def _positive(value: float, default: float) -> float:
    return value if value > 0 else default


def _always_quiet(target: str, window: float) -> bool:
    return True
