"""A wrapper for credentials that keeps them out of logs, reprs and exception messages."""

from __future__ import annotations


class Secret:
    """A community, passphrase or key. `str()` and `repr()` never show the value.

    Call `reveal()` at the one place that needs the bytes (building a message or a key).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
