"""Rate limits of the web edge, shared by every worker process through Redis.

``Limiter.allow(name, subject, limit, window_s)`` counts one more event of ``name`` for ``subject`` (a
client address) in the current fixed window of ``window_s`` seconds and says whether it is within
``limit``. The Redis limiter keeps one counter per window that expires with it, named by an HMAC of
the subject (no client address is stored); if Redis does not answer, it lets the event through, since
the engine refuses work without Redis anyway and a limiter must not take the chat page down with it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Protocol

import redis.asyncio
from fastapi import Request
from redis.exceptions import RedisError

log = logging.getLogger("surveybot.web.limits")


def client_address(request: Request) -> str:
    """The address a limit counts (the proxy's ``X-Forwarded-For`` where uvicorn trusts it)."""
    return request.client.host if request.client else "-"


class Limiter(Protocol):
    async def allow(self, name: str, subject: str, limit: int, window_s: int) -> bool: ...


class MemoryLimiter:
    """One process's counters (tests, and ``surveybot chat``): the same windows as :class:`RedisLimiter`."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}

    async def allow(self, name: str, subject: str, limit: int, window_s: int) -> bool:
        window = int(time.time()) // window_s
        if len(self._counts) > 10_000:  # forget past windows
            self._counts = {k: v for k, v in self._counts.items() if k[2] >= window}
        key = (name, subject, window)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key] <= limit


class RedisLimiter:
    def __init__(self, client: redis.asyncio.Redis, key_secret: bytes, prefix: str = "sb") -> None:
        self._client = client
        self._secret = key_secret
        self._prefix = prefix

    async def allow(self, name: str, subject: str, limit: int, window_s: int) -> bool:
        window = int(time.time()) // window_s
        who = hmac.new(self._secret, subject.encode(), hashlib.sha256).hexdigest()[:24]
        key = f"{self._prefix}:r:{name}:{who}:{window}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_s + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("rate limit %s not checked, Redis did not answer: %s", name, type(error).__name__)
            return True
        return int(count) <= limit


class TokenBucket:
    """A connection's own budget of messages: ``burst`` at once, then ``per_minute``."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self._rate = per_minute / 60
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
