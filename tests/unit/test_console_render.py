"""Rendering of the engine's messages on a terminal."""

from __future__ import annotations

import io

from adapters.console import ConsoleChat, render, terminal_language
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.loader import load_text
from bot.messages import Button, Kind, Outgoing, Role
from bot.survey import QuestionType


def question(qtype: QuestionType, labels: list[str], actions: tuple[Button, ...] = ()) -> Outgoing:
    return Outgoing(
        chat_id="c",
        text="Q?",
        kind=Kind.QUESTION,
        choices=tuple(Button(label, f"a:t:q:{i}") for i, label in enumerate(labels)),
        actions=actions,
        question_type=qtype,
        hint="Hint.",
    )


def test_choices_are_a_numbered_list_with_the_hint_and_commands() -> None:
    out = question(
        QuestionType.SINGLE_CHOICE,
        ["Red", "Blue"],
        (Button("Back", "/back", role=Role.BACK), Button("Skip", "/skip", role=Role.SKIP)),
    )
    assert render(out) == "Q?\n  1. Red\n  2. Blue\nHint.\n(also: /back /skip)"


def test_rating_labels_are_shown_but_plain_scales_and_yes_no_are_not() -> None:
    assert (
        render(question(QuestionType.RATING, ["1 Bad", "2", "3 Good"])) == "Q?\n  1 Bad\n  2\n  3 Good\nHint."
    )
    assert render(question(QuestionType.NPS, [str(n) for n in range(11)])) == "Q?\nHint."
    assert render(question(QuestionType.YES_NO, ["Yes", "No"])) == "Q?\nHint."


def test_edits_are_not_printed_and_done_buttons_are_not_commands() -> None:
    assert render(Outgoing(chat_id="c", text="Q?\n✓ Red", kind=Kind.ANSWERED, edit_of="1")) is None
    multi = question(QuestionType.MULTI_CHOICE, ["A", "B"], (Button("Done", "d:t:q", role=Role.SUBMIT),))
    assert render(multi) == "Q?\n  1. A\n  2. B\nHint."


async def test_the_end_of_input_note_is_in_the_respondents_language() -> None:
    surveys = InMemorySurveyStore()
    await publish(surveys, load_text("id: s\ntitle: S\nquestions:\n  - {id: a, type: text, text: A}\n"))
    engine = Engine(SurveyCache(surveys), InMemoryResponseStore(), InMemorySessionStore(), b"secret")
    out = io.StringIO()

    await ConsoleChat(engine, "u", "Ada", out, language="de_DE").run("/start s", lines=[])

    assert (
        out.getvalue()
        .rstrip()
        .endswith(
            "(Ende der Eingabe: Ihre Antworten sind gespeichert. "
            "Führen Sie denselben Befehl erneut aus, um fortzufahren.)"
        )
    )


def test_the_terminal_says_its_language() -> None:
    assert terminal_language({"LANG": "de_DE.UTF-8"}) == "de_DE"
    assert terminal_language({"LANGUAGE": "es:en", "LANG": "de_DE.UTF-8"}) == "es"
    assert terminal_language({"LANG": "C.UTF-8"}) is None and terminal_language({}) is None
