"""The engine on the real stores (SecantusDB + Redis): what only real servers can show."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from adapters.bootstrap import App, open_app
from adapters.config import load_config
from adapters.stores.redis_store import key_secret, pseudonym
from bot import texts
from bot.catalog import publish
from bot.loader import load_file, load_text
from bot.messages import Incoming, Kind, Outgoing
from tests.integration.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
ICE_CREAM = ROOT / "surveys" / "ice-cream.yaml"

OpenApp = Callable[..., Awaitable[App]]
KEYS = key_secret(b"integration")


def session_key(user: str) -> str:
    """Where the product keeps a respondent's session: Redis keys name an HMAC of the user id."""
    return f"sb:s:it:{pseudonym(KEYS, user)}"


def lock_key(user: str) -> str:
    return f"sb:l:it:{pseudonym(KEYS, user)}"


@pytest.fixture
async def make_app(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> AsyncIterator[OpenApp]:
    """Opens Apps as separate processes would: own connections and caches, the same stores."""
    opened: list[App] = []

    async def make(mongodb_uri: str = mongodb_test_uri, redis: str = redis_url) -> App:
        environ = {"MONGODB_URI": mongodb_uri, "REDIS_URL": redis, "SURVEYBOT_SECRET": "integration"}
        config = load_config(ROOT / "config.yaml", environ=environ)
        app = await open_app(config, state_dir=tmp_path, alias=f"engine-{uuid.uuid4().hex[:8]}")
        opened.append(app)
        return app

    yield make
    for app in opened:
        await app.aclose()


@pytest.fixture
async def app(make_app: OpenApp) -> App:
    app = await make_app()
    await publish(app.surveys, load_file(ICE_CREAM))
    return app


@pytest.fixture
def user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


def said(app: App, user: str, text: str, update_id: str | None = None) -> Awaitable[list[Outgoing]]:
    msg = Incoming(
        platform="it", user_id=user, user_name="John Doe", chat_id=user, text=text, update_id=update_id
    )
    return app.engine.handle(msg)


def stored(db: Database[dict[str, Any]], **query: Any) -> list[dict[str, Any]]:
    return list(db["responses"].find(query))


def question_id(out: list[Outgoing]) -> str | None:
    return next((m.question_id for m in out if m.kind is Kind.QUESTION), None)


async def test_a_whole_survey_is_stored_in_mongodb(
    app: App, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    await said(app, user, "/start ice-cream")
    await said(app, user, "2")
    out = await said(app, user, "No, thank you.")
    assert out[-1].text == "Thank you for your time, John Doe! Your response has been recorded."
    [doc] = stored(mongo_db, survey_id="ice-cream")
    assert doc["status"] == "completed" and doc["version"] == 1
    assert doc["respondent"]["name"] == "John Doe" and doc["respondent"]["user_id"] == user
    assert {k: v["value"] for k, v in doc["answers"].items()} == {
        "flavour": "chocolate",
        "wants_feedback": False,
    }
    assert doc["path"] == ["flavour", "wants_feedback"]
    assert doc["completed_at"] is not None


async def test_resume_after_the_redis_session_is_deleted(
    app: App, user: str, redis_client: redis.Redis, mongo_db: Database[dict[str, Any]]
) -> None:
    await said(app, user, "/start ice-cream")
    await said(app, user, "strawberry")
    assert redis_client.delete(session_key(user)) == 1
    out = await said(app, user, "yes")
    assert question_id(out) == "why"
    assert "Strawberry" in next(m.text for m in out if m.kind is Kind.QUESTION)
    [doc] = stored(mongo_db)
    assert doc["path"] == ["flavour", "wants_feedback"]


async def test_respondent_finishes_on_the_version_they_started(
    app: App, make_app: OpenApp, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    await said(app, user, "/start ice-cream")
    v2 = load_text(
        ICE_CREAM.read_text(encoding="utf-8")
        .replace("Vanilla", "Pistachio")
        .replace("version: 1", "version: 2"),
        "v2.yaml",
    )
    other_process = await make_app()
    assert (await publish(other_process.surveys, v2)).survey.version == 2
    out = await said(app, user, "1")
    assert "Vanilla" in next(m.text for m in out if m.kind is Kind.QUESTION)
    await said(app, user, "no")
    newcomer = f"{user}-new"
    out = await said(other_process, newcomer, "/start ice-cream")
    assert next(m for m in out if m.kind is Kind.QUESTION).choices[0].label == "Pistachio"
    assert {d["respondent"]["user_id"]: d["version"] for d in stored(mongo_db)} == {user: 1, newcomer: 2}


async def test_the_same_update_twice_is_answered_once(
    app: App, make_app: OpenApp, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    await said(app, user, "/start ice-cream")
    assert await said(app, user, "2", update_id="upd-1")
    other_process = await make_app()
    assert await said(other_process, user, "2", update_id="upd-1") == []
    [doc] = stored(mongo_db)
    assert doc["path"] == ["flavour"] and doc["revision"] == 1


async def test_two_processes_handling_one_respondent_at_once_are_serialised(
    app: App, make_app: OpenApp, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    other_process = await make_app()
    await said(app, user, "/start ice-cream")
    first, second = await asyncio.gather(
        said(app, user, "2", update_id="a"), said(other_process, user, "chocolate", update_id="b")
    )
    [doc] = stored(mongo_db)
    assert doc["path"] == ["flavour"]
    assert doc["answers"]["flavour"]["value"] == "chocolate"
    # Whichever came second was taken as the answer to the yes/no question, and refused there.
    assert sorted([first[0].kind, second[0].kind]) == sorted([Kind.INFO, Kind.ERROR])


async def test_mongodb_outage_says_try_again_and_half_writes_nothing(
    make_app: OpenApp,
    mongodb_test_uri: str,
    user: str,
    redis_client: redis.Redis,
    mongo_db: Database[dict[str, Any]],
) -> None:
    target = urlsplit(mongodb_test_uri)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 27017)
    app = await make_app(mongodb_uri=f"mongodb://127.0.0.1:{proxy.port}{target.path}?directConnection=true")
    await publish(app.surveys, load_file(ICE_CREAM))
    await said(app, user, "/start ice-cream")
    session_before = redis_client.get(session_key(user))
    proxy.cut()
    out = await said(app, user, "2", update_id="retry-me")
    # The driver cannot always tell whether a request on a dropped connection left: either reply asks
    # for the answer again.
    assert [m.text for m in out] in ([texts.UNAVAILABLE], [texts.UNCONFIRMED])
    assert redis_client.get(session_key(user)) == session_before
    assert redis_client.exists(lock_key(user)) == 0, "the lock was released"
    [doc] = stored(mongo_db)
    assert doc["path"] == []
    recovered = await make_app()  # MongoDB is back (another process, or this one reconnected)
    out = await said(recovered, user, "2", update_id="retry-me")  # the platform's redelivery
    assert question_id(out) == "wants_feedback"


async def test_redis_outage_says_try_again_and_writes_nothing(
    app: App, make_app: OpenApp, redis_url: str, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    through_proxy = await make_app(redis=f"redis://127.0.0.1:{proxy.port}{target.path}")
    await said(through_proxy, user, "/start ice-cream")
    proxy.cut()
    out = await said(through_proxy, user, "2")
    assert [m.text for m in out] == [texts.UNAVAILABLE]
    [doc] = stored(mongo_db)
    assert doc["path"] == []
    out = await said(app, user, "2")
    assert question_id(out) == "wants_feedback"


async def test_one_response_per_user_is_held_by_the_unique_index(
    app: App, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    await said(app, user, "/start ice-cream")
    await said(app, user, "1")
    await said(app, user, "no")
    [done] = stored(mongo_db)
    copy = {**done, "_id": "another", "slot": done["slot"]}
    with pytest.raises(DuplicateKeyError):
        mongo_db["responses"].insert_one(copy)
    out = await said(app, user, "/start ice-cream")
    assert [m.text for m in out] == [texts.ALREADY_COMPLETED.format(title="Ice cream preferences")]


async def test_the_session_lives_as_long_as_the_survey_says(
    app: App, user: str, redis_client: redis.Redis
) -> None:
    await publish(app.surveys, load_file(ROOT / "surveys" / "customer-feedback.yaml"))
    await said(app, user, "/start ice-cream")
    assert 86_000 < redis_client.ttl(session_key(user)) <= 86_400  # default session_ttl: 24h
    await said(app, user, "/start customer-feedback")
    assert 7_000 < redis_client.ttl(session_key(user)) <= 7_200  # session_ttl: 2h


async def test_two_linked_chats_in_two_processes_store_one_answer_once(
    make_app: OpenApp, user: str, mongo_db: Database[dict[str, Any]]
) -> None:
    """Two workers, one serving a respondent's Telegram chat and one their web chat, linked: the same
    answer pressed in both at once is stored once, and MongoDB holds one response."""
    first, second = await make_app(), await make_app()
    await publish(first.surveys, load_file(ICE_CREAM))
    web_user = f"w-{user}"

    def press(app: App, platform: str, who: str, value: str, update: str) -> Awaitable[list[Outgoing]]:
        msg = Incoming(platform=platform, user_id=who, chat_id=who, button=value, update_id=update)
        return app.engine.handle(msg)

    async def say(app: App, platform: str, who: str, text: str) -> list[Outgoing]:
        return await app.engine.handle(Incoming(platform=platform, user_id=who, chat_id=who, text=text))

    out = await say(first, "telegram", user, "/start ice-cream")
    vanilla = next(m for m in out if m.kind is Kind.QUESTION).choices[0].value
    code = (await say(first, "telegram", user, "/link"))[-1].text.split("code is ")[1][:7]
    linked = await say(second, "web", web_user, code)
    assert linked[0].text == texts.LINKED

    both = await asyncio.gather(
        press(first, "telegram", user, vanilla, f"t-{user}"),
        press(second, "web", web_user, vanilla, f"w-{user}"),
    )

    (response,) = stored(mongo_db, survey_id="ice-cream", **{"respondent.user_id": user})
    assert response["path"] == ["flavour"] and response["answers"]["flavour"]["value"] == "vanilla"
    asked = {m.text for out in both for m in out if m.kind is Kind.QUESTION}
    assert asked == {"Would you like to provide feedback on why you chose Vanilla?"}
    assert not stored(mongo_db, **{"respondent.user_id": web_user}), "the web chat began none of its own"
    assert await first.links.alias(
        second.engine.respondent_key("web", web_user)
    ) == first.engine.respondent_key("telegram", user)
