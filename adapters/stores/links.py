"""Cross-channel links (:class:`bot.ports.LinkStore`, docs/linking.md): the codes and the guessing
counters in Redis, with time-to-lives; the aliases in MongoDB, the truth, in the ``links`` collection.

Redis keys (identities are respondent keys and codes are HMACs, so none holds a platform id or a code):
``{prefix}:lk:c:{code hash}`` → the issuer, for the code's time-to-live; ``{prefix}:lk:i:{identity}`` →
the hash of its code (so that a new code replaces it); ``{prefix}:lk:t:{code hash}`` → who redeemed it
and from whom, kept a while so that the redeemer's retry is answered alike; ``{prefix}:lk:f:{identity}``
and ``{prefix}:lk:f`` the failed redemptions of one identity and of everyone, in windows that begin at
their first failure. Each operation is one Lua script: atomic, so concurrent redemptions of one code take
it once and the limits hold across processes, and safe to run twice (a client retry after a timeout).

MongoDB: one document per alias, ``{_id: identity, canonical, at}``, with an index on ``canonical``.
"""

from __future__ import annotations

import builtins
import math
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, ClassVar

import mongoengine
import redis.asyncio
from mongoengine import fields
from pymongo.collection import Collection
from redis.exceptions import RedisError

from adapters.stores.mongo import Document, _MongoStore
from bot.errors import StorageUnavailable
from bot.links import REDEEMED_KEPT_S, GuessPolicy, RedeemStatus, Redemption

_FAILURES = (RedisError, OSError)

# KEYS: code, identity's code. ARGV: identity, code hash, ttl (ms), code key prefix.
# Returns 0 when the code is live for another identity (nothing changed), else 1.
_ISSUE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
local old = redis.call('GET', KEYS[2])
if old and old ~= ARGV[2] and redis.call('GET', ARGV[4] .. old) == ARGV[1] then
  redis.call('DEL', ARGV[4] .. old)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: code, taken marker, identity's failures, everyone's failures. ARGV: identity, code hash,
# identity limit, identity window (ms), overall limit, overall window (ms), marker ttl (ms), prefix of
# identities' code keys. Returns {status, issuer or pttl}: 1 taken, 2 own, 0 unknown, 3 refused for the
# identity, 4 refused for everyone (with the milliseconds left in the refusing window).
_REDEEM = """
local taken = redis.call('GET', KEYS[2])
if taken then
  local sep = string.find(taken, ' ', 1, true)
  if string.sub(taken, 1, sep - 1) == ARGV[1] then return {1, string.sub(taken, sep + 1)} end
end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[3]) then
  return {3, redis.call('PTTL', KEYS[3])}
end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[5]) then
  return {4, redis.call('PTTL', KEYS[4])}
end
local issuer = redis.call('GET', KEYS[1])
if issuer == ARGV[1] then return {2, issuer} end
if issuer then
  redis.call('DEL', KEYS[1])
  local issued = ARGV[8] .. issuer
  if redis.call('GET', issued) == ARGV[2] then redis.call('DEL', issued) end
  redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. issuer, 'PX', ARGV[7])
  return {1, issuer}
end
redis.call('INCR', KEYS[3])
if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
redis.call('INCR', KEYS[4])
if redis.call('PTTL', KEYS[4]) < 0 then redis.call('PEXPIRE', KEYS[4], ARGV[6]) end
return {0, false}
"""


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisLinkCodes:
    """Link codes and the guessing counters (the ephemeral half of :class:`bot.ports.LinkStore`)."""

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str = "sb", taken_kept_s: int = REDEEMED_KEPT_S
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:lk"
        self.taken_kept_s = taken_kept_s
        self._issue = client.register_script(_ISSUE)
        self._redeem = client.register_script(_REDEEM)

    async def issue(self, identity: str, code_hash: str, ttl_s: int) -> bool:
        p = self.prefix
        try:
            done = await self._issue(
                keys=[f"{p}:c:{code_hash}", f"{p}:i:{identity}"],
                args=[identity, code_hash, ttl_s * 1000, f"{p}:c:"],
            )
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error
        return int(done) == 1

    async def redeem(self, identity: str, code_hash: str, policy: GuessPolicy) -> Redemption:
        p = self.prefix
        keys = [f"{p}:c:{code_hash}", f"{p}:t:{code_hash}", f"{p}:f:{identity}", f"{p}:f"]
        args: list[str | int] = [
            identity,
            code_hash,
            policy.per_identity,
            policy.identity_window_s * 1000,
            policy.overall,
            policy.overall_window_s * 1000,
            self.taken_kept_s * 1000,
            f"{p}:i:",
        ]
        try:
            status, detail = await self._redeem(keys=keys, args=args)
        except _FAILURES as error:
            raise StorageUnavailable(f"Redis: {error}") from error
        status = int(status)
        if status == 1:
            return Redemption(RedeemStatus.TAKEN, _text(detail))
        if status == 2:
            return Redemption(RedeemStatus.OWN, _text(detail))
        if status in (3, 4):
            left_s = max(math.ceil(int(detail) / 1000), 1)
            return Redemption(RedeemStatus.REFUSED, retry_after_s=left_s, overall=status == 4)
        return Redemption(RedeemStatus.UNKNOWN)


class LinkDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    """The alias: a respondent key."""
    canonical = fields.StringField(required=True)
    """The respondent key its responses are stored under."""
    at = fields.DateTimeField(required=True)

    meta: ClassVar[dict[str, Any]] = {
        "collection": "links",
        "auto_create_index": False,
        "indexes": [{"fields": ["canonical"]}],  # aliases, unlink and link from the canonical side
    }


def _root(links: Collection[Document], identity: str) -> str:
    raw = links.find_one({"_id": identity}, {"canonical": 1})
    return str(raw["canonical"]) if raw is not None else identity


def _join(links: Collection[Document], identity: str, canonical: str) -> str:
    """Point the group of ``identity`` at the root of ``canonical``'s, keeping every group a star.

    Two groups joined each to the other at the same moment (the same person typing each channel's code
    into the other) would point at each other: both writers see it afterwards and break it alike, the
    smaller identity staying canonical. A root that became an alias meanwhile is followed."""
    for _ in range(4):
        root, joining = _root(links, canonical), _root(links, identity)
        if root == joining:
            return root
        now = datetime.now(UTC)
        links.update_one({"_id": joining}, {"$set": {"canonical": root, "at": now}}, upsert=True)
        links.update_many({"canonical": joining, "_id": {"$ne": root}}, {"$set": {"canonical": root}})
        above = _root(links, root)
        if above == root:
            return root
        if above == joining:
            keep, drop = sorted((root, joining))
            links.delete_one({"_id": keep, "canonical": drop})
            links.update_many({"canonical": drop, "_id": {"$ne": keep}}, {"$set": {"canonical": keep}})
            links.update_one({"_id": drop}, {"$set": {"canonical": keep}})
            return keep
    return _root(links, canonical)


class MongoLinkAliases(_MongoStore):
    """The durable half of :class:`bot.ports.LinkStore`: which identity is an alias of which."""

    _document = LinkDocument

    async def canonical(self, identity: str) -> str | None:
        """The canonical identity ``identity`` is an alias of (``alias`` names the connection here)."""
        raw = await self._run(lambda links: links.find_one({"_id": identity}, {"canonical": 1}))
        return str(raw["canonical"]) if raw is not None else None

    async def aliases(self, canonical: str) -> builtins.list[str]:
        raws = await self._run(lambda links: list(links.find({"canonical": canonical}, {"_id": 1})))
        return sorted(str(raw["_id"]) for raw in raws)

    async def link(self, identity: str, canonical: str) -> str:
        return await self._run(lambda links: _join(links, identity, canonical))

    async def unlink(self, identity: str) -> builtins.list[str]:
        def undo(links: Collection[Document]) -> builtins.list[str]:
            if links.delete_one({"_id": identity}).deleted_count:
                return [identity]
            gone = sorted(str(raw["_id"]) for raw in links.find({"canonical": identity}, {"_id": 1}))
            links.delete_many({"_id": {"$in": gone}, "canonical": identity})
            return gone

        return await self._run(undo)


class RedisMongoLinkStore:
    """:class:`bot.ports.LinkStore` on Redis (codes, counters) and MongoDB (aliases)."""

    def __init__(self, codes: RedisLinkCodes, aliases: MongoLinkAliases) -> None:
        self.code_store = codes
        self.alias_store = aliases

    @classmethod
    def on(
        cls,
        client: redis.asyncio.Redis,
        alias: str = "default",
        executor: Executor | None = None,
        **options: Any,
    ) -> RedisMongoLinkStore:
        return cls(RedisLinkCodes(client, **options), MongoLinkAliases(alias, executor))

    async def ensure_indexes(self) -> None:
        await self.alias_store.ensure_indexes()

    async def issue(self, identity: str, code_hash: str, ttl_s: int) -> bool:
        return await self.code_store.issue(identity, code_hash, ttl_s)

    async def redeem(self, identity: str, code_hash: str, policy: GuessPolicy) -> Redemption:
        return await self.code_store.redeem(identity, code_hash, policy)

    async def alias(self, identity: str) -> str | None:
        return await self.alias_store.canonical(identity)

    async def aliases(self, canonical: str) -> builtins.list[str]:
        return await self.alias_store.aliases(canonical)

    async def link(self, identity: str, canonical: str) -> str:
        return await self.alias_store.link(identity, canonical)

    async def unlink(self, identity: str) -> builtins.list[str]:
        return await self.alias_store.unlink(identity)
