"""The response in MongoDB decides: the engine over in-memory ports when the session cache is outdated or
lost, when an update comes again, and when a write outlives the message's deadline."""

from __future__ import annotations

import asyncio

import pytest

from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore
from bot import texts
from bot.engine import Engine
from bot.errors import StorageUnavailable
from bot.messages import ConversationKey, Kind
from bot.responses import Answer, Response, Session, Status, Turn
from tests.unit.test_engine import EVERYTHING, ICE_CREAM, Harness, question, texts_of

KEY = ConversationKey("test", "u1")


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.publish(ICE_CREAM)
    return harness


async def stored(h: Harness, survey_id: str = "ice-cream") -> Response:
    response = await h.response(survey_id)
    assert isinstance(response, Response)
    return response


def put_session(h: Harness, session: Session | None) -> None:
    """What Redis holds for the respondent, whatever the engine last saved (an old copy, or nothing)."""
    if session is None:
        h.sessions._sessions.pop(KEY, None)
    else:
        h.sessions._sessions[KEY] = (session, float("inf"))


def session_of(h: Harness) -> Session:
    return h.sessions._sessions[KEY][0]


def forget_everything(h: Harness) -> None:
    """Redis lost all it had (FLUSHALL, a restart without persistence)."""
    h.sessions._sessions.clear()
    h.sessions._seen.clear()
    h.sessions._locks.clear()


async def test_a_press_on_the_next_question_is_taken_when_the_session_is_behind(h: Harness) -> None:
    await h.say("/start ice-cream")
    before = session_of(h)
    out = await h.say("2")
    yes = question(out).choices[0].value
    put_session(h, before)  # the answer reached MongoDB, the session was not saved

    out = await h.press(yes)

    assert texts.ALREADY_ANSWERED not in texts_of(out)
    assert question(out).question_id == "why"
    assert (await stored(h)).path == ("flavour", "wants_feedback")
    assert session_of(h).question_id == "why", "the rebuilt session is saved"


async def test_a_press_of_an_answered_question_is_refused_after_looking_at_the_response(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    chocolate = question(out).choices[1].value
    await h.press(chocolate)

    out = await h.press(chocolate, message_id="m1")

    assert texts_of(out) == [texts.ALREADY_ANSWERED]
    assert (await stored(h)).path == ("flavour",)


async def test_typed_text_meant_for_an_answered_question_is_not_taken_for_the_next(h: Harness) -> None:
    await h.say("/start ice-cream")
    before = session_of(h)
    await h.say("2")
    put_session(h, before)  # the respondent never saw the yes/no question, and types again

    out = await h.say("yes")

    assert out[0].text == texts.ALREADY_ANSWERED
    assert question(out).question_id == "wants_feedback"
    assert (await stored(h)).path == ("flavour",)
    out = await h.say("yes")
    assert question(out).question_id == "why"


async def test_a_double_send_bound_to_its_question_is_stored_once(h: Harness) -> None:
    await h.say("/start ice-cream")
    first = await h.say("2", update_id="a", question_id="flavour")
    again = await h.say("2", update_id="b", question_id="flavour")

    assert question(first).question_id == "wants_feedback"
    assert again[0].text == texts.ALREADY_ANSWERED
    assert question(again).question_id == "wants_feedback"
    assert (await stored(h)).path == ("flavour",)


async def test_a_resend_after_redis_lost_everything_is_recognised_from_the_response(h: Harness) -> None:
    await h.say("/start ice-cream")
    first = await h.say("2", update_id="u7")
    forget_everything(h)

    again = await h.say("2", update_id="u7")

    assert texts_of(again) == [question(first).text]
    assert (await stored(h)).path == ("flavour",)
    out = await h.say("no", update_id="u8")
    assert "Thank you for your time" in out[-1].text
    forget_everything(h)

    again = await h.say("no", update_id="u8")
    assert texts_of(again) == [out[-1].text], "the goodbye again, and nothing written"
    response = await stored(h)
    assert (response.status, response.path) == (Status.COMPLETED, ("flavour", "wants_feedback"))


async def test_a_start_whose_reply_was_lost_shows_the_first_question_again(h: Harness) -> None:
    first = await h.say("/start ice-cream", update_id="s1")
    forget_everything(h)
    again = await h.say("/start ice-cream", update_id="s1")
    assert question(again).text == question(first).text
    assert RESUMING_PREFIX not in again[0].text


RESUMING_PREFIX = "Welcome back"


async def test_ticks_and_pause_survive_a_lost_session() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    out = await h.say("30")
    toppings = question(out)
    await h.press(toppings.choices[0].value)
    await h.press(toppings.choices[2].value)
    forget_everything(h)
    await h.say("/stop")
    forget_everything(h)

    assert texts_of(await h.say("1")) == [texts.STILL_PAUSED.format(title="Everything")]
    out = await h.say("/start")
    assert [b.selected for b in question(out).choices] == [True, False, True]
    forget_everything(h)
    out = await h.press(toppings.actions[0].value)  # Done

    assert question(out).question_id == "score"
    assert (await stored(h, "everything")).values()["toppings"] == ["nuts", "sauce"]


class _StallingResponses(InMemoryResponseStore):
    """Records wait for ``gate`` and then land even when their caller gave up, as a write sent to a
    stalled database does."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.writes: list[asyncio.Task[Response]] = []

    async def record(
        self,
        response_id: str,
        revision: int,
        question_id: str,
        answer: Answer | None,
        update_id: str | None = None,
    ) -> Response:
        async def later() -> Response:
            await self.gate.wait()
            return await InMemoryResponseStore.record(
                self, response_id, revision, question_id, answer, update_id
            )

        self.writes.append(asyncio.ensure_future(later()))
        return await asyncio.shield(self.writes[-1])


async def stalled() -> tuple[Harness, _StallingResponses]:
    """A respondent at the first question, with a database whose writes stall and a 0.2 s deadline."""
    stalling = _StallingResponses()
    h = Harness(responses=stalling)
    h.engine = Engine(h.cache, stalling, h.sessions, b"test-secret", deadline=0.2)
    await h.publish(ICE_CREAM)
    await h.say("/start ice-cream")
    return h, stalling


async def test_a_write_that_outlives_the_deadline_is_reported_honestly_and_checked_on_resend() -> None:
    h, stalling = await stalled()
    out = await h.say("2", update_id="u1")
    assert texts_of(out) == [texts.UNCONFIRMED], "it may still land: not 'it was not saved'"
    stalling.gate.set()
    await stalling.writes[0]  # the stalled write landed after all

    again = await h.say("2", update_id="u1")
    assert question(again).question_id == "wants_feedback"
    assert (await stored(h)).path == ("flavour",)


async def test_a_write_that_did_not_land_is_made_on_resend() -> None:
    h, stalling = await stalled()

    assert texts_of(await h.say("2", update_id="u1")) == [texts.UNCONFIRMED]
    stalling.writes[0].cancel()  # it never reached the database
    stalling.gate.set()

    again = await h.say("2", update_id="u1")
    assert question(again).question_id == "wants_feedback"
    assert (await stored(h)).path == ("flavour",)


class _ForgetfulCommits(InMemorySessionStore):
    """Commits fail: the answers land in the response, the session is never saved."""

    async def commit(
        self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int, update_id: str | None
    ) -> bool:
        self._release(key, turn)
        raise StorageUnavailable("commit lost")


async def test_answers_go_on_when_no_session_is_ever_saved() -> None:
    h = Harness(sessions=_ForgetfulCommits())
    await h.publish(ICE_CREAM)
    out = await h.say("/start ice-cream")
    out = await h.press(question(out).choices[1].value)
    out = await h.press(question(out).choices[0].value)
    assert question(out).question_id == "why"
    out = await h.say("It is rich.")
    assert "Thank you for your time" in out[-1].text
    response = await stored(h)
    assert response.status is Status.COMPLETED
    assert response.values() == {"flavour": "chocolate", "wants_feedback": True, "why": "It is rich."}


async def test_a_store_outage_before_any_write_says_try_again(h: Harness) -> None:
    await h.say("/start ice-cream")
    h.responses.fail = True
    out = await h.say("2")
    assert [m.kind for m in out] == [Kind.ERROR]
    assert texts_of(out) == [texts.UNAVAILABLE]
