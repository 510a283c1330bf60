"""Webhooks under faults, with real processes: the receiver down, then answering so slowly that a
``surveybot run`` worker is killed with SIGKILL while its POSTs are in flight, then up; a second and a
third worker delivering together. Counted at the end: every completed response in MongoDB reached the
receiver, signed; a duplicate only ever repeats the same event id with the same body; and with no fault
under way, two workers together sent each event once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.webhooks import signing_secret, verify, webhook_key
from bot.catalog import publish
from bot.loader import load_text
from bot.messages import Incoming
from tests.faults.harness import FIGURES, SECRET, Stores, Workers, kill_hard, open_side_app, worker_env
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.faults

LEASE_S = 4.0
RESPONSES_PER_PHASE = 20


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    started = Stores(tmp_path)
    started.start()
    try:
        yield started
    finally:
        failures = started.stop()
        assert not failures, failures


def survey_yaml(url: str) -> str:
    return f"""\
id: pulse
title: Team pulse
settings:
  one_response_per_user: false
  webhooks:
    - url: {url}
questions:
  - {{id: mood, type: rating, text: "How was your week?", min: 1, max: 5}}
"""


async def test_webhooks_survive_a_receiver_outage_and_a_worker_killed_mid_delivery(
    stores: Stores, tmp_path: Path
) -> None:
    receiver = Receiver()
    hooks = {
        "timeout_seconds": 2,
        "lease_seconds": LEASE_S,
        "backoff_seconds": 0.3,
        "max_backoff_seconds": 1.5,
        "max_attempts": 100,
    }
    env = worker_env(
        stores, "webhook_faults", tmp_path, {"webhooks": hooks}, WEBHOOKS_ALLOW_PRIVATE_TARGETS="true"
    )
    mongodb_uri = env["MONGODB_URI"]
    workers = Workers(env, tmp_path)
    start_worker = workers.start

    # The respondents' side: an engine of its own on the same stores (any process may complete them).
    app = await open_side_app(env, tmp_path)

    async def complete(n: int, phase: str) -> None:
        for i in range(n):
            user = f"{phase}-{i}"
            for step, text in enumerate(["/start pulse", str(1 + i % 5)]):
                await app.engine.handle(Incoming("test", user, "Ada", user, text, update_id=f"{user}-{step}"))

    try:
        await publish(app.surveys, load_text(survey_yaml(receiver.url), "pulse.yaml"))

        # 1. The receiver is down: the first worker tries, fails and backs off.
        first = await asyncio.to_thread(start_worker)
        await complete(RESPONSES_PER_PHASE, "down")
        await wait_for(lambda: attempts_failed(mongodb_uri) >= RESPONSES_PER_PHASE, 30, "attempts while down")

        # 2. Up, but holding every request: the worker is killed with its POSTs in flight.
        receiver.hold.set()
        receiver.up()
        await wait_for(lambda: receiver.in_flight >= 3, 30, "POSTs in flight")
        kill_hard(first)
        receiver.hold.clear()

        # 3. Two other workers: they take over once the dead worker's leases lapse, and deliver the rest
        #    together with new events, the receiver answering at once.
        killed_at = time.monotonic()
        await asyncio.gather(asyncio.to_thread(start_worker), asyncio.to_thread(start_worker))
        earlier = set(completed_ids(mongodb_uri))
        await complete(RESPONSES_PER_PHASE, "up")
        await wait_for(lambda: delivered(mongodb_uri) == 2 * RESPONSES_PER_PHASE, 60, "every delivery")
        recovered_s = time.monotonic() - killed_at
    finally:
        await app.aclose()
        workers.stop()
        receiver.down()

    completed = completed_ids(mongodb_uri)
    with pymongo_client(mongodb_uri) as mongo:
        outbox_left = mongo.get_default_database().responses.count_documents({"outbox": {"$exists": True}})
    expected = {f"evt_{rid}_completed" for rid in completed}
    received = Counter(event_id for event_id, _, _ in receiver.got)
    secret = signing_secret(webhook_key(SECRET.encode()), receiver.url)
    bodies: dict[str, set[bytes]] = {}
    for event_id, body, header in receiver.got:
        bodies.setdefault(event_id, set()).add(body)
        assert verify(secret, header, body, now=time.time()), f"{event_id}: the signature does not verify"
        assert json.loads(body)["id"] == event_id
    assert len(completed) == 2 * RESPONSES_PER_PHASE
    assert set(received) == expected, "every completed response reached the receiver, nothing else did"
    assert all(len(b) == 1 for b in bodies.values()), "a duplicate repeats the same body"
    assert outbox_left == 0
    repeats = sum(received.values()) - len(expected)
    assert repeats > 0, "the kill hit no POST in flight: nothing was taken over"
    FIGURES.append(
        f"webhooks: {len(expected)} events, {sum(received.values())} POSTs received ({repeats} sent "
        f"again after going unanswered: held by the receiver, their worker killed), all delivered "
        f"{recovered_s:.1f} s after the kill (lease {LEASE_S:.0f} s)"
    )
    # Events raised after the kill, with two live workers and a prompt receiver, arrive exactly once.
    fresh = {f"evt_{rid}_completed" for rid in completed if rid not in earlier}
    assert len(fresh) == RESPONSES_PER_PHASE
    twice = {e: received[e] for e in fresh if received[e] != 1}
    assert not twice, f"sent more than once with no fault under way: {twice}"


def pymongo_client(uri: str) -> Any:
    import pymongo

    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)


def completed_ids(uri: str) -> list[str]:
    with pymongo_client(uri) as mongo:
        return [
            r["_id"] for r in mongo.get_default_database().responses.find({"status": "completed"}, {"_id": 1})
        ]


def attempts_failed(uri: str) -> int:
    with pymongo_client(uri) as mongo:
        return int(mongo.get_default_database().webhook_deliveries.count_documents({"attempts": {"$gte": 1}}))


def delivered(uri: str) -> int:
    with pymongo_client(uri) as mongo:
        return int(mongo.get_default_database().webhook_deliveries.count_documents({"status": "delivered"}))


async def wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
