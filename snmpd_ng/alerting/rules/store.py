"""The last two samples of every series, by target and metric, for the rules to read.

Two samples are all that `rate()` and `delta()` need, and the time a series last arrived is
all that `absent_for()` needs, so memory grows with the number of series, never with time.
Series are grouped by target because every rule that matches series on the target label (all
but those with `on(...)` without `target`) needs only the target whose result arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from snmpd_ng.alerting.series import REBOOTED, REBOOTS, LabelKey, Sample
from snmpd_ng.metrics.values import SampleKind


class Point:
    """One value of a series: the number, when it was fetched, and the target's reboot count."""

    __slots__ = ("at", "reboots", "value")

    def __init__(self, value: float, at: float, reboots: int) -> None:
        self.value = value
        self.at = at
        self.reboots = reboots


class Series:
    """One series: its identity, its last two points, and how current it is."""

    __slots__ = ("expires_at", "key", "kind", "labels", "last", "name", "previous",
                 "received_at", "target", "type")

    def __init__(self, sample: Sample, received_at: float) -> None:
        self.name = sample.name
        self.target = sample.target
        self.labels: Mapping[str, str] = sample.labels
        self.key: LabelKey = sample.key
        self.type = sample.type
        self.kind: SampleKind = sample.kind
        self.last = Point(sample.value, sample.at, sample.reboots)
        self.previous: Point | None = None
        self.expires_at = sample.expires_at
        self.received_at = received_at
        """Clock time the last sample of the series arrived, for `absent_for`."""

    def is_current(self, now: float) -> bool:
        return self.expires_at >= now

    def update(self, sample: Sample, received_at: float) -> None:
        """Make `sample` the last point, unless it is the last point served again.

        A table served from the cache comes back with its old fetch time: it confirms the
        series (for `absent_for` and staleness) but is no new point for `rate()`.
        """
        if sample.at > self.last.at:
            self.previous = self.last
            self.last = Point(sample.value, sample.at, sample.reboots)
        self.type = sample.type
        self.kind = sample.kind
        self.expires_at = max(self.expires_at, sample.expires_at)
        self.received_at = received_at


MetricSeries = dict[LabelKey, Series]
"""The series of one metric of one target, by their labels."""


class SeriesStore:
    """Every series the rules engine received, by target, metric name and labels."""

    def __init__(self) -> None:
        self.targets: dict[str, dict[str, MetricSeries]] = {}

    def add(self, sample: Sample, now: float) -> None:
        """Store `sample` as the newest point of its series; `now` is when it arrived."""
        metrics = self.targets.get(sample.target)
        if metrics is None:
            metrics = self.targets[sample.target] = {}
        by_key = metrics.get(sample.name)
        if by_key is None:
            by_key = metrics[sample.name] = {}
        series = by_key.get(sample.key)
        if series is None:
            series = by_key[sample.key] = Series(sample, now)
        else:
            series.update(sample, now)

        if sample.name == REBOOTS:
            self._derive_rebooted(series, sample, metrics, now)

    def _derive_rebooted(self, reboots: Series, sample: Sample, metrics: dict[str, MetricSeries],
                         now: float) -> None:
        # 1 while the newest `reboots` point is above the one before it: from the result that saw
        # the reboot until the target's next result.
        previous = reboots.previous
        went_up = previous is not None and reboots.last.value > previous.value
        derived = Sample(REBOOTED, sample.labels, 1 if went_up else 0, sample.type, "gauge",
                         sample.at, sample.wall, sample.expires_at, sample.reboots, sample.key)
        by_key = metrics.setdefault(REBOOTED, {})
        series = by_key.get(sample.key)
        if series is None:
            by_key[sample.key] = Series(derived, now)
        else:
            series.update(derived, now)

    def metric(self, target: str, name: str) -> Mapping[LabelKey, Series]:
        """Return the series of metric `name` of `target`."""
        return self.targets.get(target, {}).get(name, {})

    def all_series(self, name: str) -> Iterator[Series]:
        """Yield the series of metric `name` of every target."""
        for metrics in self.targets.values():
            by_key = metrics.get(name)
            if by_key:
                yield from by_key.values()

    def forget_target(self, target: str) -> None:
        self.targets.pop(target, None)

    def replace_target(self, target: str, series: Iterable[Series]) -> None:
        """Make `series` the only series of `target`, as when another node hands it over."""
        metrics: dict[str, MetricSeries] = {}
        for item in series:
            metrics.setdefault(item.name, {})[item.key] = item
        if metrics:
            self.targets[target] = metrics
        else:
            self.targets.pop(target, None)

    def drop_unseen(self, cutoff: float) -> int:
        """Drop the series that last arrived before `cutoff`; return how many were dropped."""
        dropped = 0
        for target, metrics in list(self.targets.items()):
            for name, by_key in list(metrics.items()):
                for key in [key for key, series in by_key.items() if series.received_at < cutoff]:
                    del by_key[key]
                    dropped += 1
                if not by_key:
                    del metrics[name]
            if not metrics:
                del self.targets[target]
        return dropped

    def series_count(self) -> int:
        return sum(len(by_key) for metrics in self.targets.values() for by_key in metrics.values())
