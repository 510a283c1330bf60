"""One contract for the link store (docs/linking.md), run against the in-memory one and the real one
(codes in Redis, aliases in the MongoDB-protocol server), so that the fake cannot drift."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio
from pymongo.database import Database

from adapters.stores.links import MongoLinkAliases, RedisLinkCodes, RedisMongoLinkStore
from adapters.stores.memory import InMemoryLinkStore
from adapters.stores.mongo import connect_mongo, disconnect_mongo
from bot.errors import StorageUnavailable
from bot.links import GuessPolicy, RedeemStatus, Redemption, code_hash, code_key, new_code, shown
from bot.ports import LinkStore
from tests.integration.tcp_proxy import TcpProxy

KEY = code_key(b"contract secret")
LOOSE = GuessPolicy(per_identity=1000, identity_window_s=600, overall=1000, overall_window_s=60)
"""Limits no test of codes reaches."""
Raw = dict[str, Any]


def who(name: str) -> str:
    """An identity as the engine makes them: 32 hex characters."""
    return name.encode().hex().ljust(32, "0")[:32]


A, B, C, D, X, Y = (who(n) for n in ("alice", "bob", "carol", "dave", "xavier", "yvonne"))


def hashed() -> str:
    return code_hash(KEY, new_code())


TAKEN_FROM_A = Redemption(RedeemStatus.TAKEN, A)
UNKNOWN = Redemption(RedeemStatus.UNKNOWN)


@pytest.fixture(params=["memory", "real"])
async def links(request: pytest.FixtureRequest) -> AsyncIterator[LinkStore]:
    if request.param == "memory":
        yield InMemoryLinkStore()
        return
    mongodb_test_uri: str = request.getfixturevalue("mongodb_test_uri")
    redis_url: str = request.getfixturevalue("redis_url")
    alias = f"links-{uuid.uuid4().hex[:8]}"
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"
    connect_mongo(mongodb_test_uri, alias=alias, timeout_ms=5000)
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        store = RedisMongoLinkStore.on(client, alias, prefix=prefix)
        await store.ensure_indexes()
        yield store
        async for stale in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(stale)
    finally:
        await client.aclose()
        disconnect_mongo(alias)


# --- codes ---------------------------------------------------------------------------------------


async def test_a_code_is_taken_once_and_says_who_asked_for_it(links: LinkStore) -> None:
    code = hashed()
    assert await links.issue(A, code, 600)

    assert await links.redeem(B, code, LOOSE) == TAKEN_FROM_A
    assert await links.redeem(C, code, LOOSE) == UNKNOWN, "single use"
    assert await links.redeem(B, code, LOOSE) == TAKEN_FROM_A, "the redeemer's retry is answered alike"
    assert await links.redeem(A, code, LOOSE) == UNKNOWN, "the issuer cannot take it back"


async def test_an_unknown_code_is_unknown(links: LinkStore) -> None:
    await links.issue(A, hashed(), 600)
    assert await links.redeem(B, hashed(), LOOSE) == UNKNOWN


async def test_ones_own_code_is_left_live_and_not_counted(links: LinkStore) -> None:
    code = hashed()
    await links.issue(A, code, 600)
    strict = GuessPolicy(per_identity=1, overall=1)
    for _ in range(3):
        assert await links.redeem(A, code, strict) == Redemption(RedeemStatus.OWN, A)
    assert await links.redeem(B, code, strict) == TAKEN_FROM_A


async def test_a_code_expires(links: LinkStore) -> None:
    code, lasting = hashed(), hashed()
    await links.issue(A, code, 1)
    await links.issue(B, lasting, 60)
    await asyncio.sleep(1.2)
    assert await links.redeem(C, code, LOOSE) == UNKNOWN
    assert await links.redeem(C, lasting, LOOSE) == Redemption(RedeemStatus.TAKEN, B)


async def test_a_newer_code_replaces_the_older(links: LinkStore) -> None:
    older, newer, others = hashed(), hashed(), hashed()
    await links.issue(A, older, 600)
    await links.issue(B, others, 600)
    await links.issue(A, newer, 600)

    assert await links.redeem(C, older, LOOSE) == UNKNOWN
    assert await links.redeem(C, newer, LOOSE) == TAKEN_FROM_A
    assert await links.redeem(D, others, LOOSE) == Redemption(RedeemStatus.TAKEN, B), "only A's code went"


async def test_a_code_live_for_someone_else_is_not_issued_again(links: LinkStore) -> None:
    code = hashed()
    assert await links.issue(A, code, 600)
    assert not await links.issue(B, code, 600), "a collision is refused, not stolen"
    assert await links.issue(A, code, 600), "issuing again to its holder is harmless (a retry)"
    assert await links.redeem(C, code, LOOSE) == TAKEN_FROM_A


async def test_a_code_issued_after_taking_one_works(links: LinkStore) -> None:
    first, second = hashed(), hashed()
    await links.issue(A, first, 600)
    await links.redeem(B, first, LOOSE)
    await links.issue(A, second, 600)
    assert await links.redeem(C, second, LOOSE) == TAKEN_FROM_A


async def test_a_code_redeemed_by_many_at_once_is_taken_exactly_once(links: LinkStore) -> None:
    code = hashed()
    await links.issue(A, code, 600)
    redeemers = [who(f"r{i}") for i in range(50)]

    outcomes = await asyncio.gather(*(links.redeem(r, code, LOOSE) for r in redeemers))

    assert sorted(o.status for o in outcomes) == [RedeemStatus.TAKEN] + [RedeemStatus.UNKNOWN] * 49
    [winner] = [r for r, o in zip(redeemers, outcomes, strict=True) if o.status is RedeemStatus.TAKEN]
    assert await links.redeem(winner, code, LOOSE) == TAKEN_FROM_A


# --- guessing ------------------------------------------------------------------------------------


async def test_an_identity_is_refused_after_its_failures_until_its_window_ends(links: LinkStore) -> None:
    policy = GuessPolicy(per_identity=3, identity_window_s=1, overall=1000, overall_window_s=60)
    code = hashed()
    await links.issue(A, code, 600)
    for _ in range(3):
        assert await links.redeem(B, hashed(), policy) == UNKNOWN

    refused = await links.redeem(B, code, policy)
    assert refused == Redemption(RedeemStatus.REFUSED, retry_after_s=1, overall=False)
    assert await links.redeem(B, code, policy) == refused, "a refused attempt counts nothing more"
    assert await links.redeem(C, hashed(), policy) == UNKNOWN, "others are not refused"

    await asyncio.sleep(1.2)
    assert await links.redeem(B, code, policy) == TAKEN_FROM_A, "the refused attempts burnt no code"


async def test_a_success_counts_no_failure(links: LinkStore) -> None:
    policy = GuessPolicy(per_identity=1, overall=1000)
    first, second = hashed(), hashed()
    await links.issue(A, first, 600)
    await links.issue(C, second, 600)
    assert await links.redeem(B, first, policy) == TAKEN_FROM_A
    assert await links.redeem(B, hashed(), policy) == UNKNOWN
    assert (await links.redeem(B, second, policy)).status is RedeemStatus.REFUSED


async def test_an_identity_guessing_in_parallel_gets_exactly_its_failures(links: LinkStore) -> None:
    policy = GuessPolicy(per_identity=5, identity_window_s=600, overall=1000)
    outcomes = await asyncio.gather(*(links.redeem(B, hashed(), policy) for _ in range(40)))
    statuses = [o.status for o in outcomes]
    assert statuses.count(RedeemStatus.UNKNOWN) == 5
    assert statuses.count(RedeemStatus.REFUSED) == 35
    assert all(0 < o.retry_after_s <= 600 for o in outcomes if o.status is RedeemStatus.REFUSED)


async def test_many_fresh_identities_share_the_overall_cap(links: LinkStore) -> None:
    policy = GuessPolicy(per_identity=5, overall=4, overall_window_s=1)
    code = hashed()
    await links.issue(A, code, 600)

    outcomes = await asyncio.gather(*(links.redeem(who(f"g{i}"), hashed(), policy) for i in range(30)))

    statuses = [o.status for o in outcomes]
    assert statuses.count(RedeemStatus.UNKNOWN) == 4
    assert statuses.count(RedeemStatus.REFUSED) == 26
    assert all(o.overall for o in outcomes if o.status is RedeemStatus.REFUSED)
    refused = await links.redeem(B, code, policy)
    assert (refused.status, refused.overall) == (RedeemStatus.REFUSED, True), "while capped, nobody tries"
    await asyncio.sleep(1.2)
    assert await links.redeem(B, code, policy) == TAKEN_FROM_A


# --- aliases -------------------------------------------------------------------------------------


async def test_an_identity_is_nobodys_alias_until_linked(links: LinkStore) -> None:
    assert await links.alias(A) is None
    assert await links.aliases(A) == []
    assert await links.unlink(A) == []


async def test_link_makes_an_alias_of_the_canonical_identity(links: LinkStore) -> None:
    assert await links.link(B, A) == A
    assert await links.alias(B) == A
    assert await links.alias(A) is None, "the canonical identity is no alias"
    assert await links.aliases(A) == [B]
    assert await links.link(B, A) == A, "linking again changes nothing"
    assert await links.link(A, B) == A, "nor the other way round: they are one group already"
    assert (await links.alias(A), await links.alias(B)) == (None, A)


async def test_linking_to_an_alias_joins_its_canonical_identity(links: LinkStore) -> None:
    await links.link(B, A)
    assert await links.link(C, B) == A, "no alias of an alias"
    assert (await links.alias(C), await links.aliases(A), await links.aliases(B)) == (A, [B, C], [])


async def test_linking_groups_joins_the_whole_group(links: LinkStore) -> None:
    await links.link(B, A)
    await links.link(Y, X)
    assert await links.link(Y, B) == A, "Y's group (X, Y) joins A's"
    assert await links.aliases(A) == sorted([B, X, Y])
    assert await links.aliases(X) == []
    assert [await links.alias(i) for i in (A, B, X, Y)] == [None, A, A, A]


async def test_unlink_from_the_alias_side_removes_that_alias(links: LinkStore) -> None:
    await links.link(B, A)
    await links.link(C, A)
    assert await links.unlink(B) == [B]
    assert (await links.alias(B), await links.aliases(A)) == (None, [C])
    assert await links.unlink(B) == []


async def test_unlink_from_the_canonical_side_removes_every_alias(links: LinkStore) -> None:
    await links.link(B, A)
    await links.link(C, A)
    await links.link(Y, X)
    assert await links.unlink(A) == sorted([B, C])
    assert [await links.alias(i) for i in (A, B, C)] == [None, None, None]
    assert await links.alias(Y) == X, "other groups stay"


async def test_groups_linked_each_to_the_other_at_once_end_as_one_star(links: LinkStore) -> None:
    for round_ in range(25):
        x, y, x2, y2 = (who(f"{n}{round_}") for n in ("x", "y", "xa", "ya"))
        await links.link(x2, x)
        await links.link(y2, y)
        told = await asyncio.gather(links.link(x, y), links.link(y, x))
        members = {x, y, x2, y2}
        [root] = [m for m in members if await links.alias(m) is None]
        assert await links.aliases(root) == sorted(members - {root}), "one star, no alias of an alias"
        assert set(told) <= {x, y}
        assert root in told, "at least one caller is told the truth (the other may have been told first)"


# --- outages -------------------------------------------------------------------------------------


def every_call(links: LinkStore) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: links.issue(A, hashed(), 600),
        lambda: links.redeem(B, hashed(), LOOSE),
        lambda: links.alias(A),
        lambda: links.aliases(A),
        lambda: links.link(B, A),
        lambda: links.unlink(A),
    ]


async def test_the_memory_store_can_fail_on_purpose() -> None:
    links = InMemoryLinkStore()
    links.fail = True
    for call in every_call(links):
        with pytest.raises(StorageUnavailable):
            await call()


@pytest.fixture
def mongo_alias(mongodb_test_uri: str) -> Iterator[str]:
    alias = f"links-real-{uuid.uuid4().hex[:8]}"
    connect_mongo(mongodb_test_uri, alias=alias, timeout_ms=5000)
    try:
        yield alias
    finally:
        disconnect_mongo(alias)


async def test_redis_cut_is_storage_unavailable_for_codes(redis_url: str, mongo_alias: str) -> None:
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    client = redis.asyncio.Redis.from_url(
        f"redis://127.0.0.1:{proxy.port}{target.path}", socket_timeout=1, socket_connect_timeout=1
    )
    try:
        links = RedisMongoLinkStore.on(client, mongo_alias, prefix=f"sbtest-{uuid.uuid4().hex[:8]}")
        code = hashed()
        assert await links.issue(A, code, 600)
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await links.issue(A, hashed(), 600)
        with pytest.raises(StorageUnavailable):
            await links.redeem(B, code, LOOSE)
        assert time.monotonic() - started < 5
        assert await links.link(B, A) == A, "aliases live in MongoDB, which answers"
    finally:
        await client.aclose()


async def test_mongodb_cut_is_storage_unavailable_for_aliases(mongodb_test_uri: str, redis_url: str) -> None:
    target = urlsplit(mongodb_test_uri)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 27017)
    alias = f"links-cut-{uuid.uuid4().hex[:8]}"
    connect_mongo(
        f"mongodb://127.0.0.1:{proxy.port}{target.path}?directConnection=true", alias=alias, timeout_ms=500
    )
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"
    try:
        links = RedisMongoLinkStore.on(client, alias, prefix=prefix)
        await links.ensure_indexes()
        await links.link(B, A)
        proxy.cut()
        started = time.monotonic()
        for call in every_call(links)[2:]:
            with pytest.raises(StorageUnavailable):
                await call()
        assert time.monotonic() - started < 10
        code = hashed()
        assert await links.issue(A, code, 600), "codes live in Redis, which answers"
        assert await links.redeem(B, code, LOOSE) == TAKEN_FROM_A
    finally:
        async for stale in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(stale)
        await client.aclose()
        disconnect_mongo(alias)


# --- what is stored ------------------------------------------------------------------------------


async def test_redis_holds_hashes_with_lifetimes_and_no_code(redis_url: str, mongo_alias: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"
    try:
        codes = RedisLinkCodes(client, prefix=prefix)
        typed = new_code()
        await codes.issue(A, code_hash(KEY, typed), 600)
        await codes.redeem(B, code_hash(KEY, new_code()), LOOSE)
        other = new_code()
        await codes.issue(C, code_hash(KEY, other), 600)
        await codes.redeem(D, code_hash(KEY, other), LOOSE)

        stored: dict[str, str] = {}
        async for key in client.scan_iter(match=f"{prefix}:*"):
            value = await client.get(key)
            stored[key.decode()] = value.decode() if isinstance(value, bytes) else str(value)
            assert 0 < await client.pttl(key) <= 600_000, f"{key!r} expires"
        assert {k.removeprefix(prefix).split(":")[2] for k in stored} == {"c", "i", "f", "t"}
        dump = " ".join([*stored, *stored.values()]).upper()
        for code in (typed, other):
            assert code not in dump and shown(code) not in dump
        assert f"{prefix}:lk:c:{code_hash(KEY, typed)}" in stored
    finally:
        async for stale in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(stale)
        await client.aclose()


async def test_the_links_collection(mongo_alias: str, mongo_db: Database[Raw]) -> None:
    aliases = MongoLinkAliases(mongo_alias)
    await aliases.ensure_indexes()
    await aliases.link(B, A)
    await aliases.link(C, A)

    docs = sorted(mongo_db["links"].find(), key=lambda d: str(d["_id"]))
    assert [(d["_id"], d["canonical"]) for d in docs] == [(B, A), (C, A)]
    assert set(docs[0]) == {"_id", "canonical", "at"}, "identities only: no platform id, no name"
    indexes = [tuple(spec["key"]) for spec in mongo_db["links"].list_indexes()]
    assert ("canonical",) in indexes
    command = {"find": "links", "filter": {"canonical": A}}
    plan = mongo_db.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    assert "COLLSCAN" not in str(plan), "aliases and unlink are served by the canonical index"
