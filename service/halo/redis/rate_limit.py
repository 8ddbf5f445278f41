"""One rate limit across every worker and replica: a token bucket per client in Redis.

The bucket is refilled and taken from in one Lua script, on Redis' clock, so
concurrent requests on different replicas cannot both take the last token.
While Redis is down each process falls back to its own local bucket: limits
get looser for a while, requests never fail because of it.
"""

from __future__ import annotations

import math

from halo.redis.link import RedisLink, StoreUnavailable
from halo.security.shared_buckets import BucketTable, SharedTokenBuckets
from halo.security.token_bucket import Decision, TokenBucketLimiter

# KEYS: bucket; ARGV: rate per second, burst -> {allowed, tokens left (string)}
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    def __init__(self, link: RedisLink, rate: float, burst: int, fallback: TokenBucketLimiter) -> None:
        self._link = link
        self._rate = rate
        self._burst = burst
        self.fallback: TokenBucketLimiter | SharedTokenBuckets = fallback
        self._take = link.client.register_script(_TAKE)

    def share(self, table: BucketTable) -> None:
        """While Redis is down, the instance's buckets instead of this process's own."""
        if isinstance(self.fallback, TokenBucketLimiter):
            self.fallback = SharedTokenBuckets(table, overflow=self.fallback)

    async def hit(self, key: str) -> Decision:
        try:
            allowed, tokens = await self._link.run(
                lambda: self._take(keys=[f"halo:ratelimit:{key}"], args=[self._rate, self._burst]),
                write=False,
            )
        except StoreUnavailable:
            return self.fallback.hit(key)
        left = float(tokens)
        if allowed:
            return Decision(True, self._burst, int(left), 0)
        return Decision(False, self._burst, 0, max(1, math.ceil((1.0 - left) / self._rate)))
