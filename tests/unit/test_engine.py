"""The engine over in-memory ports: the whole flow of the format page, one behaviour per test."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count

import pytest

from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from bot import texts
from bot.catalog import SurveyCache, publish, publish_upload
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_text
from bot.messages import Incoming, Kind, Outgoing
from bot.responses import Response, Status, respondent_key
from bot.survey import QuestionType

SECRET = b"test-secret"

ICE_CREAM = """
id: ice-cream
title: Ice cream preferences
welcome: "Hello {respondent.name}! We are interested to know which flavour of ice cream you prefer."
goodbye: "Thank you for your time, {respondent.name}! Your response has been recorded."
questions:
  - id: flavour
    type: single_choice
    text: Which flavour of ice cream do you prefer?
    choices:
      - {id: vanilla, label: Vanilla}
      - {id: chocolate, label: Chocolate, reply: "Great choice! Chocolate is a classic favorite."}
      - {id: strawberry, label: Strawberry}
  - id: wants_feedback
    type: yes_no
    text: Would you like to provide feedback on why you chose {flavour}?
    next:
      - {if: "not wants_feedback", goto: end}
  - id: why
    type: text
    text: Why {flavour}?
    max_length: 500
"""

EVERYTHING = """
id: everything
title: Everything
settings:
  one_response_per_user: false
questions:
  - id: age
    type: number
    text: How old are you?
    integer: true
    min: -10
    max: 130
    error: "Please give your age in years, {respondent.name}."
  - id: toppings
    type: multi_choice
    text: Toppings?
    choices: [Nuts, Sprinkles, Sauce]
    min_choices: 2
  - id: score
    type: nps
    text: Would you recommend us?
    reply: "Thanks for the {score}."
  - id: why_low
    type: text
    text: What went wrong?
    required: false
    show_if: "score <= 6"
  - id: stars
    type: rating
    text: Stars?
  - id: when
    type: date
    text: When?
    required: false
  - id: mail
    type: email
    text: Mail?
"""


@dataclass
class Harness:
    surveys: InMemorySurveyStore = field(default_factory=InMemorySurveyStore)
    responses: InMemoryResponseStore = field(default_factory=InMemoryResponseStore)
    sessions: InMemorySessionStore = field(default_factory=InMemorySessionStore)
    updates: Iterator[int] = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        self.cache = SurveyCache(self.surveys, newest_ttl=0)
        self.engine = Engine(self.cache, self.responses, self.sessions, SECRET)

    async def publish(self, text: str) -> None:
        await publish(self.surveys, load_text(textwrap.dedent(text), "test.yaml"))

    async def say(
        self, text: str, user: str = "u1", update_id: str | None = None, question_id: str | None = None
    ) -> list[Outgoing]:
        return await self.engine.handle(
            self.incoming(user, text=text, update_id=update_id, question_id=question_id)
        )

    async def press(self, value: str, user: str = "u1", message_id: str = "m1") -> list[Outgoing]:
        return await self.engine.handle(self.incoming(user, button=value, message_id=message_id))

    def incoming(self, user: str, **what: str | None) -> Incoming:
        return Incoming(platform="test", user_id=user, user_name="John Doe", chat_id=user, **what)  # type: ignore[arg-type]

    async def response(self, survey_id: str, user: str = "u1") -> object:
        found = await self.responses.find(survey_id, respondent_key(SECRET, "test", user))
        assert found is not None
        return found


def texts_of(out: list[Outgoing]) -> list[str]:
    return [m.text for m in out]


def question(out: list[Outgoing]) -> Outgoing:
    asked = [m for m in out if m.kind is Kind.QUESTION]
    assert len(asked) == 1, texts_of(out)
    return asked[0]


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.publish(ICE_CREAM)
    return harness


async def test_seed_conversation(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    assert out[0].text == "Hello John Doe! We are interested to know which flavour of ice cream you prefer."
    q = question(out)
    assert q.text == "Which flavour of ice cream do you prefer?"
    assert q.hint == "Please reply with the number corresponding to your choice."
    assert [b.label for b in q.choices] == ["Vanilla", "Chocolate", "Strawberry"]

    out = await h.say("2")
    assert out[0].text == "Great choice! Chocolate is a classic favorite."
    assert question(out).text == "Would you like to provide feedback on why you chose Chocolate?"

    out = await h.say("No, thank you.")
    assert texts_of(out) == ["Thank you for your time, John Doe! Your response has been recorded."]
    response = await h.response("ice-cream")
    assert response.status is Status.COMPLETED  # type: ignore[attr-defined]
    assert response.values() == {"flavour": "chocolate", "wants_feedback": False}  # type: ignore[attr-defined]


async def test_choice_by_id_and_label_and_default_next(h: Harness) -> None:
    await h.say("start ice-cream")
    out = await h.say("  VANILLA ")
    assert question(out).question_id == "wants_feedback"
    out = await h.say("yes please")  # no rule holds: the question that follows in the file
    assert question(out).text == "Why Vanilla?"
    out = await h.say("Because it's classic.")
    assert "Thank you for your time" in out[-1].text
    response = await h.response("ice-cream")
    assert response.values()["why"] == "Because it's classic."  # type: ignore[attr-defined]


async def test_invalid_answer_is_reasked_and_nothing_saved(h: Harness) -> None:
    await h.say("/start ice-cream")
    out = await h.say("7")
    assert out[0].kind is Kind.ERROR
    assert question(out).question_id == "flavour"
    response = await h.response("ice-cream")
    assert response.path == ()  # type: ignore[attr-defined]


async def test_custom_error_text_with_placeholder() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    out = await h.say("very old")
    assert out[0].text == "Please give your age in years, John Doe."
    assert question(out).question_id == "age"


async def test_negative_numbers_multi_choice_show_if_and_replies() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    out = await h.say("-3")
    assert question(out).question_id == "toppings"
    out = await h.say("1")
    assert out[0].kind is Kind.ERROR  # min_choices: 2
    out = await h.say("sauce, 1")
    assert question(out).question_id == "score"
    out = await h.say("9")
    assert out[0].text == "Thanks for the 9."
    assert question(out).question_id == "stars"  # why_low passed over: show_if false
    response = await h.response("everything")
    assert response.values() == {"age": -3, "toppings": ["nuts", "sauce"], "score": 9}  # type: ignore[attr-defined]


async def test_finished_survey_is_refused_and_nothing_changes(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("1")
    await h.say("no")
    before = await h.response("ice-cream")
    out = await h.say("/start ice-cream")
    assert texts_of(out) == [texts.ALREADY_COMPLETED.format(title="Ice cream preferences")]
    assert await h.response("ice-cream") == before


async def test_several_responses_when_allowed() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    for answer in ["30", "1 2", "10", "4", "/skip", "a@Example.COM"]:
        await h.say(answer)
    out = await h.say("/start everything")
    assert question(out).question_id == "age"
    counts = await h.responses.count("everything")
    assert counts == {Status.COMPLETED: 1, Status.IN_PROGRESS: 1}


async def test_resume_in_progress_at_the_same_question(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("3")
    out = await h.say("/start ice-cream")
    assert out[0].text == texts.RESUMING.format(title="Ice cream preferences")
    assert question(out).question_id == "wants_feedback"


async def test_lost_session_is_rebuilt_from_the_stored_response(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("2")
    h.sessions = InMemorySessionStore()  # Redis restarted empty
    h.engine = Engine(h.cache, h.responses, h.sessions, SECRET)
    out = await h.say("yes")
    assert question(out).text == "Why Chocolate?"


async def test_back_reasks_and_drops_answers_left_off_the_path(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("2")
    await h.say("yes")
    out = await h.say("/back")
    assert question(out).question_id == "wants_feedback"
    out = await h.say("back")  # bare word: not a text question
    assert question(out).question_id == "flavour"
    out = await h.say("back")
    assert out[0].text == texts.AT_FIRST
    await h.say("1")
    out = await h.say("no")
    assert "Thank you" in out[-1].text
    response = await h.response("ice-cream")
    assert dict(response.answers).keys() == {"flavour", "wants_feedback"}  # type: ignore[attr-defined]
    assert response.values() == {"flavour": "vanilla", "wants_feedback": False}  # type: ignore[attr-defined]


async def test_bare_command_word_is_an_answer_to_a_text_question(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("1")
    await h.say("y")
    out = await h.say("back")
    assert "Thank you" in out[-1].text
    assert (await h.response("ice-cream")).values()["why"] == "back"  # type: ignore[attr-defined]


async def test_skip_only_optional_questions() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    out = await h.say("skip")
    assert out[0].text == texts.NOT_SKIPPABLE
    for answer in ["30", "1,2", "3"]:
        out = await h.say(answer)
    assert question(out).question_id == "why_low"
    assert [b.value for b in question(out).actions] == ["/back", "/skip"]
    out = await h.press("/skip", message_id="m7")
    assert out[0].kind is Kind.ANSWERED and out[0].text == "What went wrong?\n✓ (skipped)"
    assert question(out).question_id == "stars"
    response = await h.response("everything")
    assert response.path[-1] == "why_low" and "why_low" not in response.answers  # type: ignore[attr-defined]


async def test_restart_drops_answers(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("2")
    out = await h.say("/restart")
    assert out[0].text == texts.RESTARTING
    assert question(out).question_id == "flavour"
    assert (await h.response("ice-cream")).answers == {}  # type: ignore[attr-defined]


async def test_stop_pauses_and_start_resumes(h: Harness) -> None:
    await h.say("/start ice-cream")
    out = await h.say("stop")
    assert texts_of(out) == [texts.PAUSED]
    out = await h.say("2")
    assert texts_of(out) == [texts.STILL_PAUSED.format(title="Ice cream preferences")]
    out = await h.say("/start")
    assert question(out).question_id == "flavour"
    out = await h.say("2")
    assert question(out).question_id == "wants_feedback"


async def test_start_without_id_lists_several_or_starts_the_only_one(h: Harness) -> None:
    out = await h.say("/start")
    assert question(out).question_id == "flavour"
    other = Harness()
    await other.publish(ICE_CREAM)
    await other.publish(EVERYTHING)
    out = await other.say("/start")
    assert out[0].text.startswith(texts.PICK_SURVEY)
    assert [b.value for b in out[0].actions] == ["/start everything", "/start ice-cream"]
    out = await other.press("/start everything")
    assert question(out).question_id == "age"


async def test_unknown_survey_and_unknown_command_and_help(h: Harness) -> None:
    out = await h.say("/start nope")
    assert out[0].text.startswith(texts.UNKNOWN_SURVEY.format(survey_id="nope"))
    out = await h.say("/frobnicate")
    assert out[0].kind is Kind.ERROR and "/frobnicate" in out[0].text
    assert texts_of(await h.say("help")) == [texts.HELP]
    assert texts_of(await h.say("hello?")) == [texts.NOTHING_IN_PROGRESS]


async def test_button_press_edits_the_question_and_stale_press_changes_nothing(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    chocolate = question(out).choices[1].value
    out = await h.press(chocolate, message_id="q1")
    assert out[0].kind is Kind.ANSWERED and out[0].edit_of == "q1"
    assert out[0].text.endswith("✓ Chocolate")
    yes = question(out).choices[0].value
    before = await h.response("ice-cream")
    out = await h.press(chocolate, message_id="q1")
    assert texts_of(out) == [texts.ALREADY_ANSWERED] and out[0].kind is Kind.NOTICE
    assert await h.response("ice-cream") == before
    out = await h.press(yes, message_id="q2")
    assert question(out).text == "Why Chocolate?"


async def test_multi_choice_toggles_and_done() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    out = await h.say("42")
    q = question(out)
    assert q.multi and q.question_type is QuestionType.MULTI_CHOICE
    done = next(b.value for b in q.actions if b.label == "Done")
    out = await h.press(q.choices[2].value, message_id="m9")
    assert out[0].kind is Kind.SELECTION and out[0].edit_of == "m9"
    assert [b.selected for b in out[0].choices] == [False, False, True]
    out = await h.press(done, message_id="m9")
    assert out[0].kind is Kind.NOTICE  # at least two
    await h.press(q.choices[0].value, message_id="m9")
    await h.press(q.choices[1].value, message_id="m9")
    out = await h.press(q.choices[1].value, message_id="m9")  # untoggle
    assert [b.selected for b in out[0].choices] == [True, False, True]
    out = await h.press(done, message_id="m9")
    assert question(out).question_id == "score"
    assert (await h.response("everything")).values()["toppings"] == ["nuts", "sauce"]  # type: ignore[attr-defined]


async def test_rating_and_nps_buttons_carry_their_numbers() -> None:
    h = Harness()
    await h.publish(EVERYTHING)
    await h.say("/start everything")
    await h.say("42")
    out = await h.say("nuts sprinkles")
    nps = question(out)
    assert [b.label for b in nps.choices] == [str(n) for n in range(11)]
    out = await h.press(nps.choices[3].value)
    assert question(out).question_id == "why_low"
    assert (await h.response("everything")).values()["score"] == 3  # type: ignore[attr-defined]


async def test_same_update_delivered_twice_is_answered_once(h: Harness) -> None:
    await h.say("/start ice-cream")
    first = await h.say("2", update_id="77")
    assert first
    assert await h.say("2", update_id="77") == []
    assert (await h.response("ice-cream")).path == ("flavour",)  # type: ignore[attr-defined]


async def test_concurrent_messages_of_one_respondent_are_serialised(h: Harness) -> None:
    await h.say("/start ice-cream")
    first, second = await asyncio.gather(h.say("2", update_id="a"), h.say("1", update_id="b"))
    response = await h.response("ice-cream")
    assert response.path == ("flavour",)  # type: ignore[attr-defined]
    # The later one was taken as the answer to the next (yes/no) question and refused there.
    assert second[0].kind is Kind.ERROR or first[0].kind is Kind.ERROR


async def test_store_outage_says_try_again_and_saves_nothing(h: Harness) -> None:
    await h.say("/start ice-cream")
    h.responses.fail = True
    out = await h.say("2", update_id="9")
    assert texts_of(out) == [texts.UNAVAILABLE]
    h.responses.fail = False
    assert (await h.response("ice-cream")).path == ()  # type: ignore[attr-defined]
    out = await h.say("2", update_id="9")  # the redelivery is handled, not taken for a duplicate
    assert question(out).question_id == "wants_feedback"
    h.sessions.fail = True
    assert texts_of(await h.say("yes")) == [texts.UNAVAILABLE]


async def test_respondent_finishes_on_the_version_they_started(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.publish(ICE_CREAM.replace("Which flavour of ice cream", "What flavour"))
    assert (await h.surveys.get("ice-cream")).version == 2
    out = await h.say("/start ice-cream")
    assert question(out).text == "Which flavour of ice cream do you prefer?"
    await h.say("2")
    await h.say("no")
    assert (await h.response("ice-cream")).version == 1  # type: ignore[attr-defined]
    out = await h.say("/start ice-cream", user="u2")
    assert question(out).text == "What flavour do you prefer?"


async def test_anonymous_survey_stores_no_user_id_or_name() -> None:
    h = Harness()
    await h.publish(
        ICE_CREAM.replace("title: Ice cream preferences", "title: Anon\nsettings: {anonymous: true}")
    )
    await h.say("/start ice-cream")
    respondent = (await h.response("ice-cream")).respondent  # type: ignore[attr-defined]
    assert respondent.user_id is None and respondent.name is None
    assert respondent.key == respondent_key(SECRET, "test", "u1")


async def test_replies_of_every_picked_choice_and_none_after_skip() -> None:
    h = Harness()
    await h.publish(
        """
        id: replies
        title: Replies
        questions:
          - id: pets
            type: multi_choice
            text: Pets?
            choices:
              - {id: cat, label: Cat, reply: "Meow."}
              - {id: dog, label: Dog, reply: "Woof."}
              - {id: fish, label: Fish}
            reply: "Noted: {pets}."
          - id: note
            type: text
            text: Anything else?
            required: false
            reply: "Thanks for the note."
          - id: last
            type: yes_no
            text: Done?
        """
    )
    await h.say("/start replies")
    out = await h.say("fish, dog, cat")
    assert texts_of(out)[:3] == ["Meow.", "Woof.", "Noted: Cat, Dog, Fish."]
    out = await h.say("/skip")
    assert texts_of(out) == ["Done?"]


async def test_an_uploaded_file_is_published_and_offered_at_once() -> None:
    h = Harness()
    h.cache = SurveyCache(h.surveys, newest_ttl=3600)
    h.engine = Engine(h.cache, h.responses, h.sessions, SECRET)
    assert texts_of(await h.say("/surveys")) == [texts.NO_SURVEYS]
    published = await publish_upload(h.surveys, h.cache, ("\ufeff" + ICE_CREAM).encode(), "up.yaml")
    assert published.line() == "stored ice-cream version 1 (up.yaml)"
    assert question(await h.say("/start ice-cream")).question_id == "flavour"
    again = await publish_upload(h.surveys, h.cache, ICE_CREAM.encode(), "again.yaml")
    assert again.line() == "unchanged ice-cream version 1 (again.yaml)"
    with pytest.raises(DefinitionError, match=r"bad\.yaml:2: the file is not UTF-8 text"):
        await publish_upload(h.surveys, h.cache, b"id: x\ntitle: \xff\n", "bad.yaml")


async def test_an_archived_survey_is_not_begun_but_one_in_progress_can_be_finished(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.surveys.set_archived("ice-cream", True)
    h.cache.forget()
    out = await h.say("/start ice-cream", user="newcomer")
    assert out[0].text.startswith(texts.UNKNOWN_SURVEY.format(survey_id="ice-cream"))
    out = await h.say("/start ice-cream")
    assert out[0].text == texts.RESUMING.format(title="Ice cream preferences")
    await h.say("2")
    assert "Thank you for your time" in (await h.say("no"))[-1].text


async def test_an_outage_while_reading_the_survey_releases_the_lock(h: Harness) -> None:
    await h.say("/start ice-cream")
    h.cache = SurveyCache(h.surveys)  # a process that has not read the survey yet
    h.engine = Engine(h.cache, h.responses, h.sessions, SECRET)
    h.surveys.fail = True
    assert texts_of(await h.say("2")) == [texts.UNAVAILABLE]
    h.surveys.fail = False
    assert question(await h.say("2")).question_id == "wants_feedback"


async def test_a_tapped_yes_reads_as_its_button(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    out = await h.press(question(out).choices[1].value)
    out = await h.press(question(out).choices[0].value, message_id="m2")
    assert out[0].kind is Kind.ANSWERED
    assert out[0].text.endswith("\n✓ Yes")


async def test_an_answer_of_only_invisible_characters_is_no_answer(h: Harness) -> None:
    await h.say("/start ice-cream")
    await h.say("2")
    await h.say("yes")
    out = await h.say("\u200b\u200d\ufeff \u2060")
    assert out[0].kind is Kind.ERROR
    assert question(out).question_id == "why"
    out = await h.say("\u200bRich 👩\u200d🍳 taste\u200b")
    assert (await h.response("ice-cream")).values()["why"] == "Rich 👩\u200d🍳 taste"  # type: ignore[attr-defined]


async def test_something_other_than_text_changes_nothing(h: Harness) -> None:
    msg = Incoming(platform="test", user_id="u1", chat_id="u1", attachment=True)
    assert texts_of(await h.engine.handle(msg)) == [texts.TEXT_ONLY]
    await h.say("/start ice-cream")
    out = await h.engine.handle(msg)
    assert texts_of(out)[0] == texts.TEXT_ONLY
    assert question(out).question_id == "flavour"
    assert (await h.response("ice-cream")).path == ()  # type: ignore[attr-defined]


async def test_paused_means_paused_for_typing_and_buttons_alike(h: Harness) -> None:
    out = await h.say("/start ice-cream")
    chocolate = question(out).choices[1].value
    await h.say("/stop")
    paused = texts.STILL_PAUSED.format(title="Ice cream preferences")
    assert texts_of(await h.say("2")) == [paused]
    out = await h.press(chocolate)
    assert [(m.kind, m.text) for m in out] == [(Kind.NOTICE, paused)]
    assert texts_of(await h.say("/skip")) == [paused]
    assert (await h.response("ice-cream")).path == ()  # type: ignore[attr-defined]
    out = await h.say("/start")
    assert question(out).question_id == "flavour"
    out = await h.press(chocolate)
    assert question(out).question_id == "wants_feedback"


class CountingResponses(InMemoryResponseStore):
    """Counts the writes the engine makes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    async def record(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        self.writes.append("record")
        return await super().record(*args, **kwargs)  # type: ignore[arg-type]

    async def complete(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        self.writes.append("complete")
        return await super().complete(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answers", "writes"),
    [
        (["2", "no"], ["record", "complete"]),  # `next: end` after the yes/no
        (["2", "yes", "Creamy."], ["record", "record", "complete"]),  # the last question of the file
    ],
)
async def test_the_last_answer_is_one_write_with_the_completion(
    answers: list[str], writes: list[str]
) -> None:
    h = Harness(responses=CountingResponses())
    await h.publish(ICE_CREAM)
    await h.say("/start ice-cream")
    out: list[Outgoing] = []
    for answer in answers:
        out = await h.say(answer)
    assert out[-1].text == "Thank you for your time, John Doe! Your response has been recorded."
    assert isinstance(h.responses, CountingResponses) and h.responses.writes == writes
    stored = await h.response("ice-cream")
    assert isinstance(stored, Response) and stored.status is Status.COMPLETED
    assert list(stored.path) == ["flavour", "wants_feedback", "why"][: len(answers)]
