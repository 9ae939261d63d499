"""reply_text and reply_number: values of Redis replies with defaults."""

from __future__ import annotations

import pytest

from snmpd_ng.cluster.reply import reply_number, reply_text


@pytest.mark.parametrize(("value", "expected"), [
    (b"node-a", "node-a"), (None, "fallback"), (b"\xff", "\ufffd"), (42, "42")])
def test_reply_text(value: object, expected: str) -> None:
    assert reply_text(value, "fallback") == expected


@pytest.mark.parametrize(("value", "expected"), [
    (b"1.5", 1.5), (None, 7.0), (b"junk", 7.0), (b"nan", 7.0), (b"inf", 7.0), (3, 3.0)])
def test_reply_number(value: object, expected: float) -> None:
    assert reply_number(value, 7.0) == expected
