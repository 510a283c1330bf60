"""The session store in Redis: one Lua script, so one round trip, for ``begin`` and one for ``commit``.

Keys: ``{prefix}:s:{platform}:{user}`` the session (compact JSON, with its time-to-live),
``{prefix}:g:{platform}:{user}`` the language chosen with ``/language``,
``{prefix}:l:{platform}:{user}`` the respondent's lock (a random token, expiring after ``lock_ttl_ms``
should its holder die), ``{prefix}:u:{platform}:{update}`` a handled update id (for dedupe), set only
once the update is handled.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
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

# Every script may run twice (a client retry after a timeout, both reaching the server once it resumes):
# each is written so that running it again with the same token changes nothing more.

# KEYS: lock, session[, update]. ARGV: token, lock ttl (ms).
# Returns {2, session or nil} for an update handled before, {0, pttl of the lock} when someone else holds
# it, {1, session or nil} when the lock is ours (taken now, or by an earlier run of this same call).
_BEGIN = """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return {2, redis.call('GET', KEYS[2])} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('GET', KEYS[2])}
"""

# KEYS: lock, session[, update]. ARGV: token, session JSON ('' deletes it), ttl (ms), update ttl (s),
# the session's revision. The update is marked handled whatever happened to the lock: the work is done.
# Returns 1 when the lock was ours (or this commit ran already), 2 when the lock was lost and the stored
# session, older than ours or missing, was replaced by ours, 0 when the lock was lost and a newer
# session is stored (left as it is).
_COMMIT = """
local function mark()
  if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4]) end
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  mark()
  if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
  redis.call('DEL', KEYS[1])
  return 1
end
if KEYS[3] and redis.call('GET', KEYS[3]) == ARGV[1] then return 1 end
mark()
if ARGV[2] == '' then return 0 end
local stored = redis.call('GET', KEYS[2])
if stored then
  local ok, data = pcall(cjson.decode, stored)
  if ok and type(data) == 'table' and type(data.n) == 'number' and data.n >= tonumber(ARGV[5]) then
    return 0
  end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 2
"""

# KEYS: session. ARGV: question id, message id. Returns 1 when the session waits for that question.
_MARK_LIVE = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local ok, data = pcall(cjson.decode, stored)
if not ok or type(data) ~= 'table' or data.q ~= ARGV[1] then return 0 end
data.l = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(data), 'KEEPTTL')
return 1
"""

# KEYS: lock. ARGV: token.
_ABORT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

_FAILURES = (RedisError, OSError)  # redis' ConnectionError and TimeoutError are RedisErrors
ABORT_WAIT_S = 0.5
"""How long an abort waits for Redis before leaving the release to the background."""
RELEASE_PATIENCE_S = 120.0
"""How long a lock that could not be released is retried in the background (an outage that long ends
with the lock lapsed anyway, or with scripts of ours that Redis has long dropped)."""


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
    if session.live is not None:
        data["l"] = session.live
    if session.language is not None:
        data["g"] = session.language
    if session.linked:
        data["k"] = 1
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_session(raw: bytes | str | None) -> Session | None:
    """The stored session, or None for none or one that cannot be read: the engine rebuilds a lost
    session."""
    if raw is None:
        return None
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
            live=str(data["l"]) if data.get("l") is not None else None,
            language=str(data["g"]) if data.get("g") is not None else None,
            linked=bool(data.get("k", False)),
        )
    except (ValueError, TypeError, KeyError):
        return None


def redis_from_url(url: str, max_connections: int = 200, pool_wait_s: float = 3.0) -> redis.asyncio.Redis:
    """A client with short timeouts and one retry (every script is safe to run twice), whose pool of at
    most ``max_connections`` makes a caller wait up to ``pool_wait_s`` for a free connection rather than
    fail: under load messages queue briefly instead of being told to try again."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait_s,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=1),
    )
    return redis.asyncio.Redis.from_pool(pool)  # which the client then closes with itself


def key_secret(respondent_secret: bytes) -> bytes:
    """The key of the HMAC that Redis keys are named with, derived from ``SURVEYBOT_SECRET``."""
    return hmac.new(respondent_secret, b"redis keys", hashlib.sha256).digest()


def pseudonym(secret: bytes | None, text: str) -> str:
    """``text`` (a platform user id, an update id) as it appears in a Redis key: an HMAC under
    ``secret``, or ``text`` itself when there is none (tests of the scripts)."""
    if secret is None:
        return text
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


LANGUAGE_TTL_S = 365 * 86400
"""How long a language chosen with ``/language`` outside a survey is remembered."""


class RedisSessionStore:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        prefix: str = "sb",
        lock_ttl_ms: int = 6_000,
        wait_s: float = 5.0,
        dedupe_ttl_s: int = 2 * 86400,
        key_secret: bytes | None = None,
    ) -> None:
        self.client = client
        self._key_secret = key_secret
        self.prefix = prefix
        self.lock_ttl_ms = lock_ttl_ms
        self.wait_s = wait_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self._begin = client.register_script(_BEGIN)
        self._commit = client.register_script(_COMMIT)
        self._abort = client.register_script(_ABORT)
        self._mark_live = client.register_script(_MARK_LIVE)
        self._releasing: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSessionStore:
        """A store with a client of its own (see :func:`redis_from_url`); close it with :meth:`aclose`."""
        return cls(redis_from_url(url), **options)

    async def aclose(self) -> None:
        for task in list(self._releasing):
            task.cancel()
        await asyncio.gather(*self._releasing, return_exceptions=True)
        await self.client.aclose()

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless Redis answers (the web server's readiness check)."""
        try:
            await self.client.ping()
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error

    def _keys(self, key: ConversationKey, update_id: str | None = None) -> list[str]:
        """The lock and session keys, and the handled-update key when ``update_id`` is given. With a key
        secret, Redis holds no platform user id: keys are named by an HMAC of it."""
        who = pseudonym(self._key_secret, key.user_id)
        keys = [f"{self.prefix}:l:{key.platform}:{who}", f"{self.prefix}:s:{key.platform}:{who}"]
        if update_id is not None:
            keys.append(f"{self.prefix}:u:{key.platform}:{pseudonym(self._key_secret, update_id)}")
        return keys

    async def begin(self, key: ConversationKey, update_id: str | None) -> Turn:
        keys = self._keys(key, update_id)
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.wait_s
        pause = 0.005
        while True:
            try:
                reply = await self._begin(keys=keys, args=[token, self.lock_ttl_ms])
            except _FAILURES as error:
                # The script may still run once Redis answers: the lock it takes is released for us.
                self._release_later(keys[0], token)
                raise StorageUnavailable(f"Redis: {error}") from error
            except asyncio.CancelledError:
                self._release_later(keys[0], token)
                raise
            if reply[0] == 2:
                return Turn(token="", duplicate=True, session=decode_session(reply[1]))
            if reply[0] == 1:
                return Turn(token=token, session=decode_session(reply[1]))
            left = deadline - time.monotonic()
            if left <= 0:
                raise RespondentBusy(f"a {key.platform} respondent stayed busy for {self.wait_s} s")
            await asyncio.sleep(min(pause, left, max(int(reply[1]), 1) / 1000))
            pause = min(pause * 2, 0.1)

    async def commit(
        self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int, update_id: str | None
    ) -> bool:
        if ttl <= 0:
            raise ValueError(f"a session's time-to-live must be positive, not {ttl}")
        if turn.duplicate:
            return True
        keys = self._keys(key, update_id)
        data = encode_session(session) if session is not None else ""
        revision = session.revision if session is not None else -1
        try:
            done = await self._commit(
                keys=keys, args=[turn.token, data, ttl * 1000, self.dedupe_ttl_s, revision]
            )
        except _FAILURES as error:
            self._release_later(keys[0], turn.token)
            raise StorageUnavailable(f"Redis: {error}") from error
        except asyncio.CancelledError:
            self._release_later(keys[0], turn.token)
            raise
        return int(done) == 1

    async def preferred_language(self, key: ConversationKey) -> str | None:
        try:
            found = await self.client.get(self._language_key(key))
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error
        return found.decode() if isinstance(found, bytes) else found

    async def prefer_language(self, key: ConversationKey, language: str) -> None:
        try:
            await self.client.set(self._language_key(key), language, ex=LANGUAGE_TTL_S)
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error

    def _language_key(self, key: ConversationKey) -> str:
        return f"{self.prefix}:g:{key.platform}:{pseudonym(self._key_secret, key.user_id)}"

    async def mark_live(self, key: ConversationKey, question_id: str, message_id: str) -> None:
        try:
            await self._mark_live(keys=self._keys(key)[1:2], args=[question_id, message_id])
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error

    async def abort(self, key: ConversationKey, turn: Turn) -> None:
        if turn.duplicate:
            return
        lock = self._keys(key)[0]
        try:
            await asyncio.wait_for(self._abort(keys=[lock], args=[turn.token]), ABORT_WAIT_S)
        except (*_FAILURES, TimeoutError):
            self._release_later(lock, turn.token)

    def _release_later(self, lock: str, token: str) -> None:
        """Release a lock we may hold, in the background, once Redis answers again: after an outage the
        respondent is not kept waiting for its expiry. Not done at the first success: a script of ours
        still queued in a stalled server may take the lock just after, so it is released once more a
        moment later (releasing a token that is no longer there changes nothing)."""

        async def release() -> None:
            give_up = time.monotonic() + RELEASE_PATIENCE_S
            pause, released_at = 0.1, None
            while time.monotonic() < give_up:
                await asyncio.sleep(pause)
                try:
                    await self._abort(keys=[lock], args=[token])
                except _FAILURES:
                    pause = min(pause * 2, 1.0)
                    continue
                now = time.monotonic()
                if released_at is None:
                    released_at, pause = now, 0.25
                elif now - released_at >= 1.0:
                    return

        task = asyncio.get_running_loop().create_task(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
