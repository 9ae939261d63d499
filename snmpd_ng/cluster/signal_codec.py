"""The fields of one entry of the rule signal stream (`alert-signals`, snmpd_ng.cluster.keys).

An entry has two fields: `version`, the codec version, and `signal`, the RuleSignal as one JSON
object with the keys rule, labels, state, value, active_since, at, severity and annotations.
Python's JSON writes each float as its shortest repr, which reads back as the same float, so
times and values round-trip exactly. A value of None is JSON null, and NaN and infinities use
Python's non-standard JSON tokens (NaN, Infinity), which `json.loads` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias, cast, get_args

from snmpd_ng.alerting.rules.model import SEVERITIES, RuleSignal, Severity, SignalState
from snmpd_ng.protocol.errors import SnmpError

CODEC_VERSION = "1"
VERSION_FIELD = "version"
SIGNAL_FIELD = "signal"
SIGNAL_STATES: tuple[SignalState, ...] = get_args(SignalState)


class SignalDecodeError(SnmpError):
    """A stream entry that is not a rule signal of this codec version.

    `entry_id` is the stream entry's id (or None when the caller did not name one), and `reason`
    is what is wrong with it.
    """

    def __init__(self, reason: str, *, entry_id: str | None) -> None:
        self.reason = reason
        self.entry_id = entry_id
        where = f"stream entry {entry_id}" if entry_id is not None else "a stream entry"
        super().__init__(f"cannot decode the alert signal in {where}: {reason}")


def encode_signal(signal: RuleSignal) -> dict[str, str]:
    """Return the stream fields of `signal`."""
    document = {
        "rule": signal.rule,
        "labels": dict(signal.labels),
        "state": signal.state,
        "value": signal.value,
        "active_since": signal.active_since,
        "at": signal.at,
        "severity": signal.severity,
        "annotations": dict(signal.annotations),
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return {VERSION_FIELD: CODEC_VERSION, SIGNAL_FIELD: text}


Fields: TypeAlias = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]
"""A stream entry's fields: bytes as redis-py returns them with decode_responses=False, or str."""


def decode_signal(fields: Fields, *, entry_id: str | None = None) -> RuleSignal:
    """Build the RuleSignal of one stream entry's fields.

    Raises SignalDecodeError naming `entry_id` when a field is missing, the version is unknown,
    or the JSON does not describe a signal.
    """
    texts = {_text(key, entry_id): _text(value, entry_id) for key, value in fields.items()}
    version = texts.get(VERSION_FIELD)
    if version != CODEC_VERSION:
        raise SignalDecodeError(f"field {VERSION_FIELD!r} is {version!r}, expected "
                                f"{CODEC_VERSION!r}", entry_id=entry_id)
    text = texts.get(SIGNAL_FIELD)
    if text is None:
        raise SignalDecodeError(f"field {SIGNAL_FIELD!r} is missing", entry_id=entry_id)

    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SignalDecodeError(f"field {SIGNAL_FIELD!r} is not valid JSON ({exc})",
                                entry_id=entry_id) from None
    if not isinstance(document, dict):
        raise SignalDecodeError(f"field {SIGNAL_FIELD!r} is not a JSON object",
                                entry_id=entry_id)
    return _signal(_Reader(document, entry_id))


def _signal(reader: _Reader) -> RuleSignal:
    return RuleSignal(
        rule=reader.string("rule"),
        labels=reader.string_map("labels"),
        state=cast(SignalState, reader.choice("state", SIGNAL_STATES)),
        value=reader.number("value", optional=True),
        active_since=cast(float, reader.number("active_since")),
        at=cast(float, reader.number("at")),
        severity=cast(Severity, reader.choice("severity", SEVERITIES)),
        annotations=reader.string_map("annotations"),
    )


class _Reader:
    """Typed access to the keys of the decoded JSON object; each mismatch raises
    SignalDecodeError with the key, the value found and the type expected."""

    def __init__(self, document: dict[str, Any], entry_id: str | None) -> None:
        self._document = document
        self._entry_id = entry_id

    def _get(self, key: str) -> Any:
        if key not in self._document:
            raise self._error(f"key {key!r} is missing")
        return self._document[key]

    def _error(self, reason: str) -> SignalDecodeError:
        return SignalDecodeError(reason, entry_id=self._entry_id)

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._error(f"{key!r} is {value!r}, expected a string")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.string(key)
        if value not in allowed:
            raise self._error(f"{key!r} is {value!r}, expected one of {', '.join(allowed)}")
        return value

    def number(self, key: str, *, optional: bool = False) -> float | None:
        value = self._get(key)
        if value is None and optional:
            return None
        # bool is an int in Python, but true or false is no time and no value.
        if isinstance(value, bool) or not isinstance(value, int | float):
            expected = "a number or null" if optional else "a number"
            raise self._error(f"{key!r} is {value!r}, expected {expected}")
        try:
            return float(value)
        except OverflowError:
            raise self._error(f"{key!r} is an integer too large for a float") from None

    def string_map(self, key: str) -> dict[str, str]:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._error(f"{key!r} is {value!r}, expected an object of strings")
        for name, item in value.items():
            if not isinstance(item, str):
                raise self._error(f"{key}[{name!r}] is {item!r}, expected a string")
        return value


def _text(data: bytes | str, entry_id: str | None) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignalDecodeError(f"{data[:40]!r} is not UTF-8 ({exc.reason})",
                                entry_id=entry_id) from None

