"""Pre-rendered sample lines of every metric family, kept per part and joined on each scrape.

A part is the scalars of one job on one target, or one table of it. When a part's result
arrives, its sample lines are written once per family (a `FamilyChunk`) and replace the part's
previous chunks. A render then writes, for each family in name order, its HELP and TYPE lines
followed by its chunks in part order. So the samples of one name stay under one TYPE line
across targets, as the text format requires, and a scrape costs a join of ready-made bytes
rather than the formatting of every sample.

One name must have one type. When parts give a name two types, the chunks of the type first
in `TYPE_ORDER` are rendered and the others are left out. The conflict is counted and logged
once, when it appears.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from snmpd_ng.metrics.exposition import format_header, format_labels, format_value

log = structlog.get_logger(__name__)

PartKey = tuple[str, str, str]
"""Target, job and part name (the scalars part, or a table name)."""

TYPE_ORDER = ("counter", "gauge", "untyped")
"""Family types by precedence when parts give one name different types. A counter wins
because `rate()` on it stays right whichever part was polled with the wrong type."""


@dataclass(frozen=True, slots=True)
class FamilyChunk:
    """The samples that one part contributes to one family, as lines and as values."""

    name: str
    type: str
    """"counter", "gauge" or "untyped", as written on the TYPE line."""
    help: str
    text: bytes
    """Sample lines in the text format, each ending in a line feed, UTF-8."""
    labels: Sequence[Mapping[str, str]]
    """Labels of each sample, in line order; the prometheus-client view reads them."""
    values: Sequence[int | float]
    """Value of each sample, in line order."""


class FamilyLines:
    """The samples of one family in one part, while the part is being built."""

    __slots__ = ("help", "labels", "lines", "name", "type", "values")

    def __init__(self, name: str, family_type: str, help_text: str) -> None:
        self.name = name
        self.type = family_type
        self.help = help_text
        self.lines: list[str] = []
        self.labels: list[Mapping[str, str]] = []
        self.values: list[int | float] = []

    def add(self, labels: Mapping[str, str], label_text: str, value: int | float) -> None:
        """Add a sample; `label_text` is `format_labels(labels)` plus a space, made by the
        caller so that a row's samples in every column share it."""
        self.lines.append(f"{self.name}{label_text}{format_value(value)}\n")
        self.labels.append(labels)
        self.values.append(value)

    def add_integer(self, labels: Mapping[str, str], label_text: str, value: int) -> None:
        """Add a sample of an int (or int subclass) value: `add` without its type checks."""
        self.lines.append(f"{self.name}{label_text}{int.__repr__(value)}\n")
        self.labels.append(labels)
        self.values.append(value)

    def chunk(self) -> FamilyChunk:
        text = "".join(self.lines).encode()
        return FamilyChunk(self.name, self.type, self.help, text, self.labels, self.values)


class FamilyLinesBuilder:
    """Families by name in first-use order, built one sample at a time."""

    def __init__(self) -> None:
        self.families: dict[str, FamilyLines] = {}
        self._last_labels: Mapping[str, str] | None = None
        self._last_label_text = ""

    def add(self, name: str, family_type: str, help_text: str, labels: Mapping[str, str],
            value: int | float) -> None:
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = FamilyLines(name, family_type, help_text)
        # Callers pass one labels object, unchanged, for most of a part's samples, so it is
        # formatted once.
        if labels is not self._last_labels:
            self._last_labels = labels
            self._last_label_text = format_labels(labels) + " "
        family.add(labels, self._last_label_text, value)

    def chunks(self) -> dict[str, FamilyChunk]:
        return {name: family.chunk() for name, family in self.families.items() if family.lines}

    def render(self) -> bytes:
        """Return every family, header and samples, in first-use order."""
        pieces = []
        for name, family in self.families.items():
            pieces.append(format_header(name, family.help, family.type))
            pieces.extend(family.lines)
        return "".join(pieces).encode()


@dataclass(slots=True)
class _Family:
    chunks: dict[PartKey, FamilyChunk] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    """Chunks per type; more than one non-zero entry is a conflict."""
    sorted_keys: list[PartKey] | None = None
    """Part keys in render order, None after a part was added or removed."""
    header: tuple[str, str, bytes] | None = None
    """The last HELP and TYPE lines, cached with the help text and type they were made of."""

    def chosen_type(self) -> str:
        # NOTE: stale parts count here too, so a stale counter part still keeps a gauge part of
        # the same name out until the stale part is removed or polled again.
        return next(name for name in TYPE_ORDER if self.type_counts.get(name))

    def has_conflict(self) -> bool:
        return sum(1 for count in self.type_counts.values() if count) > 1

    def render_keys(self) -> list[PartKey]:
        keys = self.sorted_keys
        if keys is None:
            keys = self.sorted_keys = sorted(self.chunks)
        return keys

    def header_bytes(self, name: str, help_text: str, family_type: str) -> bytes:
        cached = self.header
        if cached is not None and cached[0] == help_text and cached[1] == family_type:
            return cached[2]
        header = format_header(name, help_text, family_type).encode()
        self.header = (help_text, family_type, header)
        return header


class FamilyIndex:
    """Every family's chunks by part, replaced part by part and joined by `render`.

    A render may run on another thread than `replace_part`: chunks are immutable and replaced
    as a whole, and the render iterates over copies of the dictionaries it reads.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._part_names: dict[PartKey, tuple[str, ...]] = {}
        self._sorted_names: list[str] | None = None
        self.type_conflicts = 0
        """Times a metric name was given a second type, counted when the conflict appears."""

    def replace_part(self, key: PartKey, chunks: Mapping[str, FamilyChunk]) -> None:
        """Replace every chunk of the part `key` with `chunks`, keyed by family name."""
        for name in self._part_names.get(key, ()):
            if name not in chunks:
                self._drop_chunk(name, key)
        for name, chunk in chunks.items():
            self._put_chunk(name, key, chunk)
        self._part_names[key] = tuple(chunks)

    def remove_part(self, key: PartKey) -> None:
        for name in self._part_names.pop(key, ()):
            self._drop_chunk(name, key)

    def render(self, skip: Container[PartKey] = ()) -> list[bytes]:
        """Return the exposition as pieces to join: each family's header, then its chunks.

        Chunks of the parts in `skip` (the stale ones) are left out, and so is a family left
        with no chunk.
        """
        pieces: list[bytes] = []
        for name, family in self._families_in_order():
            chosen = family.chosen_type()
            chunks = [chunk for chunk in self._chunks_in_order(family, skip)
                      if chunk.type == chosen]
            if not chunks:
                continue
            pieces.append(family.header_bytes(name, chunks[0].help, chosen))
            pieces.extend(chunk.text for chunk in chunks)
        return pieces

    def families(self, skip: Container[PartKey] = ()) -> Iterator[list[FamilyChunk]]:
        """Yield the rendered chunks of each family, in the order and with the rules of render."""
        for _, family in self._families_in_order():
            chosen = family.chosen_type()
            chunks = [chunk for chunk in self._chunks_in_order(family, skip)
                      if chunk.type == chosen]
            if chunks:
                yield chunks

    def _families_in_order(self) -> Iterator[tuple[str, _Family]]:
        names = self._sorted_names
        if names is None:
            names = self._sorted_names = sorted(self._families)
        families = self._families
        for name in names:
            family = families.get(name)
            if family is not None and family.chunks:
                yield name, family

    @staticmethod
    def _chunks_in_order(family: _Family, skip: Container[PartKey]) -> Iterator[FamilyChunk]:
        chunks = family.chunks
        for key in family.render_keys():
            chunk = chunks.get(key)
            if chunk is not None and key not in skip:
                yield chunk

    def _put_chunk(self, name: str, key: PartKey, chunk: FamilyChunk) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family()
            self._sorted_names = None
        previous = family.chunks.get(key)
        family.chunks[key] = chunk
        if previous is not None and previous.type == chunk.type:
            return  # The usual case: a newer result of the same part, no count changes.

        if previous is None:
            family.sorted_keys = None
        else:
            family.type_counts[previous.type] -= 1
        is_new_type = not family.type_counts.get(chunk.type)
        family.type_counts[chunk.type] = family.type_counts.get(chunk.type, 0) + 1
        if is_new_type and family.has_conflict():
            self._report_conflict(name, key, family)

    def _drop_chunk(self, name: str, key: PartKey) -> None:
        family = self._families.get(name)
        if family is None:
            return
        chunk = family.chunks.pop(key, None)
        if chunk is None:
            return
        family.type_counts[chunk.type] -= 1
        family.sorted_keys = None
        if not family.chunks:
            del self._families[name]
            self._sorted_names = None

    def _report_conflict(self, name: str, key: PartKey, family: _Family) -> None:
        self.type_conflicts += 1
        types = sorted(kind for kind, count in family.type_counts.items() if count)
        log.warning("metric type conflict: samples of the other types are left out of /metrics",
                    metric=name, types=types, kept_type=family.chosen_type(),
                    target=key[0], job=key[1], part=key[2],
                    hint="give the object one type in every job, or rename one of them")
