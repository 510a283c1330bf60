"""The session store in Redis: one Lua script, so one round trip, for ``begin`` and one for ``commit``.

Keys: ``{prefix}:s:{platform}:{user}`` the session (compact JSON, with its time-to-live),
``{prefix}:l:{platform}:{user}`` the respondent's lock (a random token, expiring after ``lock_ttl_ms``
should its holder die), ``{prefix}:u:{platform}:{update}`` a handled update id (for dedupe).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from bot.errors import RespondentBusy, StorageUnavailable
from bot.messages import ConversationKey
from bot.responses import Session, Turn

# KEYS: lock, session[, update]. ARGV: token, lock ttl (ms), update ttl (s).
# Returns {2} for a duplicate update, {0, pttl of the lock} when it is taken, {1, session or nil}.
_BEGIN = """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return {2} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
if KEYS[3] then redis.call('SET', KEYS[3], '1', 'EX', ARGV[3]) end
return {1, redis.call('GET', KEYS[2])}
"""

# KEYS: lock, session. ARGV: token, session JSON ('' deletes it), ttl (ms). Returns 1 if the lock was ours.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lock[, update]. ARGV: token.
_ABORT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return 1
"""

_FAILURES = (RedisError, OSError)  # redis' ConnectionError and TimeoutError are RedisErrors


def encode_session(session: Session) -> str:
    data: dict[str, Any] = {
        "s": session.survey_id,
        "v": session.version,
        "r": session.response_id,
        "n": session.revision,
        "q": session.question_id,
    }
    if session.selection:
        data["x"] = list(session.selection)
    if session.paused:
        data["p"] = 1
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_session(raw: bytes | str) -> Session | None:
    """The stored session, or None for one that cannot be read: the engine rebuilds a lost session."""
    try:
        data = json.loads(raw)
        return Session(
            survey_id=str(data["s"]),
            version=int(data["v"]),
            response_id=str(data["r"]),
            revision=int(data["n"]),
            question_id=str(data["q"]),
            selection=tuple(int(i) for i in data.get("x", ())),
            paused=bool(data.get("p", False)),
        )
    except (ValueError, TypeError, KeyError):
        return None


def redis_from_url(url: str) -> redis.asyncio.Redis:
    """A client with short timeouts and few retries: an outage must not stall a conversation."""
    return redis.asyncio.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    )


class RedisSessionStore:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        prefix: str = "sb",
        lock_ttl_ms: int = 10_000,
        wait_s: float = 5.0,
        dedupe_ttl_s: int = 2 * 86400,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.lock_ttl_ms = lock_ttl_ms
        self.wait_s = wait_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self._begin = client.register_script(_BEGIN)
        self._commit = client.register_script(_COMMIT)
        self._abort = client.register_script(_ABORT)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSessionStore:
        """A store with a client of its own (see :func:`redis_from_url`); close it with :meth:`aclose`."""
        return cls(redis_from_url(url), **options)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless Redis answers (the web server's readiness check)."""
        try:
            await self.client.ping()
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error

    def _keys(self, key: ConversationKey) -> list[str]:
        return [
            f"{self.prefix}:l:{key.platform}:{key.user_id}",
            f"{self.prefix}:s:{key.platform}:{key.user_id}",
        ]

    def _update_key(self, key: ConversationKey, update_id: str) -> str:
        return f"{self.prefix}:u:{key.platform}:{update_id}"

    async def begin(self, key: ConversationKey, update_id: str | None) -> Turn:
        keys = self._keys(key)
        if update_id is not None:
            keys.append(self._update_key(key, update_id))
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.wait_s
        pause = 0.005
        while True:
            try:
                reply = await self._begin(keys=keys, args=[token, self.lock_ttl_ms, self.dedupe_ttl_s])
            except _FAILURES as error:
                raise StorageUnavailable(f"Redis: {error}") from error
            if reply[0] == 2:
                return Turn(token="", duplicate=True)
            if reply[0] == 1:
                return Turn(token=token, session=decode_session(reply[1]) if reply[1] is not None else None)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RespondentBusy(f"respondent {key} stayed busy for {self.wait_s} s")
            await asyncio.sleep(min(pause, left, max(int(reply[1]), 1) / 1000))
            pause = min(pause * 2, 0.1)

    async def commit(self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int) -> None:
        if ttl <= 0:
            raise ValueError(f"a session's time-to-live must be positive, not {ttl}")
        if turn.duplicate:
            return
        data = encode_session(session) if session is not None else ""
        try:
            # Returns 0 when our lock expired: whoever holds it now owns the session, so nothing is written.
            await self._commit(keys=self._keys(key), args=[turn.token, data, ttl * 1000])
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error

    async def abort(self, key: ConversationKey, turn: Turn, update_id: str | None) -> None:
        if turn.duplicate:
            return
        keys = self._keys(key)[:1]
        if update_id is not None:
            keys.append(self._update_key(key, update_id))
        try:
            await self._abort(keys=keys, args=[turn.token])
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error
