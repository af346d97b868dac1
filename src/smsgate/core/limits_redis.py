"""Rate limits counted in Redis, shared by every gateway process that uses the same server.

When Redis cannot be reached, limits are counted in this process until it can again (so they
still hold per process), and that is logged.

One Lua script checks and counts all of a request's limits atomically, on Redis's clock (so
nodes need not agree on the time). Each key is a sorted set of ``time:nonce:units`` entries
scored by time; it expires with its window.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import redis.asyncio as redis
import structlog

from smsgate.core.limits import Limit, MemoryLimiter

log = structlog.get_logger(__name__)

PREFIX = "smsgate:limit:"

# KEYS: the limits' keys. ARGV: cost, nonce, then count and window (µs) per key.
# Returns 0 when counted, else the microseconds to wait.
_SCRIPT = """
local cost = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local longest = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local used = 0
  for j = 1, #entries, 2 do
    used = used + tonumber(string.match(entries[j], ':(%d+)$'))
  end
  local need = used + cost - count
  if used > 0 and need > 0 then
    local freed = 0
    local wait = nil
    for j = 1, #entries, 2 do
      freed = freed + tonumber(string.match(entries[j], ':(%d+)$'))
      if freed >= need then
        wait = tonumber(entries[j + 1]) + window - now
        break
      end
    end
    if wait == nil then
      wait = tonumber(entries[#entries]) + window - now
    end
    if wait < 1 then wait = 1 end
    if wait > longest then longest = wait end
  end
end
if longest > 0 then
  return longest
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, now .. ':' .. ARGV[2] .. ':' .. cost)
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
end
return 0
"""


class RedisLimiter:
    def __init__(self, url: str, fallback: MemoryLimiter) -> None:
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._script = self._client.register_script(_SCRIPT)
        self._fallback = fallback
        self._failing = False

    async def take(self, limits: Sequence[Limit], cost: int = 1) -> float:
        if not limits:
            return 0.0
        args: list[int | str] = [cost, secrets.token_hex(6)]
        for limit in limits:
            args += [limit.rate.count, int(limit.rate.seconds * 1_000_000)]
        keys = [PREFIX + limit.key for limit in limits]
        try:
            waited = await self._script(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            if not self._failing:
                log.warning(
                    "Redis unreachable: counting rate limits in this process", error=str(exc)
                )
                self._failing = True
            return self._fallback.take_now(limits, cost)
        if self._failing:
            log.info("Redis reachable again: rate limits are shared")
            self._failing = False
        return int(waited) / 1_000_000

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
