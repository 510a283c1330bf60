"""Respondents' languages in the engine: chosen from the platform or /language, kept with the response,
answered in, and the bot's own texts from the catalogs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.catalog import SurveyCache, publish
from bot.loader import load_text
from bot.messages import ConversationKey, Incoming, Kind, Outgoing
from bot.results import summarize
from tests.unit.engine_stores import EngineStores, question

LUNCH = """\
id: lunch
languages: [en, de, es]
title: {en: Team lunch, de: Mittagessen im Team, es: Almuerzo del equipo}
welcome: {en: "Hello {respondent.name}!", de: "Hallo {respondent.name}!", es: "¡Hola, {respondent.name}!"}
goodbye: {en: "Thanks!", de: "Danke!", es: "¡Gracias!"}
questions:
  - id: dish
    type: single_choice
    text: {en: "What should we order?", de: "Was sollen wir bestellen?", es: "¿Qué pedimos?"}
    choices:
      - {en: Pizza, de: Pizza, es: Pizza}
      - {id: salad, label: {en: Salad, de: Salat, es: Ensalada}}
  - id: vegan
    type: yes_no
    text: {en: "Vegan?", de: "Vegan?", es: "¿Vegano?"}
  - id: people
    type: number
    integer: true
    min: 1
    text: {en: "How many of you?", de: "Wie viele sind Sie?", es: "¿Cuántos son?"}
"""

PLAIN = """\
id: plain
title: Plain
questions:
  - id: ok
    type: yes_no
    text: All good?
"""


class Harness(EngineStores):
    async def say(self, text: str, user: str = "u1", language: str | None = None) -> list[Outgoing]:
        msg = Incoming(
            platform="test", user_id=user, user_name="Ada", chat_id=user, text=text, language=language
        )
        return await self.engine.handle(msg)

    async def press(self, value: str, user: str = "u1", language: str | None = None) -> list[Outgoing]:
        msg = Incoming(
            platform="test", user_id=user, user_name="Ada", chat_id=user, button=value, language=language
        )
        return await self.engine.handle(msg)


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    for text in (LUNCH, PLAIN):
        await publish(harness.surveys, load_text(text, "test.yaml"))
    return harness


async def test_a_german_respondent_is_asked_in_german_and_answers_in_german(h: Harness) -> None:
    out = await h.say("/start lunch", language="de-DE")

    assert out[0].text == "Hallo Ada!"
    asked = question(out)
    assert asked.text == "Was sollen wir bestellen?"
    assert [b.label for b in asked.choices] == ["Pizza", "Salat"]
    assert asked.hint == "Bitte antworten Sie mit der Nummer der gewünschten Antwort."
    out = await h.say("salat", language="de-DE")  # the German label, typed
    vegan = question(out)
    assert [b.label for b in vegan.choices] == ["Ja", "Nein"]
    out = await h.say("nein", language="de-DE")
    out = await h.say("viele", language="de-DE")
    assert (out[0].kind, out[0].text) == (
        Kind.ERROR,
        "Bitte antworten Sie mit einer ganzen Zahl von mindestens 1.",
    )
    out = await h.say("4", language="de-DE")
    assert [m.text for m in out] == ["Danke!"]
    response = await h.response("lunch")
    assert response.language == "de"
    assert response.values() == {"dish": "salad", "vegan": False, "people": 4}


async def test_the_same_survey_in_english_stores_the_same_values(h: Harness) -> None:
    await h.say("/start lunch", user="en", language="en-GB")
    await h.say("Salad", user="en", language="en-GB")
    await h.say("no", user="en", language="en-GB")
    await h.say("4", user="en", language="en-GB")

    english = await h.response("lunch", "en")
    assert english.language == "en"
    assert english.values() == {"dish": "salad", "vegan": False, "people": 4}


async def test_a_language_the_survey_lacks_falls_back_to_its_first(h: Harness) -> None:
    out = await h.say("/start lunch", language="fr-FR")

    assert out[0].text == "Hello Ada!"
    assert (await h.response("lunch")).language == "en"


async def test_the_language_stays_with_the_response_when_the_session_is_lost(h: Harness) -> None:
    await h.say("/start lunch", language="es")
    h.sessions._sessions.clear()  # Redis lost every session

    out = await h.say("2")  # and this message says no language at all

    assert question(out).text == "¿Vegano?"
    assert [b.label for b in question(out).choices] == ["Sí", "No"]


async def test_language_switches_the_survey_in_progress_and_asks_again(h: Harness) -> None:
    await h.say("/start lunch", language="en")

    out = await h.say("/language de", language="en")

    assert out[0].text == "Sprache: Deutsch."
    assert question(out).text == "Was sollen wir bestellen?"
    assert (await h.response("lunch")).language == "de"
    out = await h.say("2", language="en")  # the platform still says English: the response decides
    assert question(out).text == "Vegan?" and [b.label for b in question(out).choices] == ["Ja", "Nein"]


async def test_language_outside_a_survey_is_kept_for_the_next_one(h: Harness) -> None:
    out = await h.say("/language es", language="en")

    assert "Español" in out[0].text
    assert await h.sessions.preferred_language(ConversationKey("test", "u1")) == "es"
    out = await h.say("/start lunch", language="en")
    assert out[0].text == "¡Hola, Ada!"


async def test_an_unknown_language_lists_those_there_are(h: Harness) -> None:
    await h.say("/start lunch")

    out = await h.say("/language klingon")

    assert out[0].kind is Kind.ERROR
    assert "en (English)" in out[0].text and "de (Deutsch)" in out[0].text and "es (Español)" in out[0].text
    assert (await h.response("lunch")).language == "en"


async def test_a_survey_in_one_language_gets_the_bots_words_in_the_respondents(h: Harness) -> None:
    out = await h.say("/start plain", language="de")

    asked = question(out)
    assert asked.text == "All good?"  # as the author wrote it
    assert [b.label for b in asked.choices] == ["Ja", "Nein"]
    out = await h.say("ja", language="de")
    assert (await h.response("plain")).values() == {"ok": True}


async def test_results_count_the_languages(h: Harness) -> None:
    for user, language in (("a", "de"), ("b", "de"), ("c", "es"), ("d", None)):
        await h.say("/start lunch", user=user, language=language)

    summary = await summarize(SurveyCache(h.surveys, newest_ttl=0), h.responses, "lunch")

    assert summary.languages == {"de": 2, "es": 1, "en": 1}


async def test_a_button_of_another_language_still_answers(h: Harness) -> None:
    out = await h.say("/start lunch", language="de")
    salad = question(out).choices[1]

    await h.say("/language es")
    out = await h.press(salad.value)  # the German message's button, pressed after the switch

    assert question(out).text == "¿Vegano?"
    assert (await h.response("lunch")).values() == {"dish": "salad"}


def test_incoming_language_is_optional() -> None:
    msg = Incoming(platform="test", user_id="u", chat_id="u")
    assert msg.language is None and replace(msg, language="de").language == "de"
