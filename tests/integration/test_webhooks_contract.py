"""The webhook stores' contract, against the in-memory ones and the real ones (the MongoDB-protocol
server): the response outbox, and deliveries claimed by one worker at a time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.stores.deliveries import MongoDeliveryStore
from adapters.stores.memory import InMemoryDeliveryStore, InMemoryResponseStore
from adapters.stores.mongo import MongoResponseStore, connect_mongo, disconnect_mongo
from adapters.webhooks import Delivery, DeliveryStatus, DeliveryStore
from bot.ports import ResponseStore
from bot.responses import Respondent, Response, Status
from bot.survey import COMPLETED, STARTED

T0 = datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)


@dataclass
class Stores:
    responses: ResponseStore
    deliveries: DeliveryStore
    other: DeliveryStore
    """Another worker's store on the same data."""


@pytest.fixture(params=["memory", "real"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        shared = InMemoryDeliveryStore()
        yield Stores(InMemoryResponseStore(), shared, shared)
        return
    uri: str = request.getfixturevalue("mongodb_test_uri")
    aliases = [f"hooks-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for alias in aliases:
        connect_mongo(uri, alias=alias, timeout_ms=5000)
    try:
        responses = MongoResponseStore(aliases[0])
        deliveries, other = MongoDeliveryStore(aliases[0]), MongoDeliveryStore(aliases[1])
        await responses.ensure_indexes()
        await deliveries.ensure_indexes()
        yield Stores(responses, deliveries, other)
    finally:
        for alias in aliases:
            disconnect_mongo(alias)


def response(key: str = "k1", outbox: tuple[str, ...] = ()) -> Response:
    return Response(
        id=uuid.uuid4().hex[:24],
        survey_id="pulse",
        version=1,
        respondent=Respondent("console", key, "u-" + key, "Ada"),
        started_at=T0,
        updated_at=T0,
        one_per_user=False,
        outbox=outbox,
    )


def delivery(n: int, due: datetime = T0) -> Delivery:
    return Delivery(
        id=f"evt_{n}_completed:abc",
        event_id=f"evt_{n}_completed",
        event=COMPLETED,
        survey_id="pulse",
        url="https://hooks.example.com/in",
        body=f'{{"n": {n}}}',
        created_at=T0 + timedelta(seconds=n),
        next_at=due,
    )


# --- the outbox -----------------------------------------------------------------------------------


async def test_an_event_is_written_with_the_change_that_raised_it(stores: Stores) -> None:
    started = await stores.responses.create(response(outbox=(STARTED,)))
    quiet = await stores.responses.create(response("k2"))
    assert started.outbox == (STARTED,)

    done = await stores.responses.complete(started.id, 0, {}, T0, events=(COMPLETED,))
    assert set(done.outbox) == {STARTED, COMPLETED}
    assert done.status is Status.COMPLETED
    await stores.responses.complete(quiet.id, 0, {}, T0)

    waiting = await stores.responses.with_events(10)
    assert [r.id for r in waiting] == [started.id], "a response without events is not listed"


async def test_clearing_events_changes_nothing_else(stores: Stores) -> None:
    r = await stores.responses.create(response(outbox=(STARTED,)))
    await stores.responses.clear_events(r.id, (STARTED,))
    cleared = await stores.responses.get(r.id)
    assert cleared.outbox == ()
    assert cleared.revision == r.revision, "a conversation's next write must not be refused for it"
    assert await stores.responses.with_events(10) == []

    # The conversation goes on from the revision it read.
    done = await stores.responses.complete(r.id, r.revision, {}, T0, events=(COMPLETED,))
    assert done.outbox == (COMPLETED,)
    await stores.responses.clear_events(r.id, (STARTED, COMPLETED))  # clearing twice is harmless
    assert (await stores.responses.get(r.id)).outbox == ()


async def test_events_of_many_responses_are_listed_in_batches(stores: Stores) -> None:
    for n in range(5):
        await stores.responses.create(response(f"k{n}", outbox=(STARTED,)))
    assert len(await stores.responses.with_events(3)) == 3
    assert len(await stores.responses.with_events(10)) == 5


# --- deliveries -----------------------------------------------------------------------------------


async def test_adding_again_leaves_a_delivery_as_it_is(stores: Stores) -> None:
    await stores.deliveries.add([delivery(1), delivery(2)])
    [held] = await stores.deliveries.claim(T0, T0 + timedelta(minutes=1), "w1", 1)
    await stores.deliveries.add([delivery(1), delivery(2), delivery(3)])  # a relay that ran twice

    listed = {d.id: d for d in await stores.deliveries.list()}
    assert sorted(listed) == [delivery(n).id for n in (1, 2, 3)]
    assert listed[held.id].owner == "w1", "the stored delivery was not reset"


async def test_a_claim_takes_what_is_due_oldest_first_and_leases_it(stores: Stores) -> None:
    await stores.deliveries.add(
        [delivery(1, T0), delivery(2, T0 - timedelta(seconds=5)), delivery(3, T0 + timedelta(hours=1))]
    )
    lease = T0 + timedelta(minutes=1)

    claimed = await stores.deliveries.claim(T0, lease, "w1", 10)
    assert [d.id for d in claimed] == [delivery(2).id, delivery(1).id], "not yet due: delivery 3"
    assert all(d.owner == "w1" and d.next_at == lease for d in claimed)

    assert await stores.other.claim(T0 + timedelta(seconds=30), lease, "w2", 10) == [], "held by w1"
    again = await stores.other.claim(lease, lease + timedelta(minutes=1), "w2", 10)
    assert sorted(d.id for d in again) == sorted(d.id for d in claimed), "the lease lapsed: w2 takes them"


async def test_workers_claiming_at_once_each_get_a_delivery_once(stores: Stores) -> None:
    await stores.deliveries.add([delivery(n) for n in range(40)])
    lease = T0 + timedelta(minutes=1)

    batches = await asyncio.gather(
        *((stores.deliveries if i % 2 else stores.other).claim(T0, lease, f"w{i}", 7) for i in range(8))
    )
    ids = [d.id for batch in batches for d in batch]
    assert len(ids) == len(set(ids)) == 40


async def test_an_outcome_is_kept_only_from_the_worker_holding_the_delivery(stores: Stores) -> None:
    await stores.deliveries.add([delivery(1)])
    lease = T0 + timedelta(minutes=1)
    [first] = await stores.deliveries.claim(T0, lease, "w1", 1)
    [second] = await stores.other.claim(lease, lease + timedelta(minutes=1), "w2", 1)  # w1 was too slow

    late = replace(first, status=DeliveryStatus.DELIVERED, attempts=1, delivered_at=lease)
    assert not await stores.deliveries.settle(late)
    failed = replace(second, attempts=1, next_at=lease + timedelta(seconds=10), last_error="HTTP 503")
    assert await stores.other.settle(failed)

    [stored] = await stores.deliveries.list()
    assert (stored.status, stored.attempts, stored.last_error) == (DeliveryStatus.PENDING, 1, "HTTP 503")


async def test_a_failed_delivery_is_retried_on_demand_only(stores: Stores) -> None:
    await stores.deliveries.add([delivery(1), delivery(2)])
    [held, other] = await stores.deliveries.claim(T0, T0 + timedelta(minutes=1), "w1", 2)
    await stores.deliveries.settle(
        replace(held, status=DeliveryStatus.FAILED, attempts=15, last_error="HTTP 500")
    )
    await stores.deliveries.settle(
        replace(other, status=DeliveryStatus.DELIVERED, attempts=1, delivered_at=T0)
    )
    later = T0 + timedelta(days=1)
    assert await stores.deliveries.claim(later, later, "w1", 10) == [], "failed for good: not claimed"

    assert not await stores.deliveries.retry(other.id, later), "a delivered one is not sent again"
    assert not await stores.deliveries.retry("evt_nope", later)
    assert await stores.deliveries.retry(held.id, later)
    [again] = await stores.deliveries.claim(later, later + timedelta(minutes=1), "w2", 10)
    assert (again.id, again.attempts, again.status) == (held.id, 0, DeliveryStatus.PENDING)

    counts = await stores.deliveries.counts()
    assert counts == {DeliveryStatus.PENDING: 1, DeliveryStatus.DELIVERED: 1, DeliveryStatus.FAILED: 0}
    assert [d.id for d in await stores.deliveries.list(DeliveryStatus.DELIVERED)] == [other.id]
    assert [d.id for d in await stores.deliveries.list(survey_id="other")] == []
