"""One response continued across chats: /link codes, the guessing limits, /unlink, exactly-once."""

from __future__ import annotations

import asyncio
import re

import pytest

from adapters.stores.memory import (
    InMemoryResponseStore,
    InMemorySessionStore,
    InMemorySurveyStore,
)
from bot import texts
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.links import POLICY
from bot.loader import load_text
from bot.messages import Incoming, Kind, Outgoing
from bot.responses import Response, Status, respondent_key
from tests.unit.engine_stores import SECRET, EngineStores, question

LUNCH = """\
id: lunch
title: Lunch
questions:
  - id: dish
    type: single_choice
    text: What should we order?
    choices: [Pizza, Salad, Soup]
  - id: people
    type: number
    text: How many of you?
  - id: note
    type: text
    text: Anything else?
"""


class Harness(EngineStores):
    async def say(self, platform: str, text: str, user: str = "u1") -> list[Outgoing]:
        msg = Incoming(platform=platform, user_id=user, user_name="Ada", chat_id=user, text=text)
        return await self.engine.handle(msg)

    async def press(
        self, platform: str, value: str, user: str = "u1", update: str | None = None
    ) -> list[Outgoing]:
        msg = Incoming(
            platform=platform, user_id=user, user_name="Ada", chat_id=user, button=value, update_id=update
        )
        return await self.engine.handle(msg)

    async def code(self, platform: str, user: str = "u1") -> str:
        out = await self.say(platform, "/link", user)
        found = re.search(r"\b([0-9A-Z]{3}-[0-9A-Z]{3})\b", out[0].text)
        assert found is not None, out[0].text
        return found[1]

    def all_responses(self) -> list[Response]:
        return list(self.responses._responses.values())


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await publish(harness.surveys, load_text(LUNCH, "lunch.yaml"))
    return harness


async def test_a_response_started_on_telegram_goes_on_in_the_web_chat(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    await h.say("telegram", "2")
    code = await h.code("telegram")

    out = await h.say("web", code, user="w1")

    assert out[0].text == texts.LINKED
    assert out[1].text == texts.RESUMING.format(title="Lunch")
    assert question(out).text == "How many of you?"
    out = await h.say("web", "3", user="w1")
    assert question(out).text == "Anything else?"

    # Back on Telegram, whose last question was "How many of you?": what is typed there answers that
    # question, answered already in the web chat, so it is not taken for the next one; the chat is
    # shown where the response stands.
    out = await h.say("telegram", "4")
    assert [m.text for m in out] == [texts.ALREADY_ANSWERED, "Anything else?"]
    out = await h.say("telegram", "Extra napkins")
    assert out[-1].text == "Thank you! Your response has been recorded."
    (response,) = h.all_responses()
    assert response.status is Status.COMPLETED
    assert response.values() == {"dish": "salad", "people": 3, "note": "Extra napkins"}
    assert response.respondent.key == respondent_key(SECRET, "telegram", "u1")


async def test_a_code_is_taken_once(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    code = await h.code("telegram")

    await h.say("web", code, user="w1")
    out = await h.say("console", f"/link {code}", user="c1")

    assert out[0].kind is Kind.ERROR and out[0].text == texts.LINK_UNKNOWN


async def test_guessing_is_refused_after_a_few_tries_even_with_the_right_code(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    code = await h.code("telegram")
    wrong = "AAA-111" if code != "AAA-111" else "BBB-222"

    for _ in range(POLICY.per_identity):
        out = await h.say("web", wrong, user="guesser")
        assert out[0].text == texts.LINK_UNKNOWN
    out = await h.say("web", code, user="guesser")

    assert out[0].kind is Kind.ERROR and out[0].text.startswith("Too many wrong link codes")
    out = await h.say("web", code, user="honest")
    assert out[0].text == texts.LINKED, "the code was not used up by a refused try"


async def test_ones_own_code_is_not_taken_in_its_own_chat(h: Harness) -> None:
    code = await h.code("telegram")

    out = await h.say("telegram", code)

    assert out[0].text == texts.LINK_OWN


async def test_a_code_shaped_answer_to_a_text_question_is_an_answer(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    await h.say("telegram", "1")
    await h.say("telegram", "2")

    out = await h.say("telegram", "ABC-123")

    assert out[-1].text == "Thank you! Your response has been recorded."
    (response,) = h.all_responses()
    assert response.values()["note"] == "ABC-123"


async def test_not_a_code(h: Harness) -> None:
    out = await h.say("web", "/link pizza")

    assert out[0].kind is Kind.ERROR and "is not a link code" in out[0].text


async def test_unlink_from_the_linked_chat_gives_it_its_own_answers_again(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    await h.say("web", await h.code("telegram"), user="w1")

    out = await h.say("web", "/unlink", user="w1")
    assert out[0].text == texts.UNLINKED
    out = await h.say("web", "/start lunch", user="w1")

    assert question(out).text == "What should we order?", "a response of its own begins"
    assert len(h.all_responses()) == 2
    assert (await h.say("web", "/unlink", user="w1"))[0].text == texts.NOT_LINKED


async def test_unlink_from_the_first_chat_ends_the_links_to_it(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    await h.say("web", await h.code("telegram"), user="w1")

    assert (await h.say("telegram", "/unlink"))[0].text == texts.UNLINKED
    out = await h.say("web", "2", user="w1")  # the web chat's session was the Telegram response's

    assert out[0].text == texts.NOTHING_IN_PROGRESS
    (response,) = h.all_responses()
    assert response.values() == {}


async def test_the_same_answer_pressed_in_both_chats_at_once_is_stored_once(h: Harness) -> None:
    out = await h.say("telegram", "/start lunch")
    salad = question(out).choices[1].value
    await h.say("web", await h.code("telegram"), user="w1")

    both = await asyncio.gather(
        h.press("telegram", salad, update="t-1"),
        h.press("web", salad, user="w1", update="w-1"),
    )

    (response,) = h.all_responses()
    assert response.path == ("dish",) and response.values() == {"dish": "salad"}
    asked = [m for out in both for m in out if m.kind is Kind.QUESTION]
    assert {m.text for m in asked} == {"How many of you?"}
    assert sum(m.text == texts.ALREADY_ANSWERED for out in both for m in out) == 1


async def test_links_hold_only_keyed_hashes(h: Harness) -> None:
    await h.say("telegram", "/start lunch", user="123456789")
    await h.say("slack", await h.code("telegram", user="123456789"), user="U0SLACK")

    stored = repr(h.links.__dict__)

    assert "123456789" not in stored and "U0SLACK" not in stored
    assert respondent_key(SECRET, "slack", "U0SLACK") in stored


async def test_without_a_link_store_linking_is_said_to_be_unavailable() -> None:
    surveys = InMemorySurveyStore()
    engine = Engine(SurveyCache(surveys), InMemoryResponseStore(), InMemorySessionStore(), SECRET)

    out = await engine.handle(Incoming(platform="web", user_id="w", chat_id="w", text="/link"))

    assert out[0].text == texts.NO_LINKING


async def test_asking_for_a_code_retires_this_chats_live_buttons(h: Harness) -> None:
    out = await h.say("telegram", "/start lunch")
    await h.engine.shown("telegram", "u1", question(out).question_id or "", "m-7")

    out = await h.say("telegram", "/link")

    retired = [m for m in out if m.kind is Kind.RETIRED]
    assert [(m.edit_of, m.text) for m in retired] == [("m-7", "What should we order?")]
    out = await h.say("telegram", "/start")
    assert question(out).text == "What should we order?", "coming back here, the question is asked again"


async def test_a_chat_that_began_the_survey_only_to_be_linked_leaves_no_response_behind(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    await h.say("telegram", "2")
    code = await h.code("telegram")
    await h.say("web", "/start lunch", user="w1")  # a web page starts its survey when it opens

    out = await h.say("web", code, user="w1")

    assert question(out).text == "How many of you?"
    (response,) = h.all_responses()
    assert response.values() == {"dish": "salad"}


async def test_a_chat_with_answers_of_its_own_keeps_them(h: Harness) -> None:
    await h.say("telegram", "/start lunch")
    code = await h.code("telegram")
    await h.say("web", "/start lunch", user="w1")
    await h.say("web", "1", user="w1")

    await h.say("web", code, user="w1")

    assert sorted(len(r.path) for r in h.all_responses()) == [0, 1]
