"""Which message's buttons are live is the engine's to know (kept in the session), not an adapter's: it
retires them when the conversation moves on, whichever process handles the next message."""

from __future__ import annotations

import pytest

from bot.messages import Kind, Outgoing
from tests.unit.test_engine import EVERYTHING, ICE_CREAM, Harness, question

Q_MESSAGE = "m-flavour"


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.publish(ICE_CREAM)
    return harness


async def asked(h: Harness, out: list[Outgoing], message_id: str) -> Outgoing:
    """What an adapter does after posting the question of ``out`` as ``message_id``."""
    q = question(out)
    assert q.question_id is not None
    await h.engine.shown("test", "u1", q.question_id, message_id)
    return q


def retired(out: list[Outgoing]) -> list[tuple[str | None, str]]:
    return [(m.edit_of, m.text) for m in out if m.kind is Kind.RETIRED]


async def test_a_typed_answer_retires_the_buttons_of_the_question_it_answers(h: Harness) -> None:
    await asked(h, await h.say("/start ice-cream"), Q_MESSAGE)
    out = await h.say("2")
    assert retired(out) == [(Q_MESSAGE, "Which flavour of ice cream do you prefer?")]
    assert out[0].kind is Kind.RETIRED, "before the next question shows"


async def test_the_last_question_answered_by_typing_loses_its_buttons_too(h: Harness) -> None:
    await h.say("/start ice-cream")
    await asked(h, await h.say("2"), "m-yes-no")
    out = await h.say("no")
    assert retired(out) == [("m-yes-no", "Would you like to provide feedback on why you chose Chocolate?")]
    assert "Thank you for your time" in out[-1].text


async def test_a_press_edits_its_own_message_and_retires_nothing_else(h: Harness) -> None:
    q = await asked(h, await h.say("/start ice-cream"), Q_MESSAGE)
    out = await h.press(q.choices[1].value, message_id=Q_MESSAGE)
    assert retired(out) == []
    assert [m.edit_of for m in out if m.kind is Kind.ANSWERED] == [Q_MESSAGE]


async def test_a_reasked_question_retires_the_earlier_copy(h: Harness) -> None:
    await asked(h, await h.say("/start ice-cream"), Q_MESSAGE)
    out = await h.say("seven")
    assert out[0].kind is Kind.RETIRED and out[0].edit_of == Q_MESSAGE
    await asked(h, out, "m-again")
    out = await h.say("eight")
    assert retired(out)[0][0] == "m-again", "only the newest copy was live"


async def test_toggles_help_and_pause_keep_the_buttons_live() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    toppings = await asked(h, await h.say("30"), "m-toppings")
    out = await h.press(toppings.choices[0].value, message_id="m-toppings")
    assert [m.kind for m in out] == [Kind.SELECTION]
    assert retired(await h.say("/help")) == []
    out = await h.press(toppings.choices[1].value, message_id="m-toppings")
    assert retired(out) == []
    assert retired(await h.say("/stop")) == []
    out = await h.press(toppings.actions[0].value, message_id="m-toppings")  # Done, while paused
    assert [m.kind for m in out] == [Kind.NOTICE] and retired(out) == []
    out = await h.say("/start")  # resumes: the question again, and the earlier copy loses its buttons
    assert retired(out)[0][0] == "m-toppings"
    assert [b.selected for b in question(out).choices] == [True, True, False]


async def test_a_message_of_an_older_question_is_not_marked_live(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    await h.say("2")
    await asked(h, out, "m-late")  # reported after the conversation moved on: ignored
    assert retired(await h.say("yes")) == []
