"""Cross-channel links end to end (issue 14, docs/linking.md): one ``surveybot run`` serving Telegram (long
polling against the emulator) and the web chat on the same MongoDB and Redis; a response begun on Telegram
is linked to the web chat with the code ``/link`` shows and finished there, and guessing codes over the
web chat's websocket is refused past bot.links.POLICY.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from bot.links import POLICY
from tests.e2e.team_lunch import ANSWERS, SURVEY_ID, load_team_lunch
from tests.e2e.telegram_emulator import (
    ROOT,
    Bot,
    Emulator,
    keyboard,
    stored_responses,
    surveybot_env,
)

pytestmark = pytest.mark.e2e

CODE = re.compile(r"\b[0-9A-Z]{3}-[0-9A-Z]{3}\b")
WRONG = "That link code is wrong or has expired. Send /link in your other chat for a new one."
LINKED = "Linked: this chat and your other one now share your answers."
RESUMING = "Welcome back! Let's continue “Team lunch” where you left off."


@dataclass
class WebChat:
    """A web chat respondent over the websocket of docs/web.md: each frame sent gets one reply frame."""

    socket: ClientConnection
    said: list[dict[str, Any]] = field(default_factory=list)
    """Every message the server sent, in order."""

    def receive(self) -> list[dict[str, Any]]:
        frame = json.loads(self.socket.recv(timeout=15))
        assert frame["type"] == "reply", frame
        messages: list[dict[str, Any]] = frame["messages"]
        self.said += messages
        return messages

    def say(self, text: str) -> list[str]:
        asked = self.question()
        question_id = asked["question_id"] if asked is not None else None
        self.socket.send(json.dumps({"type": "text", "text": text, "question_id": question_id}))
        return [m["text"] for m in self.receive()]

    def press(self, label: str) -> list[str]:
        asked = self.question()
        assert asked is not None, self.said
        [value] = [c["value"] for c in asked["choices"] if c["label"] == label]
        self.socket.send(json.dumps({"type": "button", "value": value, "message_id": asked["id"]}))
        return [m["text"] for m in self.receive()]

    def question(self) -> dict[str, Any] | None:
        return next((m for m in reversed(self.said) if m["kind"] == "question"), None)


@contextlib.contextmanager
def web_chat(bot: Bot, name: str) -> Iterator[tuple[WebChat, list[str]]]:
    """A new respondent (an id the server issues) opening the page of team-lunch: the chat, and what
    the server said on connecting (it starts the page's survey)."""
    base = f"127.0.0.1:{bot.port}"
    issued = httpx.post(f"http://{base}/chat/respondent", timeout=10)
    issued.raise_for_status()
    respondent = issued.json()["respondent"]
    url = f"ws://{base}/ws/surveys/{SURVEY_ID}?respondent={respondent}&name={quote(name)}"
    with connect(url, open_timeout=10) as socket:
        chat = WebChat(socket)
        yield chat, [m["text"] for m in chat.receive()]


def running_bot(emulator: Emulator, env: dict[str, str], tmp_path: Path) -> Iterator[Bot]:
    """``surveybot run`` (Telegram and the web chat) with team-lunch loaded, in ``env``'s stores."""
    load_team_lunch(env)
    bot = Bot(emulator, env, tmp_path, webhook=False)
    try:
        bot.start()
        yield bot
    finally:
        bot.stop()


@pytest.fixture
def bot(emulator: Emulator, mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> Iterator[Bot]:
    """Telegram and the web chat in one ``surveybot run``, on the test's stores."""
    env = surveybot_env(mongodb_test_uri, redis_url, ROOT / "config.yaml")
    yield from running_bot(emulator, env, tmp_path)


def test_a_response_begun_on_telegram_is_linked_and_finished_in_the_web_chat(
    bot: Bot, mongodb_test_uri: str
) -> None:
    ada = bot.user()
    log = bot.log
    ada.say(f"/start {SURVEY_ID}")
    dish = ada.expect("Hello Ada Lovelace! Let's plan Friday's lunch.", "What should we order?", log=log)[-1]
    ada.press(dish, "Soup")
    dessert = ada.expect("Would you like dessert?", log=log)[-1]
    assert keyboard(dessert) == [["Yes", "No"], ["Back"]]

    ada.say("/link")
    [shown] = ada.expect("Your link code is", log=log)
    found = CODE.search(shown["text"])
    assert found is not None, shown
    code = found[0]
    assert shown["text"] == (
        f"Your link code is {code}. Send it to me from your other chat (Telegram, Slack, the web chat or "
        "the terminal) within 10 minutes to go on there with the same answers."
    )
    retired = ada.edited(dessert, lambda m: "reply_markup" not in m, log=log)
    assert retired["text"] == "Would you like dessert?", "the conversation moves on elsewhere"

    with web_chat(bot, "Ada in the browser") as (chat, opened):
        # The page starts its survey on connecting; the code, typed bare, joins this chat to Telegram's.
        assert opened == ["Hello Ada in the browser! Let's plan Friday's lunch.", "What should we order?"]
        assert chat.say(code) == [
            "What should we order?",  # the buttons of this chat's own question go
            LINKED,
            RESUMING,
            "Would you like dessert?",
        ]
        assert chat.press("Yes") == ["Would you like dessert?\n✓ Yes", "How many guests are you bringing?"]
        assert chat.say("2") == ["How many guests are you bringing?", "Where would you like to sit?"]
        assert chat.press("On the terrace") == [
            "Where would you like to sit?\n✓ On the terrace",
            "Thank you, Ada in the browser! See you on Friday.",  # the name this chat gave
        ]
    assert [m.get("text") for m in ada.messages()] == [
        "Hello Ada Lovelace! Let's plan Friday's lunch.",
        "What should we order?\n✓ Soup",
        "Would you like dessert?",
        shown["text"],
    ], "Telegram was told nothing more"

    # One response: the page had begun one of its own when it opened (it connects with /start), empty,
    # which linking discarded.
    [linked] = stored_responses(mongodb_test_uri, SURVEY_ID)
    assert (linked["status"], linked["language"]) == ("completed", "en")
    assert (linked["respondent"]["user_id"], linked["respondent"]["name"]) == (str(ada.id), "Ada Lovelace")
    assert {qid: a["value"] for qid, a in linked["answers"].items()} == ANSWERS


GUESSING_REDIS_DB = 9
"""The guessing test's Redis database: failures count for everyone together (``sb:lk:f``), so that this
test's must neither meet another test's nor refuse another test's codes for a minute."""
WRONG_CODES = ["K7P-4QD", "M2N-8RT", "Z9X-1AB", "Q4W-7EJ", "H6G-3FK"]


def forget_links(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5)
    with client:
        for key in client.scan_iter(match="sb:*"):
            client.delete(key)


@pytest.fixture
def guarded(emulator: Emulator, mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> Iterator[Bot]:
    """``surveybot run`` on a Redis database of its own, emptied of the bot's keys before and after."""
    own = urlunsplit(urlsplit(redis_url)._replace(path=f"/{GUESSING_REDIS_DB}"))
    forget_links(own)
    try:
        yield from running_bot(emulator, surveybot_env(mongodb_test_uri, own, ROOT / "config.yaml"), tmp_path)
    finally:
        forget_links(own)


def test_guessing_link_codes_is_refused_per_respondent_and_overall(guarded: Bot) -> None:
    assert (POLICY.per_identity, POLICY.overall, POLICY.overall_window_s) == (5, 20, 60)
    with web_chat(guarded, "Ann") as (ann, _):
        retired, shown = ann.say("/link")
        assert retired == "What should we order?", "the buttons of the question shown go"
        found = CODE.search(shown)
        assert found is not None, shown
        code = found[0]
        assert code not in WRONG_CODES

        with web_chat(guarded, "Mallory") as (mallory, _):
            for wrong in WRONG_CODES:
                assert mallory.say(wrong) == [WRONG]
            refused = ["Too many wrong link codes. Please try again in 10 minutes."]
            assert mallory.say(code) == refused, "the right code, too late"
            assert mallory.say(f"/link {code}") == refused

        with web_chat(guarded, "Ann elsewhere") as (other, _):
            assert other.say(code)[:2] == ["What should we order?", LINKED], "the code was not used up"

        # Fresh respondents are cheap: everyone's failures together are capped too (15 more make 20).
        for n in range(3):
            with web_chat(guarded, f"Sprayer {n}") as (sprayer, _):
                for wrong in WRONG_CODES:
                    assert sprayer.say(wrong) == [WRONG]
        with web_chat(guarded, "Someone honest") as (late, _):
            refused = ["Too many wrong link codes. Please try again in 1 minute."]
            assert late.say(WRONG_CODES[0]) == refused, "the overall cap, for one who never failed"
