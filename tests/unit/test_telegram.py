"""The Telegram adapter offline: real update JSON in, Bot API calls out, recorded at the network edge.

Like python-telegram-bot's own ``tests/auxil/networking.py``, the double is a ``BaseRequest``: the real
``Bot`` and ``Application`` run unchanged, and every call they make is answered here and recorded.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from telegram import Update
from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

import adapters.survey_admin as admin
import adapters.telegram as tg
from adapters.bootstrap import App
from adapters.config import AdminSettings, Config, TelegramSettings
from adapters.stores.memory import (
    InMemoryContactStore,
    InMemoryResponseStore,
    InMemorySessionStore,
    InMemorySurveyStore,
)
from adapters.telegram.render import keyboard
from bot import texts
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.loader import load_file, load_text
from bot.messages import Button, Incoming, Kind, Outgoing, Role
from bot.responses import Status
from bot.survey import QuestionType

TOKEN = "4242:unit-test-token"
BOT_ID = 4242
USER: dict[str, Any] = {
    "id": 77,
    "is_bot": False,
    "first_name": "John",
    "last_name": "Doe",
    "language_code": "en",
}
PRIVATE: dict[str, Any] = {"id": 77, "first_name": "John", "last_name": "Doe", "type": "private"}
GROUP: dict[str, Any] = {"id": -1001, "title": "Friends", "type": "supergroup"}
ADMIN = "77"
SURVEYS = Path(__file__).resolve().parents[2] / "surveys"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class RecordingRequest(BaseRequest):
    """Answers Bot API calls as Telegram would, offline, and records them. ``script`` holds answers
    to give first, in order: an ``(HTTP status, JSON body)`` pair or an exception to raise."""

    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    script: list[tuple[int, dict[str, Any]] | Exception] = field(default_factory=list)
    message_ids: Iterator[int] = field(default_factory=lambda: count(500))

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return 200, self.files[url.rsplit("/", 1)[-1]]
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        self.calls.append(Call(name, dict(params)))
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer[0], json.dumps(answer[1]).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> object:
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "Surveys", "username": "SurveyBot"}
        if name == "getMe":
            return bot
        if name == "getFile":
            file_id = params["file_id"]
            found = {"file_id": file_id, "file_unique_id": file_id, "file_path": f"documents/{file_id}"}
            if file_id in self.files:
                found["file_size"] = len(self.files[file_id])  # an unknown file: getFile gives no size
            return found
        if name in ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto"):
            message_id = params.get("message_id") or next(self.message_ids)
            chat = {"id": int(params["chat_id"]), "type": "private"}
            return {"message_id": message_id, "date": 1700000000, "chat": chat, "from": bot, "text": "…"}
        return True

    def named(self, *methods: str) -> list[Call]:
        return [c for c in self.calls if c.method in methods]


# --------------------------------------------------------------------------- real update JSON

TEXT_UPDATE: dict[str, Any] = {
    "update_id": 900001,
    "message": {
        "message_id": 11,
        "from": USER,
        "chat": PRIVATE,
        "date": 1700000000,
        "text": "Chocolate, of course",
    },
}
DEEP_LINK_UPDATE: dict[str, Any] = {
    "update_id": 900002,
    "message": {
        "message_id": 12,
        "from": USER,
        "chat": PRIVATE,
        "date": 1700000001,
        "text": "/start ice-cream",
        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
    },
}
CALLBACK_UPDATE: dict[str, Any] = {
    "update_id": 900003,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": USER,
        "chat_instance": "-8837281928374",
        "data": "a:abc123:flavour:1",
        "message": {
            "message_id": 13,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Surveys", "username": "SurveyBot"},
            "chat": PRIVATE,
            "date": 1700000002,
            "text": "Which flavour of ice cream do you prefer?",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Chocolate", "callback_data": "a:abc123:flavour:1"}]]
            },
        },
    },
}
DOCUMENT_UPDATE: dict[str, Any] = {
    "update_id": 900004,
    "message": {
        "message_id": 14,
        "from": USER,
        "chat": PRIVATE,
        "date": 1700000003,
        "document": {
            "file_name": "lunch.yaml",
            "mime_type": "application/x-yaml",
            "file_id": "BQACAgIAAxkBAAIBY2Vx",
            "file_unique_id": "AgADBQAC",
            "file_size": 321,
        },
        "caption": "new survey",
    },
}
EDITED_UPDATE: dict[str, Any] = {
    "update_id": 900005,
    "edited_message": {**TEXT_UPDATE["message"], "edit_date": 1700000100},
}


def update(data: dict[str, Any], bot: Any = None, **changes: Any) -> Update:
    parsed = Update.de_json({**data, **changes}, bot)
    assert parsed is not None
    return parsed


def test_a_typed_message_becomes_text() -> None:
    assert tg.to_incoming(update(TEXT_UPDATE), BOT_ID) == Incoming(
        platform="telegram",
        user_id="77",
        user_name="John Doe",
        chat_id="77",
        text="Chocolate, of course",
        update_id="4242:900001",
        language="en",  # the sender's language_code
    )


def test_a_deep_link_command_reaches_the_engine_as_written() -> None:
    incoming = tg.to_incoming(update(DEEP_LINK_UPDATE), BOT_ID)
    assert incoming is not None
    assert (incoming.text, incoming.button, incoming.update_id) == ("/start ice-cream", None, "4242:900002")


def test_a_button_press_carries_its_value_and_the_message_it_belongs_to() -> None:
    incoming = tg.to_incoming(update(CALLBACK_UPDATE), BOT_ID)
    assert incoming is not None
    assert (incoming.button, incoming.message_id, incoming.chat_id, incoming.user_id, incoming.text) == (
        "a:abc123:flavour:1",
        "13",
        "77",
        "77",
        "",
    )


def test_a_user_with_only_a_first_name() -> None:
    data = json.loads(json.dumps(TEXT_UPDATE))
    del data["message"]["from"]["last_name"]
    incoming = tg.to_incoming(update(data), BOT_ID)
    assert incoming is not None and incoming.user_name == "John"


def test_an_edited_message_is_not_for_the_engine() -> None:
    assert tg.to_incoming(update(EDITED_UPDATE), BOT_ID) is None


PHOTO_UPDATE: dict[str, Any] = {
    "update_id": 900006,
    "message": {
        "message_id": 15,
        "from": USER,
        "chat": PRIVATE,
        "date": 1700000004,
        "photo": [{"file_id": "AgACAgIAAxkBAAIB", "file_unique_id": "AQADcb", "width": 90, "height": 90}],
    },
}
STICKER_UPDATE: dict[str, Any] = {
    "update_id": 900007,
    "message": {
        "message_id": 16,
        "from": USER,
        "chat": PRIVATE,
        "date": 1700000005,
        "sticker": {
            "file_id": "CAACAgIAAxkBAAIB",
            "file_unique_id": "AgADx",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        },
    },
}


@pytest.mark.parametrize(
    "data", [PHOTO_UPDATE, STICKER_UPDATE, DOCUMENT_UPDATE], ids=["photo", "sticker", "file"]
)
def test_what_is_not_text_is_an_attachment(data: dict[str, Any]) -> None:
    incoming = tg.to_incoming(update(data), BOT_ID)
    assert incoming is not None
    assert (incoming.attachment, incoming.text, incoming.button) == (True, "", None)


async def test_a_photo_mid_survey_is_answered_with_how_to_answer_and_changes_nothing(h: Harness) -> None:
    started = await h.say("/start ice-cream")
    calls = await h.send(PHOTO_UPDATE)
    assert sent_texts(calls) == [texts.TEXT_ONLY, sent_texts(started)[-1]]


# --------------------------------------------------------------------------- rendering


@pytest.fixture
async def bot() -> AsyncIterator[Any]:
    application = tg.build_application(TelegramSettings(bot_token=SecretStr(TOKEN)), RecordingRequest())
    await application.initialize()
    yield application.bot
    await application.shutdown()


def recorded(bot: Any) -> RecordingRequest:
    request = bot.request
    assert isinstance(request, RecordingRequest)
    return request


def labels(markup: dict[str, Any]) -> list[list[str]]:
    return [[button["text"] for button in row] for row in markup["inline_keyboard"]]


def question(qtype: QuestionType, choices: list[str], **fields: Any) -> Outgoing:
    buttons = tuple(Button(label, f"a:abc123:q:{i}") for i, label in enumerate(choices))
    return Outgoing("77", "Question?", Kind.QUESTION, choices=buttons, question_type=qtype, **fields)


async def test_a_choice_question_is_a_message_with_an_inline_keyboard(bot: Any) -> None:
    message = question(
        QuestionType.SINGLE_CHOICE,
        ["Vanilla", "Chocolate", "Strawberry"],
        actions=(Button("Back", "/back", role=Role.BACK),),
        hint="Please reply with the number corresponding to your choice.",
    )
    await tg.render(bot, message)
    [call] = recorded(bot).calls[1:]
    assert call.method == "sendMessage"
    assert (call.params["chat_id"], call.params["text"]) == (77, "Question?")
    assert call.params["reply_markup"]["inline_keyboard"] == [
        [
            {"text": "Vanilla", "callback_data": "a:abc123:q:0"},
            {"text": "Chocolate", "callback_data": "a:abc123:q:1"},
            {"text": "Strawberry", "callback_data": "a:abc123:q:2"},
        ],
        [{"text": "Back", "callback_data": "/back"}],
    ]


async def test_a_free_text_question_is_a_plain_message_with_its_hint(bot: Any) -> None:
    message = Outgoing(
        "77", "When?", Kind.QUESTION, question_type=QuestionType.DATE, hint="Please reply as YYYY-MM-DD."
    )
    await tg.render(bot, message)
    [call] = recorded(bot).calls[1:]
    assert call.params["text"] == "When?\n\nPlease reply as YYYY-MM-DD."
    assert "reply_markup" not in call.params


async def test_an_answered_question_is_edited_and_loses_its_keyboard(bot: Any) -> None:
    await tg.render(bot, Outgoing("77", "Which flavour?\n✓ Chocolate", Kind.ANSWERED, edit_of="13"))
    [call] = recorded(bot).calls[1:]
    assert call.method == "editMessageText"
    assert call.params == {"chat_id": 77, "message_id": 13, "text": "Which flavour?\n✓ Chocolate"}


async def test_a_selection_edits_only_the_keyboard_and_ticks_what_is_picked(bot: Any) -> None:
    toggles = tuple(
        Button(label, f"t:abc123:q:{i}", selected=i == 1, role=Role.TOGGLE) for i, label in enumerate("ABC")
    )
    message = Outgoing(
        "77",
        "Toppings?",
        Kind.SELECTION,
        choices=toggles,
        actions=(Button("Done", "d:abc123:q", role=Role.SUBMIT),),
        multi=True,
        question_type=QuestionType.MULTI_CHOICE,
        edit_of="21",
    )
    await tg.render(bot, message)
    [call] = recorded(bot).calls[1:]
    assert call.method == "editMessageReplyMarkup"
    assert (call.params["chat_id"], call.params["message_id"]) == (77, 21)
    assert labels(call.params["reply_markup"]) == [["A", "✓ B", "C"], ["Done"]]


@pytest.mark.parametrize("kind", [Kind.INFO, Kind.ERROR, Kind.NOTICE])
async def test_other_kinds_are_plain_messages(bot: Any, kind: Kind) -> None:
    await tg.render(bot, Outgoing("77", "Please reply yes or no.", kind))
    [call] = recorded(bot).calls[1:]
    assert (call.method, call.params) == ("sendMessage", {"chat_id": 77, "text": "Please reply yes or no."})


async def test_a_survey_list_offers_one_survey_per_row(bot: Any) -> None:
    starts = (
        Button("Ice cream preferences", "/start ice-cream", role=Role.START),
        Button("Lunch", "/start lunch", role=Role.START),
    )
    await tg.render(bot, Outgoing("77", "Which survey would you like to take?", actions=starts))
    [call] = recorded(bot).calls[1:]
    assert call.params["reply_markup"]["inline_keyboard"] == [
        [{"text": "Ice cream preferences", "callback_data": "/start ice-cream"}],
        [{"text": "Lunch", "callback_data": "/start lunch"}],
    ]


async def test_a_long_text_is_sent_in_pieces_with_the_keyboard_on_the_last(bot: Any) -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    await tg.render(bot, Outgoing("77", text, actions=(Button("Lunch", "/start lunch", role=Role.START),)))
    calls = recorded(bot).calls[1:]
    assert len(calls) == 3
    assert all(len(c.params["text"]) <= 4096 for c in calls)
    assert "\n".join(c.params["text"] for c in calls) == text
    assert ["reply_markup" in c.params for c in calls] == [False, False, True]


@pytest.mark.parametrize(
    ("qtype", "choices", "rows"),
    [
        (QuestionType.NPS, [str(n) for n in range(11)], [6, 5]),
        (QuestionType.RATING, ["1", "2", "3", "4", "5"], [5]),
        (QuestionType.RATING, [str(n) for n in range(1, 11)], [5, 5]),
        (QuestionType.RATING, ["1 Not at all", "2", "3 Fine", "4", "5 Delicious"], [1, 1, 1, 1, 1]),
        (QuestionType.YES_NO, ["Yes", "No"], [2]),
        (
            QuestionType.SINGLE_CHOICE,
            ["No restrictions", "Vegetarian", "Vegan", "Gluten-free", "Halal"],
            [3, 2],
        ),
        (QuestionType.MULTI_CHOICE, ["Rust for Python developers", "Kubernetes", "Testing"], [1, 1, 1]),
    ],
)
def test_keyboard_rows(qtype: QuestionType, choices: list[str], rows: list[int]) -> None:
    markup = keyboard(question(qtype, choices))
    assert markup is not None
    assert [len(row) for row in markup.inline_keyboard] == rows


def test_a_tick_never_moves_a_button() -> None:
    plain = question(QuestionType.MULTI_CHOICE, ["Waiting time", "Taste", "Friendliness", "Price"])
    ticked = Outgoing(
        "77",
        "?",
        Kind.SELECTION,
        choices=tuple(Button(b.label, b.value, selected=True) for b in plain.choices),
        question_type=QuestionType.MULTI_CHOICE,
    )
    before, after = keyboard(plain), keyboard(ticked)
    assert before is not None and after is not None
    assert [len(r) for r in before.inline_keyboard] == [len(r) for r in after.inline_keyboard]


async def test_flood_control_is_waited_out_and_the_message_still_sent(bot: Any) -> None:
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 0"}
    recorded(bot).script = [(429, {**too_many, "parameters": {"retry_after": 0}})] * 2
    await tg.render(bot, Outgoing("77", "Hello"))
    assert [c.method for c in recorded(bot).calls[1:]] == ["sendMessage"] * 3


async def test_network_errors_are_retried_with_back_off(
    bot: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tg, "BACKOFF", 0.001)
    recorded(bot).script = [NetworkError("connection reset"), NetworkError("connection reset")]
    await tg.render(bot, Outgoing("77", "Hello"))
    assert [c.method for c in recorded(bot).calls[1:]] == ["sendMessage"] * 3
    assert sum("network error on sendMessage" in r.message for r in caplog.records) == 2


async def test_after_too_many_network_errors_the_message_is_given_up_not_raised(
    bot: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tg, "BACKOFF", 0.001)
    recorded(bot).script = [NetworkError("down")] * tg.ATTEMPTS
    await tg.render(bot, Outgoing("77", "Hello"))
    assert len(recorded(bot).calls[1:]) == tg.ATTEMPTS
    assert any("giving up on sendMessage" in r.message for r in caplog.records)


async def test_an_edit_that_changes_nothing_is_not_an_error(
    bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    not_modified = {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
    recorded(bot).script = [(400, not_modified)]
    await tg.render(bot, Outgoing("77", "Same", Kind.ANSWERED, edit_of="5"))
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# --------------------------------------------------------------------------- callback_data size


LONGEST_IDS = f"""
id: {"s" * 32}
title: Longest ids
questions:
  - id: {"q" * 32}
    type: multi_choice
    text: Pick
    choices: [{", ".join(f"Choice {i}" for i in range(40))}]
  - id: {"r" * 32}
    type: nps
    text: Score
  - id: {"t" * 32}
    type: rating
    text: Stars
    min: -1000000000000000
    max: -999999999999980
  - id: {"u" * 32}
    type: single_choice
    text: One
    required: false
    choices: [{", ".join(f"Option {i}" for i in range(60))}]
  - id: {"v" * 32}
    type: yes_no
    text: Yes?
"""


def answer_for(message: Outgoing, pick_last: bool) -> str:
    """Press the first or last answer button (ticking it and pressing Done for several); type the rest."""
    if message.choices:
        button = message.choices[-1 if pick_last else 0]
        return button.value
    typed = {
        QuestionType.TEXT: "Ada Lovelace",
        QuestionType.NUMBER: "1",
        QuestionType.EMAIL: "ada@example.org",
        QuestionType.DATE: "2025-09-19",
    }
    assert message.question_type is not None
    return typed[message.question_type]


async def every_button_value(survey_text: str | None, survey_file: Path | None, pick_last: bool) -> set[str]:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    survey = load_file(survey_file) if survey_file else load_text(textwrap.dedent(survey_text or ""))
    await publish(surveys, survey)
    engine = Engine(SurveyCache(surveys, newest_ttl=0), responses, sessions, b"secret")
    base = Incoming(platform="telegram", user_id="77", user_name="John Doe", chat_id="77")
    values: set[str] = set()
    out = await engine.handle(Incoming(**{**base.__dict__, "text": "/surveys"}))
    out += await engine.handle(Incoming(**{**base.__dict__, "text": f"/start {survey.id}"}))
    for _ in range(40):
        for message in out:
            values |= {b.value for b in (*message.choices, *message.actions)}
        asked = [m for m in out if m.kind is Kind.QUESTION]
        if not asked:
            break
        answer = answer_for(asked[-1], pick_last)
        if asked[-1].multi:
            out = await engine.handle(Incoming(**{**base.__dict__, "button": answer, "message_id": "1"}))
            done = next(b.value for b in asked[-1].actions if b.label == "Done")
            out += await engine.handle(Incoming(**{**base.__dict__, "button": done, "message_id": "1"}))
        elif asked[-1].choices:
            out = await engine.handle(Incoming(**{**base.__dict__, "button": answer, "message_id": "1"}))
        else:
            out = await engine.handle(Incoming(**{**base.__dict__, "text": answer}))
    assert (await responses.count(survey.id)).get(Status.COMPLETED) == 1, "the walk must reach the end"
    return values


@pytest.mark.parametrize("pick_last", [False, True], ids=["first-buttons", "last-buttons"])
@pytest.mark.parametrize("survey_file", sorted(SURVEYS.glob("*.yaml")), ids=lambda p: p.stem)
async def test_callback_data_fits_64_bytes_in_every_example_survey(
    survey_file: Path, pick_last: bool
) -> None:
    values = await every_button_value(None, survey_file, pick_last)
    assert any(v.startswith("a:") for v in values)
    assert max(len(v.encode()) for v in values) <= 64, max(values, key=len)


@pytest.mark.parametrize("pick_last", [False, True], ids=["first-buttons", "last-buttons"])
async def test_callback_data_fits_64_bytes_with_the_longest_ids_the_format_allows(pick_last: bool) -> None:
    values = await every_button_value(LONGEST_IDS, None, pick_last)
    longest = max(values, key=lambda v: len(v.encode()))
    assert {v.split(":")[0] for v in values} >= {"a", "t", "d", "/start " + "s" * 32}
    assert len(longest.encode()) <= 64, longest


# --------------------------------------------------------------------------- whole updates


ICE_CREAM = (SURVEYS / "ice-cream.yaml").read_text(encoding="utf-8")
LUNCH = """\
id: lunch
title: Lunch
questions:
  - id: dish
    type: text
    text: What did you eat?
"""


@dataclass
class Harness:
    adapter: tg.TelegramAdapter
    request: RecordingRequest
    app: App
    updates: Iterator[int] = field(default_factory=lambda: count(1))

    async def send(self, data: dict[str, Any]) -> list[Call]:
        before = len(self.request.calls)
        await self.adapter.application.process_update(update(data, self.adapter.bot))
        return self.request.calls[before:]

    async def say(self, text: str, chat: dict[str, Any] = PRIVATE, user: dict[str, Any] = USER) -> list[Call]:
        message = {"message_id": 1, "from": user, "chat": chat, "date": 1700000000, "text": text}
        return await self.send({"update_id": next(self.updates), "message": message})

    async def press(self, data: str, message_id: int, chat: dict[str, Any] = PRIVATE) -> list[Call]:
        message = {"message_id": message_id, "chat": chat, "date": 1700000000, "text": "…"}
        query = {"id": f"q{message_id}", "from": USER, "chat_instance": "1", "data": data, "message": message}
        return await self.send({"update_id": next(self.updates), "callback_query": query})


async def in_memory_app() -> App:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    await publish(surveys, load_text(ICE_CREAM, "ice-cream.yaml"))
    cache = SurveyCache(surveys, newest_ttl=0)
    contacts = InMemoryContactStore()
    engine = Engine(cache, responses, sessions, b"secret", contacts=contacts)
    config = Config(
        telegram=TelegramSettings(bot_token=SecretStr(TOKEN), webhook_url="https://bot.example.org"),
        admins=AdminSettings(telegram=[ADMIN]),
    )
    return App(config, surveys, responses, sessions, cache, engine, contacts=contacts)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    app = await in_memory_app()
    request = RecordingRequest()
    adapter = tg.TelegramAdapter(app, tg.build_application(app.config.telegram, request))
    await adapter.application.initialize()
    yield Harness(adapter, request, app)
    await adapter.application.shutdown()


def sent_texts(calls: list[Call]) -> list[str]:
    return [c.params["text"] for c in calls if c.method in ("sendMessage", "editMessageText")]


async def test_a_button_press_edits_the_question_answers_the_query_once_and_asks_the_next(h: Harness) -> None:
    started = await h.say("/start ice-cream")
    asked = started[-1]
    assert asked.params["text"] == "Which flavour of ice cream do you prefer?"
    chocolate = asked.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]

    calls = await h.press(chocolate, message_id=500 + len(started) - 1)
    assert [c.method for c in calls] == [
        "answerCallbackQuery",
        "editMessageText",
        "sendMessage",
        "sendMessage",
    ]
    assert "text" not in calls[0].params
    assert calls[1].params["text"] == "Which flavour of ice cream do you prefer?\n✓ Chocolate"
    assert "reply_markup" not in calls[1].params
    assert sent_texts(calls)[1:] == [
        "Great choice! Chocolate is a classic favorite.",
        "Would you like to provide feedback on why you chose Chocolate?",
    ]


async def test_a_stale_button_gets_a_short_answer_and_changes_nothing(h: Harness) -> None:
    started = await h.say("/start ice-cream")
    value = started[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await h.press(value, message_id=7)
    calls = await h.press(value, message_id=7)
    assert [(c.method, c.params.get("text")) for c in calls] == [
        ("answerCallbackQuery", "This question was already answered.")
    ]


async def test_a_redelivered_callback_is_handled_once_and_still_answered(h: Harness) -> None:
    started = await h.say("/start ice-cream")
    value = started[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    query = {"id": "q1", "from": USER, "chat_instance": "1", "data": value}
    data = {
        "update_id": 99,
        "callback_query": {**query, "message": {"message_id": 5, "chat": PRIVATE, "date": 1}},
    }
    first = await h.send(data)
    again = await h.send(data)
    assert len(first) > 1
    assert [c.method for c in again] == ["answerCallbackQuery"]


async def test_a_redelivered_message_is_answered_once(h: Harness) -> None:
    data = {"update_id": 7, "message": {**DEEP_LINK_UPDATE["message"]}}
    assert len(await h.send(data)) == 2
    assert await h.send(data) == []


async def test_a_callback_is_answered_even_when_handling_fails(h: Harness) -> None:
    async def broken(msg: Incoming) -> list[Outgoing]:
        raise RuntimeError("bug")

    h.adapter.app.engine.handle = broken  # type: ignore[method-assign]
    calls = await h.press("a:x:y:0", message_id=3)
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def test_placeholders_use_the_first_and_last_name(h: Harness) -> None:
    calls = await h.say("/start ice-cream")
    assert sent_texts(calls)[0].startswith("Hello John Doe!")


async def test_in_a_group_the_bot_points_to_a_private_chat_with_a_deep_link(h: Harness) -> None:
    calls = await h.say("/start@SurveyBot ice-cream", chat=GROUP)
    [call] = calls
    assert (call.method, call.params["chat_id"], call.params["text"]) == (
        "sendMessage",
        -1001,
        tg.PRIVATE_ONLY,
    )
    assert call.params["reply_markup"]["inline_keyboard"] == [
        [{"text": tg.OPEN_PRIVATE, "url": "https://t.me/SurveyBot?start=ice-cream"}]
    ]
    assert await h.say("nice weather", chat=GROUP) == []
    assert await h.say("/start@OtherBot", chat=GROUP) == []
    assert await h.app.responses.find_in_progress("any") is None


async def test_in_a_group_a_german_user_is_pointed_to_the_private_chat_in_german(h: Harness) -> None:
    calls = await h.say("/start@SurveyBot", chat=GROUP, user={**USER, "language_code": "de"})

    [call] = calls
    assert call.params["text"] == (
        "Umfragen werden in einem privaten Chat mit mir beantwortet. "
        "Tippen Sie auf die Schaltfläche, um ihn zu öffnen."
    )
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Privaten Chat öffnen"


async def test_a_non_admin_upload_is_refused_and_nothing_is_stored(h: Harness) -> None:
    h.request.files["BQACAgIAAxkBAAIBY2Vx"] = LUNCH.encode()
    stranger = {**USER, "id": 78}
    message = {**DOCUMENT_UPDATE["message"], "from": stranger, "chat": {**PRIVATE, "id": 78}}
    calls = await h.send({"update_id": 1, "message": message})
    assert [(c.method, c.params["text"]) for c in calls] == [("sendMessage", admin.NOT_ADMIN_UPLOAD)]
    assert [s.id for s in await h.app.surveys.list_newest()] == ["ice-cream"]


async def test_an_admin_upload_is_loaded(h: Harness) -> None:
    h.request.files["BQACAgIAAxkBAAIBY2Vx"] = LUNCH.encode()
    calls = await h.send(DOCUMENT_UPDATE)
    assert [c.method for c in calls] == ["getFile", "sendMessage"]
    assert calls[-1].params["text"] == "stored lunch version 1 (lunch.yaml)"
    assert [s.id for s in await h.app.surveys.list_newest()] == ["ice-cream", "lunch"]
    assert await h.send(DOCUMENT_UPDATE) == [], "a webhook retry of the same update is handled once"
    again = await h.send({**DOCUMENT_UPDATE, "update_id": 2})
    assert again[-1].params["text"] == "unchanged lunch version 1 (lunch.yaml)"
    started = await h.say("/start lunch")
    assert sent_texts(started) == ["What did you eat?"]


async def test_an_upload_whose_handling_failed_is_handled_when_redelivered(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update was marked handled before the work: a crash mid-upload left the redelivery ignored."""
    h.request.files["BQACAgIAAxkBAAIBY2Vx"] = LUNCH.encode()
    failing = h.adapter._upload

    async def crash(*args: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(h.adapter, "_upload", crash)
    await h.send(DOCUMENT_UPDATE)  # PTB's error handler logs the failure
    assert [s.id for s in await h.app.surveys.list_newest()] == ["ice-cream"]
    monkeypatch.setattr(h.adapter, "_upload", failing)
    calls = await h.send(DOCUMENT_UPDATE)  # Telegram delivers it again
    assert calls[-1].params["text"] == "stored lunch version 1 (lunch.yaml)"
    assert await h.send(DOCUMENT_UPDATE) == [], "once handled, a retry is not"


async def test_an_invalid_upload_lists_every_problem_with_file_and_line(h: Harness) -> None:
    broken = LUNCH.replace("type: text", "type: essay") + "    colour: red\n"
    h.request.files["BQACAgIAAxkBAAIBY2Vx"] = broken.encode()
    calls = await h.send(DOCUMENT_UPDATE)
    heading, *lines = calls[-1].params["text"].splitlines()
    assert heading == "“lunch.yaml” was not loaded: 2 problems; nothing was stored."
    assert len(lines) == 2
    assert all(line.startswith("lunch.yaml:") for line in lines)
    assert any(":5: question 'dish'" in line for line in lines), lines
    assert [s.id for s in await h.app.surveys.list_newest()] == ["ice-cream"]


async def test_only_yaml_files_are_read(h: Harness) -> None:
    message = {**DOCUMENT_UPDATE["message"]}
    message["document"] = {**message["document"], "file_name": "notes.txt"}
    calls = await h.send({"update_id": 3, "message": message})
    assert [(c.method, c.params["text"]) for c in calls] == [
        ("sendMessage", admin.NOT_YAML.format(name="notes.txt"))
    ]


async def test_results_are_for_admins_only(h: Harness) -> None:
    stranger = {**USER, "id": 78}
    calls = await h.say("/results ice-cream", chat={**PRIVATE, "id": 78}, user=stranger)
    assert sent_texts(calls) == [admin.NOT_ADMIN_RESULTS]


async def test_the_webhook_refuses_a_request_without_the_secret_token(h: Harness) -> None:
    web = FastAPI()
    h.adapter.mount(web)
    secret = tg.webhook_secret(TOKEN)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = {**DEEP_LINK_UPDATE, "update_id": 31}
        missing = await client.post(tg.WEBHOOK_PATH, json=body)
        wrong = await client.post(tg.WEBHOOK_PATH, json=body, headers={tg.SECRET_HEADER: secret[:-1] + "x"})
        assert (missing.status_code, wrong.status_code) == (403, 403)
        assert h.request.named("sendMessage") == []
        good = await client.post(tg.WEBHOOK_PATH, json=body, headers={tg.SECRET_HEADER: secret})
        assert good.status_code == 200
        assert sent_texts(h.request.named("sendMessage"))[0].startswith("Hello John Doe!")


def test_the_webhook_target() -> None:
    assert tg.webhook_target("https://bot.example.org") == "https://bot.example.org/telegram/webhook"
    assert tg.webhook_target("https://bot.example.org/") == "https://bot.example.org/telegram/webhook"
    assert tg.webhook_target("https://example.org/hooks/tg") == "https://example.org/hooks/tg"


async def test_start_up_registers_the_command_menu_and_the_webhook(h: Harness) -> None:
    await h.adapter.start()
    assert h.adapter._startup is not None
    await h.adapter._startup
    commands = h.request.named("setMyCommands")
    assert [c.params["commands"][0]["command"] for c in commands] == ["start", "start"]
    assert [c["command"] for c in commands[0].params["commands"]] == [
        "start",
        "surveys",
        "back",
        "skip",
        "restart",
        "stop",
        "optout",
        "language",
        "link",
        "help",
    ]
    assert commands[1].params["scope"] == {"type": "chat", "chat_id": 77}
    assert [c["command"] for c in commands[1].params["commands"]][-2:] == ["results", "campaigns"]
    [webhook] = h.request.named("setWebhook")
    assert webhook.params["url"] == "https://bot.example.org/telegram/webhook"
    assert webhook.params["secret_token"] == tg.webhook_secret(TOKEN)
    assert webhook.params["allowed_updates"] == ["message", "callback_query"]


async def test_an_admin_reads_the_results_with_a_chart_per_question(h: Harness) -> None:
    for text in ("/start ice-cream", "chocolate", "no"):
        await h.say(text)
    calls = await h.say("/results ice-cream")
    [summary] = sent_texts(calls)
    assert summary.splitlines()[:3] == [
        "Results of ice-cream:",
        "Ice cream preferences (ice-cream, version 1)",
        "Started 1, completed 1 (100%), in progress 0",
    ]
    photos = h.request.named("sendPhoto")
    assert [p.params["caption"] for p in photos] == [
        "Which flavour of ice cream do you prefer?",
        "Would you like to provide feedback on why you chose ‹flavour›?",
    ]


async def test_results_of_an_unknown_survey(h: Harness) -> None:
    assert sent_texts(await h.say("/results nope")) == ["There is no survey called “nope”."]
    assert sent_texts(await h.say("/results")) == [admin.RESULTS_USAGE]


async def test_start_up_waits_for_an_unreachable_bot_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tg, "BACKOFF", 0.001)
    app = await in_memory_app()
    request = RecordingRequest(script=[NetworkError("connection refused")] * 3)
    adapter = tg.TelegramAdapter(app, tg.build_application(app.config.telegram, request))
    await adapter.start()
    assert adapter._startup is not None
    await adapter._startup
    assert [c.method for c in request.calls][:5] == ["getMe"] * 4 + ["setMyCommands"]
    assert request.named("setWebhook")
    await adapter.stop()


async def test_updates_of_one_user_keep_their_order_while_others_go_ahead() -> None:
    processor = tg._InOrderPerUser()
    handled: list[str] = []

    async def work(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        handled.append(name)

    other = {**TEXT_UPDATE, "message": {**TEXT_UPDATE["message"], "from": {**USER, "id": 78}}}
    await asyncio.gather(
        processor.process_update(update(TEXT_UPDATE), work("first", 0.05)),
        processor.process_update(update(TEXT_UPDATE, update_id=2), work("second", 0)),
        processor.process_update(update(other), work("other user", 0)),
    )
    assert handled == ["other user", "first", "second"]
    assert processor._users == {}


async def test_a_refused_token_turns_the_adapter_off_without_stopping_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await in_memory_app()
    unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    request = RecordingRequest(script=[(401, unauthorized)])
    adapter = tg.TelegramAdapter(app, tg.build_application(app.config.telegram, request))
    await adapter.start()
    assert adapter._startup is not None
    await adapter._startup
    assert [c.method for c in request.calls] == ["getMe"]
    assert any("refused the bot token" in r.message for r in caplog.records)
    await adapter.stop()


async def test_a_typed_answer_takes_the_keyboard_off_the_question_it_answered(h: Harness) -> None:
    started = await h.say("/start ice-cream")
    asked = started[-1]
    assert asked.method == "sendMessage" and "reply_markup" in asked.params
    typed = await h.say("2")
    removed = [c for c in typed if c.method == "editMessageReplyMarkup"]
    assert len(removed) == 1 and removed[0].params.get("reply_markup") is None
    assert removed[0].params["message_id"] == 501, "the flavour question (500 was the welcome)"
    # A question answered with its own button is edited in place; nothing else is stripped.
    [yes_no] = [c for c in typed if c.method == "sendMessage" and "reply_markup" in c.params]
    pressed = await h.press(yes_no.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"], 503)
    assert [c.method for c in pressed] == ["answerCallbackQuery", "editMessageText", "sendMessage"]


async def test_two_processes_agree_on_which_keyboard_is_live() -> None:
    """Two adapters (two processes, as webhook workers are) over the same stores: the keyboard the
    first posted is retired by the second when the answer is typed there, and a press on it, in either,
    changes nothing."""
    one = await in_memory_app()
    cache = SurveyCache(one.surveys, newest_ttl=0)
    two = App(
        one.config,
        one.surveys,
        one.responses,
        one.sessions,
        cache,
        Engine(cache, one.responses, one.sessions, b"secret"),
    )
    request = RecordingRequest()
    first = tg.TelegramAdapter(one, tg.build_application(one.config.telegram, request))
    second = tg.TelegramAdapter(two, tg.build_application(two.config.telegram, request))
    await first.application.initialize()
    await second.application.initialize()
    updates = count(1)
    in_first, in_second = Harness(first, request, one, updates), Harness(second, request, two, updates)
    try:
        started = await in_first.say("/start ice-cream")
        flavour = started[-1]
        chocolate = flavour.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
        flavour_id = 500 + len([c for c in started if c.method == "sendMessage"]) - 1

        typed = await in_second.say("2")
        removed = [c for c in typed if c.method == "editMessageReplyMarkup"]
        assert [(c.params["message_id"], c.params.get("reply_markup")) for c in removed] == [
            (flavour_id, None)
        ]

        for process in (in_first, in_second):
            pressed = await process.press(chocolate, flavour_id)
            assert [c.method for c in pressed] == ["answerCallbackQuery"]
            assert pressed[0].params["text"] == texts.ALREADY_ANSWERED
        response = await one.responses.find("ice-cream", one.engine.respondent_key("telegram", "77"))
        assert response is not None and response.path == ("flavour",)
    finally:
        await first.application.shutdown()
        await second.application.shutdown()


async def test_a_respondents_file_that_is_no_survey_is_answered_like_a_photo(h: Harness) -> None:
    stranger, chat = {**USER, "id": 78}, {**PRIVATE, "id": 78}
    started = await h.say("/start ice-cream", chat=chat, user=stranger)
    message = {**DOCUMENT_UPDATE["message"], "from": stranger, "chat": chat}
    pdf = {**message["document"], "file_name": "menu.pdf"}
    calls = await h.send({"update_id": 40, "message": {**message, "document": pdf}})
    assert sent_texts(calls) == [texts.TEXT_ONLY, sent_texts(started)[-1]], "and the question again"
    calls = await h.send({"update_id": 41, "message": message})  # lunch.yaml: an upload, refused
    assert sent_texts(calls) == [admin.NOT_ADMIN_UPLOAD]


async def test_an_admin_reads_the_campaigns_and_a_respondent_cannot(h: Harness) -> None:
    import datetime as dt

    from adapters.campaigns import store_campaign

    campaign = (
        "campaign: weekly\nsurvey: ice-cream\naudience: {telegram: [42]}\n"
        "schedule: {at: '2030-01-07 09:00', timezone: UTC}\n"
    )
    await store_campaign(h.app.campaigns, h.app.cache, campaign, "weekly.yaml", dt.datetime.now(dt.UTC))
    await h.say("/campaigns")
    await h.say("/campaigns weekly")
    stranger_user = {**USER, "id": 5}
    await h.say("/campaigns", chat={**PRIVATE, "id": 5}, user=stranger_user)
    admin_texts = [c.params["text"] for c in h.request.named("sendMessage") if int(c.params["chat_id"]) == 77]
    assert admin_texts[-2:] == [
        "Campaigns:\nweekly: ice-cream, 2030-01-07 09:00:00",
        "Campaign weekly:\nnothing sent yet",
    ]
    stranger = [c.params["text"] for c in h.request.named("sendMessage") if int(c.params["chat_id"]) == 5]
    assert stranger and stranger[-1].startswith("I don't know the command /campaigns.")


async def test_a_campaign_reaches_the_ids_named_and_the_people_on_its_lists(h: Harness) -> None:
    from bot.campaigns import Audience

    await h.say("/start TAG_team")
    joined = [c.params["text"] for c in h.request.named("sendMessage")]
    assert "You are on the “team” list" in joined[0]
    people = await h.adapter.people(Audience(telegram=("55",), telegram_tags=("team", "nobody")))
    assert [(p.platform, p.user_id) for p in people] == [("telegram", "55"), ("telegram", "77")]


async def test_an_invitation_waits_out_telegrams_flood_control_and_refusals_are_told_apart(
    h: Harness,
) -> None:
    """python-telegram-bot's rate limiter waits out a retry_after itself; a blocked bot is for good."""
    import time as clock
    import warnings

    from telegram.warnings import PTBDeprecationWarning

    from adapters.webhooks import PostFailed

    flood = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests",
        "parameters": {"retry_after": 1},
    }
    h.request.script.append((429, flood))
    started = clock.monotonic()
    with warnings.catch_warnings():  # RetryAfter itself warns of its attribute's coming type
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        await h.adapter.invite("55", "Hi Ann!", "ice-cream", "Ice cream")
    assert clock.monotonic() - started >= 1.0, "waited the second Telegram asked for"
    sends = [c for c in h.request.named("sendMessage") if c.params["chat_id"] == 55]
    markup = sends[-1].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert len(sends) == 2 and markup["inline_keyboard"] == [
        [{"text": "Start “Ice cream”", "callback_data": "/start ice-cream"}]
    ]

    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    h.request.script.append((403, blocked))
    with pytest.raises(PostFailed) as refused:
        await h.adapter.invite("56", "Hi Bob!", "ice-cream", "Ice cream")
    assert refused.value.permanent and "blocked" in str(refused.value)
