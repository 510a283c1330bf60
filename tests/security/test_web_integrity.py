"""Web results could be stuffed (issue 10): respondent ids were client-chosen, so
``one_response_per_user`` held per made-up id, and 100 scripted ballots in 4.5 s made one choice 97 %;
nothing limited a client. Ids are now issued and signed by the server, issuing is limited per client
address across workers (Redis), and each connection has a message budget."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from adapters.bootstrap import App
from adapters.config import Config, WebSettings
from adapters.runner import WebServer, uvicorn_config
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from adapters.web import identity
from adapters.web.app import create_web_app
from adapters.web.chat import NOT_ISSUED, TOO_FAST, TOO_MANY_IDS
from adapters.web.limits import RedisLimiter
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.loader import load_text
from bot.messages import Incoming
from bot.responses import Status

POLL = """\
id: poll
title: Poll
questions:
  - id: pick
    type: single_choice
    text: Which one?
    choices: [Red, Blue]
"""


@pytest.fixture
async def app() -> App:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    await publish(surveys, load_text(POLL, "poll.yaml"))
    cache = SurveyCache(surveys, newest_ttl=0)
    config = Config(web=WebSettings(respondent_ids_per_hour=30, messages_per_minute=6, message_burst=20))
    return App(config, surveys, responses, sessions, cache, Engine(cache, responses, sessions, b"k"))


@pytest.fixture
async def url(app: App) -> AsyncIterator[str]:
    """The web app served by uvicorn on a free loopback port, as ``surveybot run`` serves it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn_config(create_web_app(app), app.config)
    config.lifespan = "off"
    server = WebServer(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await asyncio.wait_for(server.accepting.wait(), 10)
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        listener.close()


async def ballot(url: str, respondent: str) -> str:
    """One scripted vote for Red; what the server said last."""
    async with connect(f"ws://{url}/ws/surveys/poll?respondent={respondent}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": "Red", "id": "v"}))
        return str(json.loads(await ws.recv())["messages"][-1]["text"])


async def test_100_scripted_ballots_with_made_up_ids_store_nothing(url: str, app: App) -> None:
    refused = 0
    for _ in range(100):
        try:
            await ballot(url, secrets.token_hex(12) + "." + secrets.token_hex(10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (1008, NOT_ISSUED)
            refused += 1
    assert refused == 100
    assert sum((await app.responses.count("poll")).values()) == 0


async def test_minting_ids_for_ballots_is_limited_per_address(url: str, app: App) -> None:
    async with httpx.AsyncClient(base_url=f"http://{url}") as client:
        minted = [await client.post("/chat/respondent") for _ in range(100)]
        assert minted[0].headers["cache-control"] == "no-store"
    granted = [m.json()["respondent"] for m in minted if m.status_code == 200]
    assert len(granted) == 30
    refusals = [m for m in minted if m.status_code == 429]
    assert len(refusals) == 70 and refusals[0].json() == {"detail": TOO_MANY_IDS}
    assert refusals[0].headers["retry-after"] == "3600"
    async with httpx.AsyncClient(base_url=f"http://{url}") as client:
        german = await client.post("/chat/respondent", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert german.json() == {
        "detail": "Zu viele neue Teilnehmende von Ihrer Adresse; bitte versuchen Sie es später erneut."
    }
    assert all(identity.verify(app.web_key, r) for r in granted)
    votes = [await ballot(url, r) for r in granted[:3]]
    assert votes[0] == votes[1] == votes[2], "issued ids vote like any respondent"
    assert sum((await app.responses.count("poll")).values()) == 3


async def test_a_flood_on_one_connection_is_slowed_not_served(url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{url}") as client:
        respondent = (await client.post("/chat/respondent")).json()["respondent"]
    handled = slowed = 0
    async with connect(f"ws://{url}/ws/surveys/poll?respondent={respondent}") as ws:
        await ws.recv()
        for index in range(100):
            await ws.send(json.dumps({"type": "text", "text": "/help", "id": f"h{index}"}))
            frame = json.loads(await ws.recv())
            if frame["type"] == "error" and frame["error"] == TOO_FAST:
                slowed += 1
            else:
                handled += 1
    assert 20 <= handled <= 22, "a burst of 20, then one every 10 s"
    assert slowed == 100 - handled


@pytest.mark.integration
async def test_the_limit_is_shared_by_every_worker(redis_url: str) -> None:
    """Two workers' limiters on one Redis count together; the address is not stored."""
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(2)]
    try:
        workers = [RedisLimiter(c, b"key", prefix=f"t{secrets.token_hex(4)}") for c in clients]
        workers[1]._prefix = workers[0]._prefix  # the same deployment
        address = "203.0.113.7"
        allowed = [await workers[i % 2].allow("ids", address, 10, 3600) for i in range(25)]
        assert allowed == [True] * 10 + [False] * 15
        keys = [k async for k in clients[0].scan_iter(f"{workers[0]._prefix}:*")]
        assert keys and all(address.encode() not in k for k in keys)
        assert 3500 < await clients[0].ttl(keys[0]) <= 3601
    finally:
        for c in clients:
            await c.aclose()


async def test_an_unreachable_redis_does_not_take_the_chat_down() -> None:
    unreachable = redis.asyncio.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
    try:
        assert await RedisLimiter(unreachable, b"key").allow("ids", "198.51.100.1", 1, 3600)
    finally:
        await unreachable.aclose()


async def test_an_optional_cap_closes_a_survey_to_newcomers() -> None:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    capped = POLL.replace("title: Poll\n", "title: Poll\nsettings:\n  max_responses: 2\n")
    await publish(surveys, load_text(capped, "poll.yaml"))
    engine = Engine(SurveyCache(surveys, newest_ttl=0), responses, sessions, b"k")

    async def say(user: str, text: str) -> list[str]:
        return [
            m.text
            for m in await engine.handle(Incoming(platform="web", user_id=user, chat_id=user, text=text))
        ]

    await say("early", "/start poll")  # in progress when the cap is reached: may still finish
    for user in ("a", "b"):
        await say(user, "/start poll")
        await say(user, "Red")
    assert await say("c", "/start poll") == [
        "“Poll” has all the responses it needs and is closed now. Thank you for your interest!"
    ]
    assert (await say("early", "Blue"))[-1].startswith("Thank you")
    counts = await responses.count("poll")
    assert (counts[Status.COMPLETED], counts[Status.IN_PROGRESS]) == (3, 0)
