"""The rules engine's state of each target in Redis, so that it follows the target to a new owner.

One string key per target, `rules:<target>` (snmpd_ng.cluster.keys), contains the encoded state of
snmpd_ng.alerting.rules.handoff with a TTL. Only the node that holds the target's lease writes
it: the write script checks the lease key, as the shared cache's writes do, so a node that lost
the lease while its write was under way cannot overwrite what the new owner wrote.
"""

from __future__ import annotations

from collections.abc import Mapping

from snmpd_ng.cluster.keys import Keys
from snmpd_ng.cluster.redis_conn import RedisClient

MAX_BATCH = 100
"""Targets per script call, so that one call does not block Redis for long or send a huge
request. A larger save makes several calls."""

SAVE_SCRIPT = """
-- KEYS: per target, its state key, then its lease key. ARGV: the TTL in ms, then per target the
-- lease value the writer holds and the encoded state. A state is written only while the lease
-- key still holds that value: the fencing check. Returns how many states were written.
local written = 0
for i = 1, #KEYS, 2 do
  local lease = ARGV[i + 1]
  if redis.call('GET', KEYS[i + 1]) == lease then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ARGV[1])
    written = written + 1
  end
end
return written
"""


class RuleStateStore:
    """Reads and writes the rule state of targets in Redis, each write fenced by the lease.

    Redis errors (`snmpd_ng.cluster.redis_conn.REDIS_ERRORS`) propagate, for the caller to count.
    """

    def __init__(self, client: RedisClient, keys: Keys, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"rule state TTL must be positive, got {ttl_seconds} s")
        self._client = client
        self._keys = keys
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._save_script = client.register_script(SAVE_SCRIPT)

    async def save(self, items: Mapping[str, tuple[str, str]]) -> int:
        """Write each target's encoded state where its lease still holds; return how many.

        `items` maps a target to (the lease value this node holds, the encoded state). Each
        batch of up to MAX_BATCH targets is one script call, so a Redis failure after the first
        batch leaves the earlier batches written.
        """
        written = 0
        targets = list(items)
        for start in range(0, len(targets), MAX_BATCH):
            keys: list[str] = []
            args: list[str | int] = [self._ttl_ms]
            for target in targets[start:start + MAX_BATCH]:
                lease_value, state = items[target]
                keys += [self._keys.rule_state(target), self._keys.lease(target)]
                args += [lease_value, state]
            written += int(await self._save_script(keys=keys, args=args))
        return written

    async def load(self, target: str) -> str | None:
        """Return the stored state of `target`, or None when there is none (or it expired).

        Raises UnicodeDecodeError (a ValueError) when the stored bytes are not UTF-8.
        """
        value = await self._client.get(self._keys.rule_state(target))
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return str(value)

    async def delete(self, target: str) -> None:
        """Remove the stored state of `target`, unfenced (for a target removed from the config)."""
        await self._client.delete(self._keys.rule_state(target))
