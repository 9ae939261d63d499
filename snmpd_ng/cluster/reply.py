"""Values of Redis replies, which arrive as bytes (or None for a missing key or field).

Both the heartbeat and the status reader take what other nodes wrote, so a missing or garbled
value falls back to a default rather than failing the whole reply.
"""

from __future__ import annotations

import math


def reply_text(value: object, default: str = "") -> str:
    """Return a reply value as text; `default` for None. Invalid UTF-8 becomes U+FFFD."""
    if value is None:
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def reply_number(value: object, default: float) -> float:
    """Return a reply value as a finite number; `default` for a missing or invalid one."""
    if value is None:
        return default
    try:
        number = float(reply_text(value))
    except ValueError:
        return default
    return number if math.isfinite(number) else default
