"""The Slack adapter end to end, over loopback HTTP and websockets.

The real slack-bolt app is served by the project's web server (``create_web_app`` under uvicorn) with
the real stores; a local fake of Slack's Web API records every call the app makes, and Slack's side of
the Events API is played with requests signed by the signing secret (Socket Mode: through a fake
websocket server). Answers are read back from MongoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import uvicorn

from adapters.bootstrap import App, open_app
from adapters.config import AdminSettings, load_config
from adapters.runner import configured_platforms
from adapters.slack import SlackBot
from adapters.web.app import create_web_app
from bot import texts
from bot.catalog import publish
from bot.loader import load_file, load_text
from tests.campaign_files import store_due_now
from tests.e2e.fake_slack import (
    Delivery,
    EventsApi,
    FakeSlackWebApi,
    FakeSocketMode,
    SlackUser,
    SocketModeDelivery,
    signature,
)
from tests.e2e.team_lunch import ANSWERS, SURVEY_FILE, SURVEY_ID

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-1-e2e-bot-token"
APP_TOKEN = "xapp-1-A0SURVEY1-e2e-app-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ADMIN = "U0ADMIN01"


@contextlib.asynccontextmanager
async def serving(asgi: Any) -> AsyncIterator[str]:
    """Serve ``asgi`` with uvicorn on a free loopback port, in this event loop."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", ws="none", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        listener.close()


@dataclass
class Stack:
    app: App
    bot: SlackBot
    web: FakeSlackWebApi
    delivery: Delivery
    mongodb_uri: str

    def user(self, user_id: str, name: str) -> SlackUser:
        return SlackUser(self.web, self.delivery, user_id, name, self.bot.idle)

    def responses(self, survey_id: str) -> list[dict[str, Any]]:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.mongodb_uri)
        with client:
            db = client.get_default_database()
            return list(db["responses"].find({"survey_id": survey_id}).sort("started_at"))


@contextlib.asynccontextmanager
async def product(
    mongodb_uri: str, redis_url: str, state: Path, environ: dict[str, str]
) -> AsyncIterator[App]:
    config = load_config(
        ROOT / "config.yaml",
        environ={"MONGODB_URI": mongodb_uri, "REDIS_URL": redis_url, "SURVEYBOT_SECRET": "e2e", **environ},
    )
    config = config.model_copy(update={"admins": AdminSettings(slack=[ADMIN])})
    app = await open_app(config, state, alias=f"slack-{uuid.uuid4().hex[:8]}")
    try:
        for file in sorted((ROOT / "surveys").glob("*.yaml")):
            await publish(app.surveys, load_file(file))
        yield app
    finally:
        await app.aclose()


@pytest.fixture
async def web_api() -> AsyncIterator[FakeSlackWebApi]:
    fake = FakeSlackWebApi(BOT_TOKEN, APP_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http(
    web_api: FakeSlackWebApi, mongodb_test_uri: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, EventsApi]]:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": web_api.api_url,
    }
    async with product(mongodb_test_uri, redis_url, tmp_path, environ) as app:
        [configured] = configured_platforms(app)
        assert (configured.name, configured.details["mode"]) == ("slack", "events-api")
        bot = SlackBot(app)
        async with serving(create_web_app(app, [bot.platform()])) as url, httpx.AsyncClient() as client:
            events = EventsApi(client, f"{url}/slack/events", SIGNING_SECRET)
            yield Stack(app, bot, web_api, events, mongodb_test_uri), events
            await bot.stop()


def buttons(message: Any) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def checkboxes(message: Any) -> dict[str, bool]:
    return {
        o["text"]["text"]: o in e.get("initial_options", [])
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "checkboxes"
        for o in e["options"]
    }


async def test_a_respondent_takes_ice_cream_in_the_dm_with_buttons_and_text(
    http: tuple[Stack, EventsApi],
) -> None:
    stack, _ = http
    web = stack.web
    ann = stack.user("U0ANN0001", "Ann Example")

    await ann.say("start ice-cream")
    assert web.texts(ann.dm) == [
        "Hello Ann Example! We are interested to know which flavour of ice cream you prefer.",
        "Which flavour of ice cream do you prefer?",
    ]
    assert buttons(web.history(ann.dm)[-1]) == ["Vanilla", "Chocolate", "Strawberry"]

    question = await ann.press("Chocolate")
    assert question.edits == 1 and question.text == "Which flavour of ice cream do you prefer?\n✓ Chocolate"
    assert buttons(question) == [], "the answered question keeps no buttons"
    assert web.texts(ann.dm)[2:] == [
        "Great choice! Chocolate is a classic favorite.",
        "Would you like to provide feedback on why you chose Chocolate?",
    ]
    assert buttons(web.history(ann.dm)[-1]) == ["Yes", "No", "Back"]

    # Typed instead of pressed: the next question takes the buttons off the Yes/No one, and a press
    # that was already on its way changes nothing.
    _, late_press = ann.press_payload("No")
    await ann.say("Yes, sure")
    before = (web.texts(ann.dm), len(web.calls_to("chat.update")))
    await ann.delivery.interaction(late_press)
    await ann.settle()
    assert ann.ephemerals() == [texts.ALREADY_ANSWERED]
    assert (web.texts(ann.dm), len(web.calls_to("chat.update"))) == before
    yes_no = web.history(ann.dm)[3]
    assert yes_no.text == "Would you like to provide feedback on why you chose Chocolate?"
    assert yes_no.edits == 1 and buttons(yes_no) == [], "answered by typing, it keeps no buttons"

    assert web.texts(ann.dm)[-1] == "What makes Chocolate your favourite? A sentence or two is plenty."
    await ann.say("It is rich & creamy <3")
    assert web.texts(ann.dm)[-2:] == [
        "Thanks, that is good to know!",
        "Thank you for your time, Ann Example! Your response has been recorded.",
    ]
    assert len(web.calls_to("users.info")) == 1, "the display name is looked up once"
    assert all(call.ok for call in web.calls), [c for c in web.calls if not c.ok]

    [stored] = stack.responses("ice-cream")
    assert stored["status"] == "completed"
    assert {q: a["value"] for q, a in stored["answers"].items()} == {
        "flavour": "chocolate",
        "wants_feedback": True,
        "why": "It is rich & creamy <3",
    }
    assert (stored["respondent"]["platform"], stored["respondent"]["user_id"]) == ("slack", "U0ANN0001")
    assert stored["respondent"]["name"] == "Ann Example"

    home = await ann.open_home()
    sections = {b["text"]["text"].split("\n")[0]: b for b in home["blocks"] if b["type"] == "section"}
    assert "✓ Completed" in sections["*Ice cream preferences*"]["text"]["text"]
    assert "accessory" not in sections["*Ice cream preferences*"]
    assert sections["*CodeFest 2025 registration*"]["accessory"]["text"]["text"] == "Start"


async def test_multi_choice_with_checkboxes_min_and_max_and_skip(http: tuple[Stack, EventsApi]) -> None:
    stack, _ = http
    web = stack.web
    bob = stack.user("U0BOB0001", "Bob")

    await bob.say("surveys")
    assert buttons(web.history(bob.dm)[-1]) == [
        "CodeFest 2025 registration",
        "How was your visit to Northwind Coffee?",
        "Ice cream preferences",
    ]
    await bob.press("How was your visit to Northwind Coffee?")
    assert buttons(web.history(bob.dm)[-1]) == [str(n) for n in range(11)]
    await bob.press("3")

    went_wrong = web.history(bob.dm)[-1]
    assert went_wrong.text.startswith("We are sorry your visit fell short.")
    assert checkboxes(went_wrong) == dict.fromkeys(
        ["Waiting time", "Taste of my drink", "Friendliness", "Cleanliness", "Price"], False
    )
    assert buttons(went_wrong) == ["Submit", "Back"]

    await bob.press("Submit")
    assert bob.ephemerals() == ["Please pick at least 1."]
    await bob.tick("Waiting time")
    await bob.tick("Price")
    assert went_wrong.edits == 2
    assert [label for label, on in checkboxes(went_wrong).items() if on] == ["Waiting time", "Price"]
    await bob.tick("Price")
    assert [label for label, on in checkboxes(went_wrong).items() if on] == ["Waiting time"]
    await bob.press("Submit")
    assert went_wrong.text.endswith("\n✓ Waiting time") and not buttons(went_wrong)
    assert web.texts(bob.dm)[-2:] == [
        "Thank you for telling us: Waiting time. We will look into it.",
        "What is the one thing we should do better?",
    ]

    await bob.say("Faster service")
    await bob.press("4 Quite happy")
    ordered = web.history(bob.dm)[-1]
    assert ordered.text == "What did you order today? Pick up to three."
    for label in ("Tea", "Pastry", "Hot chocolate", "Sandwich or salad"):
        await bob.tick(label)
    await bob.press("Submit")
    assert bob.ephemerals()[-1] == "Please pick at most 3."
    await bob.tick("Sandwich or salad")
    await bob.press("Submit")
    assert ordered.text.endswith("\n✓ Tea, Hot chocolate, Pastry")

    assert web.texts(bob.dm)[-1].startswith("Anything else you would like to tell us?")
    await bob.press("Skip")
    assert web.texts(bob.dm)[-1] == "Thank you! Every answer is read by the team of your local shop."
    assert all(call.ok for call in web.calls), [c for c in web.calls if not c.ok]

    [stored] = stack.responses("customer-feedback")
    assert stored["status"] == "completed"
    assert {q: a["value"] for q, a in stored["answers"].items()} == {
        "recommend": 3,
        "went_wrong": ["waiting_time"],
        "improve": "Faster service",
        "satisfaction": 4,
        "ordered": ["tea", "hot_chocolate", "pastry"],
    }
    assert stored["respondent"].get("user_id") is None, "the survey is anonymous"


async def test_slash_command_and_home_tab_continue_in_the_dm(http: tuple[Stack, EventsApi]) -> None:
    stack, _ = http
    web = stack.web
    carol = stack.user("U0CAROL01", "Carol")

    ack = await carol.slash("/survey", "ice-cream", channel="C0GENERAL")
    assert "direct message" in ack["text"]
    assert len(web.calls_to("conversations.open")) == 1
    assert web.texts(carol.dm)[-1] == "Which flavour of ice cream do you prefer?"

    home = await carol.open_home()
    labels = [
        b.get("accessory", {}).get("text", {}).get("text") for b in home["blocks"] if b["type"] == "section"
    ]
    assert labels == ["Start", "Start", "Resume"]
    await carol.press_home("Resume")
    assert web.texts(carol.dm)[-2:] == [
        texts.RESUMING.format(title="Ice cream preferences"),
        "Which flavour of ice cream do you prefer?",
    ]
    # In the DM itself the command needs no pointer.
    assert await carol.slash("/survey", "", channel=carol.dm) == {}

    await carol.mention("C0GENERAL")
    assert "slack://app?team=T0001&id=A0SURVEY1&tab=messages" in carol.ephemerals()[-1]


async def test_a_retried_event_is_answered_once(http: tuple[Stack, EventsApi]) -> None:
    stack, _ = http
    web = stack.web
    dave = stack.user("U0DAVE001", "Dave")

    await dave.say("start ice-cream", event_id="Ev0RETRY01")
    posted = len(web.history(dave.dm))
    await dave.say("start ice-cream", event_id="Ev0RETRY01", retry=1)
    await dave.say("2", event_id="Ev0RETRY02")
    after_answer = len(web.history(dave.dm))
    await dave.say("2", event_id="Ev0RETRY02", retry=1)
    await dave.say("2", event_id="Ev0RETRY02", retry=2)
    assert posted == 2 and after_answer == 4
    assert len(web.history(dave.dm)) == after_answer
    [stored] = stack.responses("ice-cream")
    assert list(stored["answers"]) == ["flavour"] and stored["path"] == ["flavour"]


async def test_a_photo_mid_survey_is_answered_with_how_to_answer_and_changes_nothing(
    http: tuple[Stack, EventsApi],
) -> None:
    stack, _ = http
    web = stack.web
    fay = stack.user("U0FAY0001", "Fay")

    await fay.say("start ice-cream")
    question = web.texts(fay.dm)[-1]
    await fay.upload("holiday.jpg", b"\xff\xd8\xff\xe0 not really a photo")
    assert web.texts(fay.dm)[2:] == [
        "Sorry, I can only read text. Please answer with text or the buttons.",
        question,
    ]
    assert web.calls_to("files.info") == [] and web.calls_to("download") == [], "a photo is never read"
    [stored] = stack.responses("ice-cream")
    assert stored["answers"] == {} and stored["path"] == []

    await fay.press("Vanilla")
    [stored] = stack.responses("ice-cream")
    assert list(stored["answers"]) == ["flavour"], "the buttons still answer"


async def test_a_forged_or_stale_signature_gets_401_and_nothing_runs(http: tuple[Stack, EventsApi]) -> None:
    stack, events = http
    web = stack.web
    mallory = stack.user("U0MALLORY", "Mallory")
    body = mallory.envelope(mallory.dm_message("start ice-cream"))
    raw = json.dumps(body).encode()

    forged = await events.post(raw, "application/json", secret="not-the-signing-secret")
    stale = await events.post(raw, "application/json", timestamp=int(time.time()) - 600)
    now = int(time.time())
    tampered_headers = {"X-Slack-Signature": signature(SIGNING_SECRET, now, b"{}")}
    tampered = await events.post(raw, "application/json", timestamp=now, headers=tampered_headers)
    assert [r.status_code for r in (forged, stale, tampered)] == [401, 401, 401]
    await stack.bot.idle()
    assert web.calls == [], "no call reached the Web API"
    assert stack.responses("ice-cream") == []

    signed = await events.post(raw, "application/json")
    assert signed.status_code == 200
    await stack.bot.idle()
    assert web.texts(mallory.dm)[-1] == "Which flavour of ice cream do you prefer?"


async def test_the_ack_comes_at_once_and_the_work_after_it(http: tuple[Stack, EventsApi]) -> None:
    stack, events = http
    web = stack.web
    gus = stack.user("U0GUS0001", "Gus")
    web.delays["chat.postMessage"] = 0.5  # a slow Slack: the two replies take a second

    started = time.monotonic()
    await events.event(gus.envelope(gus.dm_message("start ice-cream")))
    acked = time.monotonic() - started
    assert acked < 0.4 and web.texts(gus.dm) == []
    await stack.bot.idle()
    assert time.monotonic() - started >= 1.0
    assert web.texts(gus.dm)[-1] == "Which flavour of ice cream do you prefer?"


async def test_edits_deletions_bot_messages_and_channels_get_no_answer(http: tuple[Stack, EventsApi]) -> None:
    stack, events = http
    web = stack.web
    hal = stack.user("U0HAL0001", "Hal")
    typed = hal.dm_message("start ice-cream")
    ignored = [
        {**typed, "subtype": "message_changed", "message": {**typed, "text": "start"}, "hidden": True},
        {**typed, "subtype": "message_deleted", "previous_message": typed, "hidden": True},
        {**typed, "user": None, "bot_id": "B0SURVEY1", "subtype": "bot_message", "text": "Hello!"},
        {**typed, "user": "U0BOTUSER", "bot_id": "B0SURVEY1", "text": "Which flavour?"},
        {**typed, "channel": "C0GENERAL", "channel_type": "channel"},
    ]
    for event in ignored:
        await events.event(hal.envelope(event))
    await stack.bot.idle()
    assert [c.method for c in web.calls if c.method != "auth.test"] == []
    assert stack.responses("ice-cream") == []


LUNCH = b"""id: lunch
title: Lunch
questions:
  - id: dish
    type: single_choice
    text: Pasta or salad?
    choices: [Pasta, Salad]
"""

BROKEN = b"""id: broken
title: Broken
questions:
  - id: a
    type: rating
    text: Rate
    min: 5
    max: 1
"""


async def test_admins_load_surveys_and_read_results_others_are_refused(http: tuple[Stack, EventsApi]) -> None:
    stack, _ = http
    web = stack.web
    admin = stack.user(ADMIN, "Alex Admin")
    eve = stack.user("U0EVE0001", "Eve")

    await eve.upload("lunch.yaml", LUNCH)
    assert web.texts(eve.dm) == ["Sorry, only survey admins can upload surveys. Your file was not stored."]
    assert web.calls_to("files.info") == [] and web.calls_to("download") == []
    assert (await eve.slash("/survey-admin", "results ice-cream"))["text"] == (
        "Sorry, only survey admins can read results."
    )

    await admin.upload("broken.yaml", BROKEN)
    problems = web.history(admin.dm)[-1]
    assert problems.text == "“broken.yaml” was not loaded: 1 problem; nothing was stored."
    assert "broken.yaml:7: question 'a':" in problems.blocks[1]["text"]["text"]

    await admin.upload("lunch.yaml", LUNCH, event_id="Ev0UPLOAD1")
    stored = "stored lunch version 1 (lunch.yaml)"  # as `surveybot load` and Telegram say it
    assert web.texts(admin.dm)[-1] == stored
    await admin.upload("lunch.yaml", LUNCH, event_id="Ev0UPLOAD1")  # Slack's retry: no second answer
    assert web.texts(admin.dm)[-1] == stored and web.texts(admin.dm).count(stored) == 1

    await eve.say("start lunch")
    await eve.press("Salad")
    assert web.texts(eve.dm)[-1] == "Thank you! Your response has been recorded."

    ack = await admin.slash("/survey-admin", "results lunch", channel="C0GENERAL")
    assert ack["text"] == "Posting the results of `lunch` in our direct messages."
    summary = web.history(admin.dm)[-1]
    assert summary.text == "Results of lunch:"
    assert "Salad 1 (100%)" in summary.blocks[1]["text"]["text"]
    uploaded = [f for f in web.files.values() if admin.dm in f.channels]
    assert [(f.name, f.content[:8]) for f in uploaded] == [("dish.png", b"\x89PNG\r\n\x1a\n")]
    assert all(call.ok for call in web.calls), [c for c in web.calls if not c.ok]


def context(message: Any) -> list[str]:
    """The context lines under a message (where a typing hint is shown)."""
    return [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]


async def test_an_english_user_answers_in_english_and_the_answers_are_stored_alike(
    http: tuple[Stack, EventsApi],
) -> None:
    """Slack's locale (users.info with include_locale) picks the language: en-US is asked team-lunch in
    English, es-ES in Spanish; MongoDB holds the same values as for the German Telegram user of
    test_telegram_e2e.py, with the language."""
    stack, _ = http
    web = stack.web
    await publish(stack.app.surveys, load_file(SURVEY_FILE))
    ann = stack.user("U0ANN0001", "Ann Example")
    web.add_user(ann.id, ann.name, locale="en-US")

    await ann.say(f"start {SURVEY_ID}")
    assert web.texts(ann.dm) == ["Hello Ann Example! Let's plan Friday's lunch.", "What should we order?"]
    assert buttons(web.history(ann.dm)[-1]) == ["Pizza", "Salad", "Soup"]
    assert context(web.history(ann.dm)[-1]) == [], "no typing hint beside the buttons"
    dish = await ann.press("Soup")
    assert dish.text == "What should we order?\n✓ Soup" and buttons(dish) == []
    assert web.texts(ann.dm)[-1] == "Would you like dessert?"
    assert buttons(web.history(ann.dm)[-1]) == ["Yes", "No", "Back"]

    await ann.say("yes")
    guests = web.history(ann.dm)[-1]
    assert guests.text == "How many guests are you bringing?"
    assert context(guests) == ["Please reply with a whole number from 0 to 3."]
    await ann.say("many")
    assert web.texts(ann.dm)[-2:] == [
        "Please reply with a whole number from 0 to 3.",
        "How many guests are you bringing?",
    ]
    await ann.say("2")
    assert web.texts(ann.dm)[-1] == "Where would you like to sit?"
    assert buttons(web.history(ann.dm)[-1]) == ["Inside", "On the terrace", "Back"]
    seat = await ann.press("On the terrace")
    assert seat.text == "Where would you like to sit?\n✓ On the terrace"
    assert web.texts(ann.dm)[-1] == "Thank you, Ann Example! See you on Friday."
    assert [c.args.get("include_locale") for c in web.calls_to("users.info")] == ["1"], "looked up once"
    assert all(call.ok for call in web.calls), [c for c in web.calls if not c.ok]

    [stored] = stack.responses(SURVEY_ID)
    assert (stored["status"], stored["language"]) == ("completed", "en")
    assert stored["respondent"]["platform"] == "slack"
    assert {q: a["value"] for q, a in stored["answers"].items()} == ANSWERS

    # English is the survey's first language: a Spanish locale shows that the locale is what chose it.
    rosa = stack.user("U0ROSA001", "Rosa")
    web.add_user(rosa.id, rosa.name, locale="es-ES")
    await rosa.say(f"start {SURVEY_ID}")
    assert web.texts(rosa.dm) == ["¡Hola, Rosa! Planeemos el almuerzo del viernes.", "¿Qué pedimos?"]
    assert buttons(web.history(rosa.dm)[-1]) == ["Pizza", "Ensalada", "Sopa"]


@pytest.fixture
async def socket_mode(
    web_api: FakeSlackWebApi, mongodb_test_uri: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, FakeSocketMode]]:
    server = FakeSocketMode()
    web_api.socket_mode_url = await server.start()
    environ = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": web_api.api_url}
    async with product(mongodb_test_uri, redis_url, tmp_path, environ) as app:
        bot = SlackBot(app)
        platform = bot.platform()
        assert platform.mount is None and platform.start is not None and platform.stop is not None
        await platform.start()
        try:
            await server.connected()
            yield Stack(app, bot, web_api, SocketModeDelivery(server), mongodb_test_uri), server
        finally:
            await platform.stop()
            await server.stop()


async def test_socket_mode_envelopes_are_acknowledged_and_answered(
    socket_mode: tuple[Stack, FakeSocketMode],
) -> None:
    stack, server = socket_mode
    web = stack.web
    assert [c.method for c in web.calls] == ["apps.connections.open"]
    fay = stack.user("U0FAY0001", "Fay")

    started = time.monotonic()
    await fay.say("start ice-cream", event_id="Ev0SOCKET1")
    assert web.texts(fay.dm)[-1] == "Which flavour of ice cream do you prefer?"
    await fay.say("start ice-cream", event_id="Ev0SOCKET1", retry=1)  # redelivered: acked, not answered
    assert len(web.texts(fay.dm)) == 2
    await fay.press("Vanilla")
    await fay.say("no")
    assert web.texts(fay.dm)[-1] == "Thank you for your time, Fay! Your response has been recorded."
    ack = await fay.slash("/survey", "ice-cream", channel=fay.dm)
    assert ack == {}
    assert web.texts(fay.dm)[-1] == texts.ALREADY_COMPLETED.format(title="Ice cream preferences")
    assert len(server.acks) == 5 and server.hellos == 1
    assert time.monotonic() - started < 10

    [stored] = stack.responses("ice-cream")
    assert stored["status"] == "completed"
    assert {q: a["value"] for q, a in stored["answers"].items()} == {
        "flavour": "vanilla",
        "wants_feedback": False,
    }


@contextlib.asynccontextmanager
async def events_process(
    web_api: FakeSlackWebApi, mongodb_uri: str, redis_url: str, state: Path
) -> AsyncIterator[tuple[SlackBot, EventsApi]]:
    """One process of the product serving the Events API: its own App (connections, caches), web server
    and SlackBot, on the shared stores and the shared fake Slack."""
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": web_api.api_url,
    }
    async with product(mongodb_uri, redis_url, state, environ) as app:
        bot = SlackBot(app)
        async with serving(create_web_app(app, [bot.platform()])) as url, httpx.AsyncClient() as client:
            yield bot, EventsApi(client, f"{url}/slack/events", SIGNING_SECRET)
            await bot.stop()


async def test_two_processes_agree_on_which_buttons_are_live(
    web_api: FakeSlackWebApi, mongodb_test_uri: str, redis_url: str, tmp_path: Path
) -> None:
    """The question's buttons posted by one process are taken off by the other when the answer is typed
    there, and a late press on them, in either process, changes nothing."""
    async with (
        events_process(web_api, mongodb_test_uri, redis_url, tmp_path / "one") as (one, to_one),
        events_process(web_api, mongodb_test_uri, redis_url, tmp_path / "two") as (two, to_two),
    ):

        async def both_idle() -> None:
            await one.idle()
            await two.idle()

        via_one = SlackUser(web_api, to_one, "U0TWO0001", "Tess", both_idle)
        via_two = SlackUser(web_api, to_two, "U0TWO0001", "Tess", both_idle)
        await via_one.say("start ice-cream")
        flavour = web_api.history(via_one.dm)[-1]
        assert buttons(flavour) == ["Vanilla", "Chocolate", "Strawberry"]
        late_presses = [via_one.press_payload("Chocolate")[1], via_two.press_payload("Chocolate")[1]]

        await via_two.say("chocolate")
        assert flavour.edits == 1 and buttons(flavour) == [], "retired by the process that got the answer"
        assert flavour.text == "Which flavour of ice cream do you prefer?"
        before = (web_api.texts(via_one.dm), len(web_api.calls_to("chat.update")))
        for delivery, late_press in zip((to_one, to_two), late_presses, strict=True):
            await delivery.interaction(late_press)
            await both_idle()
        assert via_one.ephemerals() == [texts.ALREADY_ANSWERED] * 2
        assert (web_api.texts(via_one.dm), len(web_api.calls_to("chat.update"))) == before
        [response] = [
            r
            for r in Stack(one._app, one, web_api, to_one, mongodb_test_uri).responses("ice-cream")
            if r["respondent"]["user_id"] == "U0TWO0001"
        ]
        assert response["path"] == ["flavour"]


async def test_a_completed_response_is_broadcast_to_the_team_channel_escaped(
    http: tuple[Stack, EventsApi],
) -> None:
    stack, _ = http
    lunch = """\
id: lunch
title: Lunch
settings:
  broadcast: [{slack_channel: C0TEAM001}]
questions:
  - {id: dish, type: single_choice, text: "Which dish?", choices: [Soup, Salad]}
  - {id: note, type: text, text: "Anything else?"}
"""
    await publish(stack.app.surveys, load_text(lunch, "lunch.yaml"))
    stack.web.join("C0TEAM001")
    ann = stack.user("U0ANN0001", "Ann Example")
    await ann.say("start lunch")
    await ann.press("Salad")
    await ann.say("<!channel> & <https://evil.example|click>")

    hooks = stack.app.webhooks(posters={"slack": stack.bot.post})
    try:
        assert await hooks.relay() == 1
        assert await hooks.deliver_due() == 1
    finally:
        await hooks.aclose()
    [posted] = stack.web.history("C0TEAM001")
    assert posted.text == (
        "New response to “Lunch” (Ann Example, slack)\n"
        "• Which dish?: Salad\n"
        "• Anything else?: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    ), "nothing a respondent typed mentions @channel or makes a link"


async def test_an_invitation_arrives_the_person_answers_and_the_broadcast_lands(
    http: tuple[Stack, EventsApi],
) -> None:
    from adapters.campaigns import campaign_status

    stack, _ = http
    pulse = """\
id: pulse
title: Team pulse
settings: {one_response_per_user: false, broadcast: [{slack_channel: C0TEAM001}]}
questions:
  - {id: mood, type: rating, text: "How was your week?", min: 1, max: 5}
"""
    await publish(stack.app.surveys, load_text(pulse, "pulse.yaml"))
    stack.web.join("C0TEAM001")
    ann = stack.user("U0ANN0001", "Ann Example")
    message = "message: 'Hi {name}! Time for “{title}”.'\n"
    await store_due_now(stack.app, "pulse-now", "{slack: {users: [U0ANN0001]}}", message)

    runner = stack.app.campaign_runner({"slack": stack.bot})
    await runner.plan()
    assert await runner.send_due() == 1
    invitation = stack.web.last_message(ann.dm)
    assert invitation.text == "Hi Ann Example! Time for “Team pulse”."
    assert buttons(invitation) == ["Start “Team pulse”"]

    await ann.press("Start “Team pulse”")
    assert stack.web.texts(ann.dm)[-1] == "How was your week?"
    await ann.press("4")
    assert stack.web.texts(ann.dm)[-1] == "Thank you! Your response has been recorded."

    hooks = stack.app.webhooks(posters={"slack": stack.bot.post})
    try:
        await hooks.relay()
        await hooks.deliver_due()
    finally:
        await hooks.aclose()
    assert stack.web.texts("C0TEAM001") == [
        "New response to “Team pulse” (Ann Example, slack)\n• How was your week?: 4"
    ]
    [row] = await campaign_status(runner, "pulse-now")
    assert (row.invited, row.started, row.completed) == (1, 1, 1)

    admin = stack.user(ADMIN, "Ada Admin")
    assert (await admin.slash("/survey-admin", "campaigns pulse-now"))["text"] == (
        "Posting the campaigns in our direct messages."
    )
    assert stack.web.texts(admin.dm)[-1] == "Campaign pulse-now:"
    assert "invited 1, reminded 0, started 1, completed 1" in str(stack.web.history(admin.dm)[-1].blocks)
    refused = await ann.slash("/survey-admin", "campaigns")
    assert refused["text"] == "Sorry, only survey admins can read results."


async def test_a_slack_429_mid_campaign_is_waited_out_and_counted(http: tuple[Stack, EventsApi]) -> None:
    from adapters.campaigns import InvitationStatus
    from adapters.metrics import REGISTRY

    stack, _ = http
    pulse = (
        "id: pulse\ntitle: Team pulse\nsettings: {one_response_per_user: false}\n"
        "questions: [{id: q, type: text, text: Q}]\n"
    )
    await publish(stack.app.surveys, load_text(pulse, "pulse.yaml"))
    for user in ("U0ANN0001", "U0BOB0002"):
        stack.user(user, user)
    occurrence = await store_due_now(stack.app, "pulse-now", "{slack: {users: [U0ANN0001, U0BOB0002]}}")
    runner = stack.app.campaign_runner({"slack": stack.bot})
    counted = (
        REGISTRY.get_sample_value(
            "surveybot_campaign_sends_total", {"platform": "slack", "outcome": "retry_after"}
        )
        or 0
    )
    stack.web.rate_limited["chat.postMessage"] = 1
    stack.web.retry_after = 1
    await runner.plan()
    await runner.send_due()
    counts = await stack.app.invitations.counts("pulse-now")
    assert counts == {
        (occurrence, 0, InvitationStatus.SENT): 1,
        (occurrence, 0, InvitationStatus.PENDING): 1,
    }
    assert await runner.send_due() == 0, "not before the second Slack asked for"
    await asyncio.sleep(1.1)
    assert await runner.send_due() == 1
    counts = await stack.app.invitations.counts("pulse-now")
    assert counts == {(occurrence, 0, InvitationStatus.SENT): 2}
    after = REGISTRY.get_sample_value(
        "surveybot_campaign_sends_total", {"platform": "slack", "outcome": "retry_after"}
    )
    assert after == counted + 1
    assert [c.error for c in stack.web.calls_to("chat.postMessage")] == ["ratelimited", None, None]


async def test_a_campaign_audience_from_a_channel_and_a_user_group_with_their_time_zones(
    http: tuple[Stack, EventsApi],
) -> None:
    from bot.campaigns import Audience

    stack, _ = http
    web = stack.web
    for n in range(250):  # more than one page of conversations.members
        web.add_user(f"U0MEMBER{n:03d}", f"Member {n}", tz="Asia/Tokyo" if n % 2 else "Europe/Berlin")
    web.add_user("U0LEAD0001", "Lead", tz="America/New_York")
    web.users["U0BOT00001"] = {"id": "U0BOT00001", "is_bot": True, "name": "otherbot", "profile": {}}
    web.members["C0TEAM0001"] = [*(f"U0MEMBER{n:03d}" for n in range(250)), "U0BOT00001"]
    web.usergroups["S0LEADS001"] = ["U0LEAD0001", "U0MEMBER000"]

    people = await stack.bot.people(
        Audience(slack_channels=("C0TEAM0001",), slack_usergroups=("S0LEADS001",))
    )
    assert len(people) == 251, "every member once, the lead, no bot"
    zones = {p.user_id: p.zone for p in people}
    assert zones["U0LEAD0001"] == "America/New_York"
    assert (zones["U0MEMBER001"], zones["U0MEMBER002"]) == ("Asia/Tokyo", "Europe/Berlin")
    assert len(web.calls_to("conversations.members")) == 2, "paged 200 at a time"
