"""Every MongoDB query a respondent's messages make is served by _id or an index, on the embedded server
(issue 11: findAndModify and /start's lookup were collection scans there, so the cost of an answer grew
with every response stored: 9.8 ms with 100 responses, 234 ms with 10,000).

A conversation that takes every path of the message flow (start, answers, a button of another question,
the last answer, a session lost in Redis, a redelivery, a resume) runs through the real stores while a
command listener records what the MongoDB store sends; each query it sent is then explained, and a
collection scan fails the test."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from adapters.bootstrap import App, open_app
from adapters.config import load_config
from adapters.stores.redis_store import key_secret, pseudonym
from bot.catalog import publish
from bot.loader import load_file
from bot.messages import Incoming

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET = "query-plans"


class Recorder(monitoring.CommandListener):
    """The commands sent to ``responses`` while ``on`` (pymongo has no way to unregister a listener)."""

    def __init__(self) -> None:
        self.on = False
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command.get(event.command_name) == "responses":
            self.commands.append({event.command_name: dict(event.command)})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


RECORDER = Recorder()
monitoring.register(RECORDER)


@pytest.fixture
async def app(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> AsyncIterator[App]:
    environ = {"MONGODB_URI": mongodb_test_uri, "REDIS_URL": redis_url, "SURVEYBOT_SECRET": SECRET}
    opened = await open_app(
        load_config(ROOT / "config.yaml", environ=environ), tmp_path, alias=uuid.uuid4().hex
    )
    await publish(opened.surveys, load_file(ROOT / "surveys" / "ice-cream.yaml"))
    yield opened
    await opened.aclose()


def by_id(command: dict[str, Any]) -> bool:
    """Whether the command's filter pins ``_id`` to one value: MongoDB serves it by _id whatever the
    other conditions (IDHACK), and so does the embedded server, flat from 1,000 to 100,000 responses
    (bench/growth.py), though its explain prints such a plan as a collection scan."""
    for key in ("filter", "query"):
        if isinstance(command.get(key), dict) and isinstance(command[key].get("_id"), str):
            return True
    updates = command.get("updates") or command.get("deletes") or []
    return len(updates) == 1 and isinstance(updates[0]["q"].get("_id"), str)


def explain(database: Any, name: str, command: dict[str, Any]) -> str:
    """The winning plan of what ``command`` asks of the collection, as JSON text."""
    if name == "find":
        query = {"find": "responses", "filter": command["filter"], "sort": command.get("sort", {})}
    elif name == "aggregate":
        query = {"aggregate": "responses", "pipeline": command["pipeline"], "cursor": {}}
    elif name in ("update", "delete"):
        # The embedded server's explain of an update does not show its plan; the plan of a find with the
        # update's filter is the one its write path uses.
        key = "updates" if name == "update" else "deletes"
        query = {"find": "responses", "filter": command[key][0]["q"]}
    elif name == "findAndModify":
        query = {"find": "responses", "filter": command["query"], "sort": command.get("sort", {})}
    else:
        return "{}"
    return json.dumps(
        database.command("explain", query, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    )


async def test_no_message_path_query_scans_the_collection(
    app: App, mongodb_test_uri: str, redis_url: str
) -> None:
    import redis

    def said(user: str, text: str, update: str) -> Incoming:
        return Incoming(platform="test", user_id=user, chat_id=user, text=text, update_id=update)

    RECORDER.commands.clear()
    RECORDER.on = True
    try:
        for user in ("ann", "bob"):
            await app.engine.handle(said(user, "/start ice-cream", f"{user}-1"))
        await app.engine.handle(said("ann", "2", "ann-2"))
        await app.engine.handle(said("ann", "2", "ann-2"))  # a redelivery
        client = redis.Redis.from_url(redis_url)
        client.delete(f"sb:s:test:{pseudonym(key_secret(SECRET.encode()), 'ann')}")  # Redis lost it
        client.close()
        await app.engine.handle(said("ann", "yes", "ann-3"))
        await app.engine.handle(said("ann", "Creamy.", "ann-4"))  # the last answer
        await app.engine.handle(said("bob", "/stop", "bob-2"))
        await app.engine.handle(said("bob", "/start", "bob-3"))  # resume
        await app.engine.handle(said("bob", "9", "bob-4"))  # refused: re-asked
        await app.engine.handle(said("bob", "/start ice-cream", "bob-5"))
    finally:
        RECORDER.on = False
    sent = RECORDER.commands
    kinds = sorted({next(iter(c)) for c in sent})
    assert {"find", "insert", "update"} <= set(kinds), kinds

    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_test_uri) as mongo:
        database: Any = mongo.get_default_database()
        scans, keyed = [], 0
        for command in sent:
            ((name, body),) = command.items()
            if by_id(body):
                keyed += 1
                continue
            plan = explain(database, name, body)
            if "COLLSCAN" in plan:
                scans.append(f"{name} {body.get('filter') or body.get('query')}: {plan[:200]}")
    assert not scans, "\n".join(scans)
    assert keyed >= 8, "the writes and reads by _id were seen"


async def test_webhook_and_campaign_queries_use_their_indexes(app: App, mongodb_test_uri: str) -> None:
    """The relay's look-up of responses with events, the claims and listings of deliveries, and the
    campaigns' claims, counts, lists and web-link counts."""
    from datetime import UTC, datetime

    from adapters.stores.deliveries import DeliveryDocument
    from bot.survey import EVENTS

    now = datetime.now(UTC)
    queries = [
        ("responses", {"outbox": {"$in": list(EVENTS)}}, {}),
        (
            DeliveryDocument._meta["collection"],
            {"status": "pending", "next_at": {"$lte": now}},
            {"next_at": 1},
        ),
        (DeliveryDocument._meta["collection"], {"status": "failed"}, {"created_at": -1}),
        (DeliveryDocument._meta["collection"], {"survey_id": "pulse"}, {"created_at": -1}),
        ("invitations", {"status": "pending", "due_at": {"$lte": now}}, {"due_at": 1}),
        ("invitations", {"campaign_id": "weekly"}, {}),
        ("contacts", {"platform": "telegram", "tags": {"$in": ["team"]}}, {}),
        ("responses", {"campaign": "weekly"}, {}),
    ]
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_test_uri) as mongo:
        database: Any = mongo.get_default_database()
        for collection, query, order in queries:
            command = {"find": collection, "filter": query, "sort": order}
            plan = json.dumps(
                database.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"],
                default=str,
            )
            assert "COLLSCAN" not in plan, f"{collection} {query}: {plan[:300]}"
