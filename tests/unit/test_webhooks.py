"""Survey webhooks: the format's ``settings.webhooks``, events raised with the engine's writes, signing,
and the relay and deliverer on in-memory stores with httpx's mock transport as the receiver."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.metrics import REGISTRY
from adapters.stores.memory import (
    InMemoryDeliveryStore,
    InMemoryResponseStore,
    InMemorySessionStore,
    InMemorySurveyStore,
)
from adapters.webhooks import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryStatus,
    Policy,
    Poster,
    PostFailed,
    Webhooks,
    backoff,
    signature,
    signing_secret,
    verify,
)
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_text
from bot.messages import Incoming
from bot.survey import COMPLETED, STARTED, Broadcast, Survey, Webhook

KEY = b"k" * 32
HOOK = "https://hooks.example.com/in"
SURVEY = """\
id: pulse
title: Team pulse
settings:
  anonymous: ANONYMOUS
  webhooks:
    - url: https://hooks.example.com/in
      events: [response.started, response.completed]
    - url: https://other.example.com/in
questions:
  - {id: mood, type: rating, text: "How was your week?", min: 1, max: 5}
  - {id: note, type: text, text: "Anything to add?", required: false}
"""


def pulse(anonymous: bool = False) -> str:
    return SURVEY.replace("ANONYMOUS", str(anonymous).lower())


def loaded(text: str) -> object:
    try:
        return load_text(text, "hooks.yaml")
    except DefinitionError as error:
        return [str(p) for p in error.problems]


# --- the format -----------------------------------------------------------------------------------


def test_webhooks_are_read_with_completed_as_the_default_event() -> None:
    survey = load_text(pulse(), "pulse.yaml")
    assert survey.settings.webhooks == (
        Webhook(HOOK, frozenset({STARTED, COMPLETED})),
        Webhook("https://other.example.com/in", frozenset({COMPLETED})),
    )
    assert survey.settings.wants(STARTED) and survey.settings.wants(COMPLETED)
    assert not load_text("id: x\ntitle: X\nquestions: [{id: q, type: text, text: Q}]\n").settings.wants(
        COMPLETED
    )


@pytest.mark.parametrize(
    ("hooks", "problem"),
    [
        ("[{url: 'http://hooks.example.com/x'}]", "hooks.yaml:4: a webhook url must use https"),
        ("[{url: 'ftp://h/x'}]", "hooks.yaml:4: a webhook url must be https://HOST/…"),
        ("[{url: 'https://u:p@h.example.com/x'}]", "must not hold a user name or password"),
        ("[{url: 'https://h.example.com:x/'}]", "cannot be read"),
        (
            "[{url: 'https://h.example.com/', events: [response.paid]}]",
            "unknown webhook event the text 'response.paid'",
        ),
        ("[{url: 'https://h.example.com/', events: []}]", "'events' must name at least one event"),
        ("[{url: 'https://h.example.com/', secret: x}]", "hooks.yaml:4: unknown field 'secret' in a webhook"),
        ("[{events: [response.completed]}]", "'url'"),
        ("[https://h.example.com/]", "a webhook must be a mapping with a url"),
        ("[{url: 'https://a.example.com/'}, {url: 'https://a.example.com/'}]", "duplicate webhook url"),
        (str([{"url": f"https://h{i}.example.com/"} for i in range(6)]), "at most 5 webhooks, not 6"),
    ],
)
def test_a_wrong_webhook_is_refused_with_its_line(hooks: str, problem: str) -> None:
    text = f"id: x\ntitle: X\nsettings:\n  webhooks: {hooks}\nquestions: [{{id: q, type: text, text: Q}}]\n"
    problems = loaded(text)
    assert isinstance(problems, list) and any(problem in p for p in problems), problems


def test_http_is_allowed_to_this_machine_only() -> None:
    for url in ("http://localhost:9000/in", "http://127.0.0.1/in", "http://[::1]:8080/in"):
        hooks = f"{{webhooks: [{{url: '{url}'}}]}}"
        text = f"id: x\ntitle: X\nsettings: {hooks}\nquestions: [{{id: q, type: text, text: Q}}]\n"
        assert not isinstance(loaded(text), list), url


# --- signing --------------------------------------------------------------------------------------


def test_a_signature_verifies_under_its_secret_only_and_only_while_fresh() -> None:
    secret, body, now = signing_secret(KEY, HOOK), b'{"id":"evt_1"}', int(time.time())
    header = signature(secret, now, body)
    assert header.startswith(f"t={now},v1=") and secret.startswith("whsec_")
    assert verify(secret, header, body)
    assert not verify(secret, header, body + b" ")
    assert not verify(signing_secret(KEY, HOOK + "x"), header, body), "each endpoint has its own secret"
    assert not verify(signing_secret(b"other", HOOK), header, body), "derived from SURVEYBOT_SECRET"
    assert not verify(secret, header, body, now=now + 301), "a replay after five minutes"
    assert not verify(secret, "v1=abc", body) and not verify(secret, "t=x,v1=abc", body)
    assert verify(secret, f"{header},v1=deadbeef", body), "one matching v1 is enough (secret rotation)"


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    waits = [backoff(n, 10, 3600) for n in range(1, 12)]
    assert 8 <= waits[0] <= 12 and 16 <= waits[1] <= 24 and 64 <= waits[3] <= 96
    assert all(w <= 3600 * 1.2 for w in waits) and waits[-1] >= 3600 * 0.8


# --- from a conversation to the receiver ----------------------------------------------------------


class Receiver:
    """httpx's mock transport as the endpoints: answers with ``status`` (or raises ``error``)."""

    def __init__(self) -> None:
        self.status = 200
        self.error: Exception | None = None
        self.got: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.got.append(request)
        if self.error is not None:
            raise self.error
        return httpx.Response(self.status)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    engine: Engine
    hooks: Webhooks
    receiver: Receiver
    clock: Clock
    survey: Survey


async def world(anonymous: bool = False, **policy: Any) -> World:
    """The pulse survey published, an engine, and webhooks delivering to a :class:`Receiver`."""
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    survey = (await publish(surveys, load_text(pulse(anonymous), "p.yaml"))).survey
    cache = SurveyCache(surveys)
    receiver, clock = Receiver(), Clock()
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    hooks = Webhooks(
        responses,
        cache,
        InMemoryDeliveryStore(),
        KEY,
        Policy(**{"allow_private_targets": True, **policy}),
        client,
        clock,
    )
    return World(Engine(cache, responses, InMemorySessionStore(), b"secret"), hooks, receiver, clock, survey)


async def take(engine: Engine, user: str, *texts: str) -> None:
    for n, text in enumerate(texts):
        await engine.handle(Incoming("console", user, "Ada", user, text, update_id=f"{user}-{n}"))


async def test_a_completed_response_reaches_every_endpoint_signed_once() -> None:
    w = await world()
    engine, hooks, receiver = w.engine, w.hooks, w.receiver
    await take(engine, "ada", "/start pulse", "4", "Good week.")

    assert await hooks.relay() == 2, "started and completed"
    assert await hooks.relay() == 0, "handed over once"
    assert await hooks.deliver_due() == 3, "started to one endpoint, completed to two"
    assert await hooks.deliver_due() == 0

    by_event = {(r.headers[EVENT_HEADER], str(r.url)) for r in receiver.got}
    assert by_event == {(STARTED, HOOK), (COMPLETED, HOOK), (COMPLETED, "https://other.example.com/in")}
    for request in receiver.got:
        body = request.content
        assert verify(signing_secret(KEY, str(request.url)), request.headers[SIGNATURE_HEADER], body)
        event = json.loads(body)
        assert (
            event["id"] == request.headers[EVENT_ID_HEADER] and event["type"] == request.headers[EVENT_HEADER]
        )
    completed = next(json.loads(r.content) for r in receiver.got if r.headers[EVENT_HEADER] == COMPLETED)
    assert completed["survey"] == {"id": "pulse", "version": 1, "title": "Team pulse"}
    assert completed["response"]["answers"] == {"mood": 4, "note": "Good week."}
    assert completed["response"]["respondent"] == {"platform": "console", "user_id": "ada", "name": "Ada"}
    assert completed["response"]["status"] == "completed"
    counts = await hooks.deliveries.counts()
    assert counts[DeliveryStatus.DELIVERED] == 3


async def test_an_anonymous_survey_sends_no_identity() -> None:
    w = await world(anonymous=True)
    engine, hooks, receiver = w.engine, w.hooks, w.receiver
    await take(engine, "ada", "/start pulse", "4", "/skip")
    await hooks.relay()
    await hooks.deliver_due()
    for request in receiver.got:
        event = json.loads(request.content)
        assert event["response"]["respondent"] is None
        assert "ada" not in request.content.decode() and "Ada" not in request.content.decode()


async def test_a_receiver_that_is_down_gets_the_event_later_with_the_same_id() -> None:
    w = await world(backoff_s=10, max_backoff_s=60)
    engine, hooks, receiver, clock = w.engine, w.hooks, w.receiver, w.clock
    await take(engine, "ada", "/start pulse", "4", "/skip")
    await hooks.relay()

    receiver.status = 503
    await hooks.deliver_due()
    receiver.error = httpx.ConnectError("refused")
    assert await hooks.deliver_due() == 0, "not due before its back-off"
    clock.now += timedelta(seconds=13)
    await hooks.deliver_due()
    pending = await hooks.deliveries.list(DeliveryStatus.PENDING)
    assert len(pending) == 3 and all(d.attempts == 2 for d in pending)
    assert {d.last_error for d in pending} == {"ConnectError: refused"}

    receiver.status, receiver.error = 200, None
    clock.now += timedelta(seconds=30)
    await hooks.deliver_due()
    assert (await hooks.deliveries.counts())[DeliveryStatus.DELIVERED] == 3
    ids: dict[str, set[str]] = {}
    for request in receiver.got:
        ids.setdefault(request.headers[EVENT_ID_HEADER], set()).add(request.content.decode())
    assert len(ids) == 2 and all(len(bodies) == 1 for bodies in ids.values()), "same id, same body"


async def test_after_max_attempts_a_delivery_fails_for_good_until_retried() -> None:
    w = await world(max_attempts=2, backoff_s=1, max_backoff_s=1)
    engine, hooks, receiver, clock = w.engine, w.hooks, w.receiver, w.clock
    counted = {o: attempts_counted(o) for o in ("delivered", "retry", "failed")}
    await take(engine, "ada", "/start pulse", "4", "/skip")
    await hooks.relay()
    receiver.status = 500
    for _ in range(3):
        await hooks.deliver_due()
        clock.now += timedelta(seconds=2)
    failed = await hooks.deliveries.list(DeliveryStatus.FAILED)
    assert len(failed) == 3 and {d.last_error for d in failed} == {"HTTP 500"}
    assert await hooks.deliver_due() == 0

    receiver.status = 204
    assert await hooks.deliveries.retry(failed[0].id, clock.now)
    assert await hooks.deliver_due() == 1
    assert (await hooks.deliveries.counts())[DeliveryStatus.DELIVERED] == 1
    counts = {o: attempts_counted(o) - before for o, before in counted.items()}
    assert counts == {"delivered": 1, "retry": 3, "failed": 3}, "in surveybot_webhook_attempts_total"


def attempts_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("surveybot_webhook_attempts_total", {"outcome": outcome}) or 0.0


async def test_private_addresses_are_refused_unless_allowed() -> None:
    w = await world(allow_private_targets=False)
    await take(w.engine, "ann", "/start pulse")
    [response] = await w.hooks.responses.with_events(1)
    # A survey may name a host that resolves into the bot's own network: it is never called.
    local = w.hooks._delivery(STARTED, "http://localhost:9/in", w.survey, response, w.clock())
    await w.hooks.deliveries.add([local])
    await w.hooks.deliver_due()
    [refused] = await w.hooks.deliveries.list()
    assert refused.last_error is not None and "non-public address" in refused.last_error
    assert w.receiver.got == []


async def test_a_survey_without_webhooks_raises_no_events() -> None:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(
        surveys, load_text("id: q\ntitle: Q\nquestions: [{id: a, type: text, text: A}]\n", "q.yaml")
    )
    engine = Engine(SurveyCache(surveys), responses, InMemorySessionStore(), b"s")
    await take(engine, "ada", "/start q", "fine")
    assert await responses.with_events(10) == []


# --- broadcasts -----------------------------------------------------------------------------------

BROADCAST = """\
id: lunch
title: Lunch
settings:
  broadcast:
    - telegram_chat: -1001234567890
    - slack_channel: C0TEAM001
questions:
  - {id: dish, type: single_choice, text: "Which dish?", choices: [Soup, Salad]}
  - {id: extras, type: multi_choice, text: "Extras?", choices: [Bread, Cheese], required: false}
  - {id: note, type: text, text: "Anything else?", required: false}
"""


def test_broadcast_chats_are_read_and_raise_the_completed_event_only() -> None:
    survey = load_text(BROADCAST, "lunch.yaml")
    assert survey.settings.broadcasts == (
        Broadcast("telegram", "-1001234567890"),
        Broadcast("slack", "C0TEAM001"),
    )
    assert survey.settings.wants(COMPLETED) and not survey.settings.wants(STARTED)


@pytest.mark.parametrize(
    ("chats", "problem"),
    [
        ("[{telegram_chat: 'group'}]", "hooks.yaml:4: 'telegram_chat' must be a chat id or @channel"),
        (
            "[{slack_channel: '#team'}]",
            "'slack_channel' must be a channel id like C0123ABCD, not the text '#team'",
        ),
        ("[{discord: 1}]", "hooks.yaml:4: a chat is {telegram_chat: ID} or {slack_channel: ID}"),
        ("[{telegram_chat: 1, slack_channel: C0TEAM001}]", "a chat is {telegram_chat: ID}"),
        (
            "[{slack_channel: C0TEAM001}, {slack_channel: C0TEAM001}]",
            "the slack chat C0TEAM001 is named twice",
        ),
        (str([{"telegram_chat": i} for i in range(6)]), "at most 5 broadcast chats, not 6"),
    ],
)
def test_a_wrong_broadcast_chat_is_refused_with_its_line(chats: str, problem: str) -> None:
    text = f"id: x\ntitle: X\nsettings:\n  broadcast: {chats}\nquestions: [{{id: q, type: text, text: Q}}]\n"
    problems = loaded(text)
    assert isinstance(problems, list) and any(problem in p for p in problems), problems


class Chats:
    """Posters of the platforms: what each chat was sent, or a failure to raise."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []
        self.failure: PostFailed | None = None

    def poster(self, platform: str) -> Poster:
        async def post(chat: str, text: str) -> None:
            if self.failure is not None:
                raise self.failure
            self.posted.append((platform, chat, text))

        return post


async def broadcasting(anonymous: bool, chats: Chats, platforms: tuple[str, ...]) -> World:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    text = BROADCAST.replace("settings:\n", f"settings:\n  anonymous: {str(anonymous).lower()}\n")
    survey = (await publish(surveys, load_text(text, "lunch.yaml"))).survey
    cache, clock = SurveyCache(surveys), Clock()
    posters = {p: chats.poster(p) for p in platforms}
    hooks = Webhooks(
        responses, cache, InMemoryDeliveryStore(), KEY, Policy(backoff_s=1), clock=clock, posters=posters
    )
    return World(Engine(cache, responses, InMemorySessionStore(), b"s"), hooks, Receiver(), clock, survey)


async def test_a_completed_response_is_posted_to_each_chat_with_labels() -> None:
    chats = Chats()
    w = await broadcasting(False, chats, ("telegram", "slack"))
    await take(w.engine, "ada", "/start lunch", "2", "Bread, Cheese", "<!channel> tasty")
    assert await w.hooks.relay() == 1
    assert await w.hooks.deliver_due() == 2
    text = (
        "New response to “Lunch” (Ada, console)\n"
        "• Which dish?: Salad\n• Extras?: Bread, Cheese\n• Anything else?: <!channel> tasty"
    )
    assert sorted(chats.posted) == [("slack", "C0TEAM001", text), ("telegram", "-1001234567890", text)]


async def test_an_anonymous_broadcast_names_nobody() -> None:
    chats = Chats()
    w = await broadcasting(True, chats, ("telegram", "slack"))
    await take(w.engine, "ada", "/start lunch", "1", "/skip", "/skip")
    await w.hooks.relay()
    await w.hooks.deliver_due()
    assert {text.splitlines()[0] for _, _, text in chats.posted} == {
        "New response to “Lunch” (anonymous, console)"
    }
    assert all("Ada" not in text and "ada" not in text for _, _, text in chats.posted)


async def test_a_refused_broadcast_waits_at_least_what_the_platform_asked() -> None:
    chats = Chats()
    w = await broadcasting(False, chats, ("slack",))
    await take(w.engine, "ada", "/start lunch", "1", "/skip", "/skip")
    await w.hooks.relay()
    chats.failure = PostFailed("Slack: ratelimited", retry_after=30)
    await w.hooks.deliver_due()
    by_target = {d.url: d for d in await w.hooks.deliveries.list()}
    slack, telegram = by_target["slack:C0TEAM001"], by_target["telegram:-1001234567890"]
    assert slack.last_error == "Slack: ratelimited" and slack.next_at >= w.clock.now + timedelta(seconds=30)
    assert telegram.last_error == "telegram is not configured in this process"

    chats.failure = None
    w.clock.now += timedelta(seconds=31)
    await w.hooks.deliver_due()
    assert [platform for platform, _, _ in chats.posted] == ["slack"]


def test_the_receivers_check_in_the_docs_verifies_our_signatures() -> None:
    """docs/webhooks.md's snippet, run as written."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = page.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # our own documentation
    secret, body = signing_secret(KEY, HOOK), b'{"id":"evt_1"}'
    header = signature(secret, int(time.time()), body)
    assert scope["verified"](secret, header, body)
    assert not scope["verified"](secret, header, body + b"x")
    assert not scope["verified"](secret, signature(secret, int(time.time()) - 600, body), body)
