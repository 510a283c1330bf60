"""A campaign under a kill -9, with real processes: a ``surveybot run`` worker is killed with SIGKILL
while its invitations are in flight at the (fake) Telegram Bot API, which holds them unanswered; two
more workers finish the occurrence. Counted at the end, against MongoDB and the platform: nobody got two
invitations; every invitation marked ``sent`` reached the platform; those the killed worker had under
way are ``unconfirmed`` (never sent again: the platform cannot say whether they arrived), and whoever
got nothing is among them; nothing is left pending.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest

from bot.catalog import publish
from bot.loader import load_text
from tests.campaign_files import PULSE, store_due_now
from tests.faults.fake_telegram import BOT_TOKEN, FakeBotApi
from tests.faults.harness import FIGURES, Stores, Workers, kill_hard, open_side_app, worker_env

pytestmark = pytest.mark.faults

PEOPLE = [str(7_000_000 + n) for n in range(40)]
LEASE_S = 4.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Stores, FakeBotApi]]:
    stores, telegram = Stores(tmp_path), FakeBotApi(BOT_TOKEN)
    stores.start()
    telegram.start()
    try:
        yield stores, telegram
    finally:
        telegram.hold.clear()
        telegram.stop()
        failures = stores.stop()
        assert not failures, failures


async def test_a_worker_killed_mid_occurrence_leaves_nobody_invited_twice_or_not_at_all(
    world: tuple[Stores, FakeBotApi], tmp_path: Path
) -> None:
    stores, telegram = world
    env = worker_env(
        stores,
        "campaign_faults",
        tmp_path,
        {"campaigns": {"telegram_per_second": 30, "burst": 5, "lease_seconds": LEASE_S}},
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_BASE_URL=telegram.url,
    )
    mongodb_uri = env["MONGODB_URI"]
    workers = Workers(env, tmp_path, webhook=True)
    start_worker = workers.start

    # The survey, and a campaign whose one occurrence came a minute ago (as if loaded before it).
    app = await open_side_app(env, tmp_path)
    try:
        await publish(app.surveys, load_text(PULSE, "pulse.yaml"))
        await store_due_now(app, "now", f"{{telegram: [{', '.join(PEOPLE)}]}}")
    finally:
        await app.aclose()

    # 1. One worker; Telegram holds every invitation unanswered; the worker is killed with some in flight.
    telegram.hold.set()
    first = await asyncio.to_thread(start_worker)
    await wait_for(lambda: telegram.held >= 5, 30, "invitations in flight")
    in_flight = telegram.held
    kill_hard(first)
    telegram.hold.clear()
    killed_at = time.monotonic()

    # 2. Two more workers finish the occurrence once the dead worker's leases lapse.
    await asyncio.gather(asyncio.to_thread(start_worker), asyncio.to_thread(start_worker))
    try:
        await wait_for(lambda: not statuses(mongodb_uri).get("pending"), 60, "every invitation settled")
        finished_s = time.monotonic() - killed_at
    finally:
        workers.stop()

    got = Counter(str(call.params["chat_id"]) for call in telegram.calls("sendMessage"))
    by_person = person_statuses(mongodb_uri)
    sent = {p for p, status in by_person.items() if status == "sent"}
    unconfirmed = {p for p, status in by_person.items() if status == "unconfirmed"}
    assert set(by_person) == set(PEOPLE) and sent | unconfirmed == set(PEOPLE), by_person
    assert all(n == 1 for n in got.values()), f"invited twice: {[p for p, n in got.items() if n > 1]}"
    assert sent <= set(got), "every invitation marked sent reached Telegram"
    assert set(PEOPLE) - set(got) <= unconfirmed, "whoever got nothing is reported unconfirmed"
    assert unconfirmed, "the kill caught invitations in flight"
    FIGURES.append(
        f"campaign: {len(PEOPLE)} people, a worker killed with {in_flight} invitations held at Telegram: "
        f"{len(sent)} sent by the other workers, {len(unconfirmed)} unconfirmed "
        f"({len(unconfirmed & set(got))} of them had reached Telegram), nobody invited twice; settled "
        f"{finished_s:.1f} s after the kill "
        f"(lease {LEASE_S:.0f} s)"
    )


def person_statuses(uri: str) -> dict[str, str]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    with client:
        rows = client.get_default_database().invitations.find({}, {"user_id": 1, "status": 1})
        return {row["user_id"]: row["status"] for row in rows}


def statuses(uri: str) -> dict[str, int]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    with client:
        rows = client.get_default_database().invitations.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        )
        return {row["_id"]: int(row["n"]) for row in rows}


async def wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
