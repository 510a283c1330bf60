"""One contract for the stores, run against the in-memory ones and the real ones (MongoDB-protocol server
and Redis), so that the fakes the unit tests use cannot drift from production."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio
from pymongo.database import Database

from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from adapters.stores.mongo import MongoResponseStore, MongoSurveyStore, connect_mongo, disconnect_mongo
from adapters.stores.redis_store import RedisSessionStore
from bot.errors import (
    DuplicateResponse,
    NotFound,
    RespondentBusy,
    StaleResponse,
    StorageUnavailable,
    SurveyNotFound,
    VersionConflict,
)
from bot.loader import load_text
from bot.messages import ConversationKey
from bot.ports import ResponseStore, SessionStore, SurveyStore
from bot.responses import (
    APPLIED_KEPT,
    Answer,
    AnswerValue,
    Respondent,
    Response,
    Session,
    Status,
    Ticks,
    Turn,
)
from bot.survey import Survey

SURVEY_YAML = """\
id: {id}
title: {title}
version: {version}
questions:
  - id: colour
    type: single_choice
    text: Which colour?
    choices: [Red, Green]
  - id: age
    type: number
    text: How old are you?
    required: false
"""

T0 = datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)
"""Stored at millisecond precision: read back as ``T0_MS``."""
T0_MS = T0.replace(microsecond=123_000)

MakeSessions = Callable[..., SessionStore]
Raw = dict[str, Any]


def survey(survey_id: str = "lunch", version: int = 1, title: str = "Lunch") -> Survey:
    return load_text(SURVEY_YAML.format(id=survey_id, title=title, version=version), f"{survey_id}.yaml")


def new_response(
    survey_id: str = "lunch",
    key: str = "k1",
    started_at: datetime = T0,
    one_per_user: bool = True,
    respondent: Respondent | None = None,
) -> Response:
    return Response(
        id="",
        survey_id=survey_id,
        version=1,
        respondent=respondent or Respondent("console", key, "u-" + key, "Ada"),
        started_at=started_at,
        updated_at=started_at,
        one_per_user=one_per_user,
    )


@dataclass
class Stores:
    surveys: SurveyStore
    responses: ResponseStore
    sessions: SessionStore
    make_sessions: MakeSessions
    """Another session store on the same data, with other settings (``wait_s``, ``lock_ttl_ms``)."""


@pytest.fixture(params=["memory", "real"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        memory = InMemorySessionStore()

        def make_memory(**options: Any) -> SessionStore:
            other = copy.copy(memory)  # shares the tables
            for name, value in options.items():
                setattr(other, name, value)
            return other

        yield Stores(InMemorySurveyStore(), InMemoryResponseStore(), memory, make_memory)
        return

    mongodb_test_uri: str = request.getfixturevalue("mongodb_test_uri")
    redis_url: str = request.getfixturevalue("redis_url")
    alias = f"contract-{uuid.uuid4().hex[:8]}"
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"
    connect_mongo(mongodb_test_uri, alias=alias, timeout_ms=5000)
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        surveys, responses = MongoSurveyStore(alias), MongoResponseStore(alias)
        await surveys.ensure_indexes()
        await responses.ensure_indexes()

        def make_redis(**options: Any) -> SessionStore:
            return RedisSessionStore(client, prefix=prefix, **options)

        yield Stores(surveys, responses, make_redis(), make_redis)
        async for stale in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(stale)
    finally:
        await client.aclose()
        disconnect_mongo(alias)


# --- surveys -------------------------------------------------------------------------------------


async def test_newest_version_and_a_given_one(stores: Stores) -> None:
    await stores.surveys.add(survey(version=1, title="Lunch"))
    await stores.surveys.add(survey(version=2, title="Lunch, again"))

    newest = await stores.surveys.get("lunch")
    first = await stores.surveys.get("lunch", 1)

    assert (newest.version, newest.title) == (2, "Lunch, again")
    assert (first.version, first.title) == (1, "Lunch")
    assert [q.id for q in first.questions] == ["colour", "age"]
    assert first.content_hash == survey().content_hash
    assert first.source == survey().source


async def test_a_stored_version_cannot_be_stored_again(stores: Stores) -> None:
    await stores.surveys.add(survey(version=1))
    with pytest.raises(VersionConflict):
        await stores.surveys.add(survey(version=1, title="Other"))
    assert (await stores.surveys.get("lunch")).title == "Lunch"


async def test_unknown_surveys_are_not_found(stores: Stores) -> None:
    await stores.surveys.add(survey(version=1))
    with pytest.raises(SurveyNotFound):
        await stores.surveys.get("dinner")
    with pytest.raises(SurveyNotFound):
        await stores.surveys.get("lunch", 2)
    with pytest.raises(SurveyNotFound):
        await stores.surveys.set_archived("dinner", True)


async def test_list_newest_orders_by_id_and_hides_archived(stores: Stores) -> None:
    await stores.surveys.add(survey("lunch", 1))
    await stores.surveys.add(survey("lunch", 2))
    await stores.surveys.add(survey("breakfast", 3))

    listed = await stores.surveys.list_newest()
    assert [(s.id, s.version) for s in listed] == [("breakfast", 3), ("lunch", 2)]

    await stores.surveys.set_archived("lunch", True)
    assert [s.id for s in await stores.surveys.list_newest()] == ["breakfast"]
    assert [s.id for s in await stores.surveys.list_newest(include_archived=True)] == ["breakfast", "lunch"]
    assert (await stores.surveys.get("lunch")).version == 2, "an archived survey's data stays"

    await stores.surveys.add(survey("lunch", 3))
    assert [s.id for s in await stores.surveys.list_newest()] == ["breakfast"], "a new version stays archived"

    await stores.surveys.set_archived("lunch", False)
    listed = await stores.surveys.list_newest()
    assert [(s.id, s.version) for s in listed] == [("breakfast", 3), ("lunch", 3)]


async def test_list_newest_of_nothing(stores: Stores) -> None:
    assert await stores.surveys.list_newest(include_archived=True) == []


# --- responses -----------------------------------------------------------------------------------


async def test_create_assigns_an_id_and_get_reads_it_back(stores: Stores) -> None:
    created = await stores.responses.create(new_response())

    assert created.id
    assert created.status is Status.IN_PROGRESS
    assert (created.started_at, created.updated_at) == (T0_MS, T0_MS)
    assert created.started_at.tzinfo == UTC
    assert await stores.responses.get(created.id) == created
    with pytest.raises(NotFound):
        await stores.responses.get("0123456789abcdef01234567")


async def test_an_anonymous_respondent_keeps_only_the_key(stores: Stores) -> None:
    anonymous = Respondent("telegram", "k1")
    created = await stores.responses.create(new_response(respondent=anonymous))
    assert (await stores.responses.get(created.id)).respondent == anonymous


async def test_one_response_in_progress_per_survey_and_respondent(stores: Stores) -> None:
    await stores.responses.create(new_response("lunch", "k1"))
    with pytest.raises(DuplicateResponse):
        await stores.responses.create(new_response("lunch", "k1"))
    await stores.responses.create(new_response("lunch", "k2"))
    await stores.responses.create(new_response("dinner", "k1"))
    assert (await stores.responses.count("lunch"))[Status.IN_PROGRESS] == 2


async def test_find_prefers_the_response_in_progress(stores: Stores) -> None:
    assert await stores.responses.find("lunch", "k1") is None

    first = await stores.responses.create(new_response(one_per_user=False))
    assert await stores.responses.find("lunch", "k1") == first
    done = await stores.responses.complete(first.id, 0, {}, T0 + timedelta(days=1))
    assert await stores.responses.find("lunch", "k1") == done

    # Started and updated before the other was completed, but in progress: that is the one.
    second = await stores.responses.create(
        new_response(started_at=T0 + timedelta(hours=1), one_per_user=False)
    )
    assert await stores.responses.find("lunch", "k1") == second
    assert await stores.responses.find("lunch", "k2") is None
    assert await stores.responses.find("dinner", "k1") is None


async def test_find_gives_the_newest_completed(stores: Stores) -> None:
    for hour in (1, 3, 2):
        started = T0 + timedelta(hours=hour)
        r = await stores.responses.create(new_response(started_at=started, one_per_user=False))
        await stores.responses.complete(r.id, 0, {}, started + timedelta(minutes=1))

    found = await stores.responses.find("lunch", "k1")
    assert found is not None
    assert found.completed_at == T0_MS + timedelta(hours=3, minutes=1)


async def test_find_in_progress_gives_the_most_recently_updated(stores: Stores) -> None:
    assert await stores.responses.find_in_progress("k1") is None
    lunch = await stores.responses.create(new_response("lunch"))
    dinner = await stores.responses.create(new_response("dinner", started_at=T0 + timedelta(minutes=1)))
    await stores.responses.create(new_response("brunch", key="k2", started_at=T0 + timedelta(hours=1)))
    assert await stores.responses.find_in_progress("k1") == dinner

    lunch = await stores.responses.record(lunch.id, 0, "colour", Answer("red", T0))
    assert await stores.responses.find_in_progress("k1") == lunch

    await stores.responses.complete(lunch.id, 1, {}, datetime.now(UTC))
    found = await stores.responses.find_in_progress("k1")
    assert found is not None
    assert found.id == dinner.id


@pytest.mark.parametrize(
    "value", ["red", "", 42, 0, -3, 2**40, 2.5, 3.0, True, False, ["red", "green"], [], None], ids=repr
)
async def test_answers_round_trip_exactly(stores: Stores, value: AnswerValue) -> None:
    r = await stores.responses.create(new_response())
    recorded = await stores.responses.record(r.id, 0, "colour", Answer(value, T0))

    for response in (recorded, await stores.responses.get(r.id)):
        answer = response.answers["colour"]
        assert answer.value == value
        assert type(answer.value) is type(value)
        assert answer.at == T0_MS
        assert response.path == ("colour",)
        assert response.revision == 1
        assert response.updated_at >= T0_MS


async def test_record_appends_to_the_path_and_a_skip_removes_the_answer(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    r = await stores.responses.record(r.id, 0, "colour", Answer("red", T0))
    r = await stores.responses.record(r.id, 1, "age", Answer(41, T0))
    assert r.path == ("colour", "age")
    assert r.values() == {"colour": "red", "age": 41}

    r = await stores.responses.rewind(r.id, 2, ("colour",))
    r = await stores.responses.record(r.id, 3, "age", None)

    assert r.path == ("colour", "age")
    assert "age" not in r.answers
    assert r.values() == {"colour": "red"}
    assert r.revision == 4
    assert await stores.responses.get(r.id) == r


async def test_rewind_back_keeps_answers_and_restart_clears_them(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    r = await stores.responses.record(r.id, 0, "colour", Answer("red", T0))
    r = await stores.responses.record(r.id, 1, "age", Answer(41, T0))

    back = await stores.responses.rewind(r.id, 2, ("colour",))
    assert back.path == ("colour",)
    assert set(back.answers) == {"colour", "age"}
    assert back.values() == {"colour": "red"}
    assert back.revision == 3

    restarted = await stores.responses.rewind(r.id, 3, (), clear_answers=True)
    assert restarted.path == ()
    assert restarted.answers == {}
    assert restarted.revision == 4
    assert await stores.responses.get(r.id) == restarted


async def test_completed_at_least_counts_completed_responses_only(stores: Stores) -> None:
    for index in range(3):
        r = await stores.responses.create(new_response(key=f"cap-{index}"))
        if index < 2:
            await stores.responses.complete(r.id, 0, {}, T0)
    assert await stores.responses.completed_at_least("lunch", 2)
    assert not await stores.responses.completed_at_least("lunch", 3)
    assert not await stores.responses.completed_at_least("dinner", 1)


async def test_the_last_answer_and_the_completion_are_one_write(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    r = await stores.responses.record(r.id, 0, "colour", Answer("red", T0), update_id="u1")
    r = await stores.responses.record(r.id, 1, "age", Answer(41, T0))
    r = await stores.responses.rewind(r.id, 2, ("colour",))  # "back": age is off the path now
    kept = {"colour": r.answers["colour"], "size": Answer("L", T0)}

    done = await stores.responses.complete(r.id, 3, kept, T0, last="size", update_id="u9")

    assert done.status is Status.COMPLETED and done.revision == 4
    assert done.path == ("colour", "size")
    assert done.answers == {"colour": Answer("red", T0_MS), "size": Answer("L", T0_MS)}
    assert done.applied == ("u1", "u9")
    assert await stores.responses.get(r.id) == done
    assert await stores.responses.find_by_update(r.respondent.key, "u9") == done
    with pytest.raises(StaleResponse):
        await stores.responses.complete(r.id, 4, kept, T0, last="size", update_id="u9")


async def test_complete_keeps_only_the_given_answers(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    r = await stores.responses.record(r.id, 0, "colour", Answer("red", T0))
    r = await stores.responses.record(r.id, 1, "age", Answer(41, T0))
    done_at = T0 + timedelta(minutes=3)

    done = await stores.responses.complete(r.id, 2, {"colour": r.answers["colour"]}, done_at)

    assert done.status is Status.COMPLETED
    assert done.answers == {"colour": Answer("red", T0_MS)}
    assert done.completed_at == done_at.replace(microsecond=123_000)
    assert done.updated_at == done.completed_at
    assert done.revision == 3
    assert done.path == ("colour", "age")
    assert await stores.responses.get(r.id) == done


async def test_one_completed_response_per_user(stores: Stores) -> None:
    first = await stores.responses.create(new_response())
    await stores.responses.complete(first.id, 0, {}, T0)
    again = await stores.responses.create(new_response())

    with pytest.raises(DuplicateResponse):
        await stores.responses.complete(again.id, 0, {}, T0 + timedelta(hours=1))

    unchanged = await stores.responses.get(again.id)
    assert (unchanged.status, unchanged.revision) == (Status.IN_PROGRESS, 0)
    assert await stores.responses.count("lunch") == {Status.IN_PROGRESS: 1, Status.COMPLETED: 1}


async def test_many_completed_responses_when_not_one_per_user(stores: Stores) -> None:
    for hour in range(3):
        r = await stores.responses.create(new_response(one_per_user=False))
        await stores.responses.complete(r.id, 0, {}, T0 + timedelta(hours=hour))
    assert await stores.responses.count("lunch") == {Status.IN_PROGRESS: 0, Status.COMPLETED: 3}


async def test_writes_on_an_old_revision_or_a_completed_response_are_stale(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    await stores.responses.record(r.id, 0, "colour", Answer("red", T0))

    with pytest.raises(StaleResponse):
        await stores.responses.record(r.id, 0, "colour", Answer("green", T0))
    with pytest.raises(StaleResponse):
        await stores.responses.rewind(r.id, 0, ())
    with pytest.raises(StaleResponse):
        await stores.responses.complete(r.id, 0, {}, T0)
    with pytest.raises(StaleResponse):
        await stores.responses.record("0123456789abcdef01234567", 0, "colour", None)

    await stores.responses.complete(r.id, 1, {}, T0)
    with pytest.raises(StaleResponse):
        await stores.responses.record(r.id, 2, "colour", Answer("green", T0))
    with pytest.raises(StaleResponse):
        await stores.responses.complete(r.id, 2, {}, T0)
    assert (await stores.responses.get(r.id)).values() == {}


async def test_a_write_remembers_its_update_and_refuses_it_again(stores: Stores) -> None:
    r = await stores.responses.create(dataclasses.replace(new_response(), applied=("start-1",)))
    assert r.applied == ("start-1",)
    r = await stores.responses.record(r.id, 0, "colour", Answer("red", T0), "u1")
    assert (r.revision, r.applied) == (1, ("start-1", "u1"))

    # The same update again, even at the current revision (a session that lost track), is refused.
    with pytest.raises(StaleResponse):
        await stores.responses.record(r.id, 1, "age", Answer(3, T0), "u1")
    with pytest.raises(StaleResponse):
        await stores.responses.mark(r.id, 1, None, True, "u1")
    with pytest.raises(StaleResponse):
        await stores.responses.rewind(r.id, 1, (), update_id="u1")
    assert (await stores.responses.get(r.id)).path == ("colour",)

    assert await stores.responses.find_by_update("k1", "u1") == r
    assert await stores.responses.find_by_update("k1", "u2") is None
    assert await stores.responses.find_by_update("k2", "u1") is None

    for n in range(APPLIED_KEPT + 3):
        r = await stores.responses.mark(r.id, r.revision, None, False, f"m{n}")
    assert r.applied == tuple(f"m{n}" for n in range(3, APPLIED_KEPT + 3)), "only the newest are kept"
    assert await stores.responses.get(r.id) == r


async def test_ticks_and_pause_are_saved_with_the_response(stores: Stores) -> None:
    r = await stores.responses.create(new_response())
    r = await stores.responses.mark(r.id, 0, Ticks("colour", (0, 1)), False)
    assert (r.ticks, r.paused, r.revision) == (Ticks("colour", (0, 1)), False, 1)
    r = await stores.responses.mark(r.id, 1, r.ticks, True)
    assert (r.ticks, r.paused) == (Ticks("colour", (0, 1)), True)
    assert await stores.responses.get(r.id) == r
    assert Session.of(r, "colour").selection == (0, 1)
    assert Session.of(r, "age").selection == (), "ticks belong to their question"

    r = await stores.responses.record(r.id, 2, "colour", Answer(["red", "green"], T0))
    assert (r.ticks, r.paused) == (None, False), "an answer clears them"
    r = await stores.responses.mark(r.id, 3, Ticks("age", (1,)), True)
    r = await stores.responses.rewind(r.id, 4, ())
    assert (r.ticks, r.paused) == (None, False)
    r = await stores.responses.mark(r.id, 5, Ticks("colour", (1,)), True)
    r = await stores.responses.complete(r.id, 6, {}, T0)
    assert (r.ticks, r.paused) == (None, False)


async def test_the_language_is_kept_with_the_response_and_changed_by_a_mark(stores: Stores) -> None:
    r = await stores.responses.create(dataclasses.replace(new_response(), language="de"))
    assert (await stores.responses.get(r.id)).language == "de"
    r = await stores.responses.mark(r.id, 0, None, False)
    assert r.language == "de", "a mark without a language keeps it"
    r = await stores.responses.mark(r.id, 1, None, False, language="es")
    assert r.language == "es" and await stores.responses.get(r.id) == r
    assert Session.of(r, "colour").language == "es"
    plain = await stores.responses.create(new_response(key="k2"))
    assert plain.language is None


async def test_a_chosen_language_is_remembered_per_respondent(stores: Stores) -> None:
    assert await stores.sessions.preferred_language(KEY) is None
    await stores.sessions.prefer_language(KEY, "de")
    await stores.sessions.prefer_language(KEY, "es")
    assert await stores.sessions.preferred_language(KEY) == "es"
    assert await stores.sessions.preferred_language(ConversationKey("slack", "42")) is None


async def test_only_an_empty_response_in_progress_can_be_discarded(stores: Stores) -> None:
    empty = await stores.responses.create(new_response())
    answered = await stores.responses.create(new_response(key="k2"))
    answered = await stores.responses.record(answered.id, 0, "colour", Answer("red", T0))
    backed = await stores.responses.create(new_response(key="k3"))
    backed = await stores.responses.record(backed.id, 0, "colour", Answer("red", T0))
    backed = await stores.responses.rewind(backed.id, 1, ())  # off the path, but given

    with pytest.raises(StaleResponse):
        await stores.responses.discard(empty.id, 5)
    for kept in (answered, backed):
        with pytest.raises(StaleResponse):
            await stores.responses.discard(kept.id, kept.revision)
    await stores.responses.discard(empty.id, empty.revision)

    assert await stores.responses.find_in_progress("k1") is None
    again = await stores.responses.create(new_response())  # its slot is free again
    assert again.id != empty.id


async def test_count_and_list_by_status_and_start(stores: Stores) -> None:
    assert await stores.responses.count("lunch") == {Status.IN_PROGRESS: 0, Status.COMPLETED: 0}
    ids = []
    for i, key in enumerate(["k3", "k1", "k2", "k4"]):
        r = await stores.responses.create(
            new_response(key=key, started_at=T0 + timedelta(hours=[3, 1, 2, 0][i]))
        )
        if key in ("k1", "k2"):
            await stores.responses.complete(r.id, 0, {}, T0 + timedelta(hours=5))
        ids.append(r.id)
    await stores.responses.create(new_response("dinner", "k1"))

    assert await stores.responses.count("lunch") == {Status.IN_PROGRESS: 2, Status.COMPLETED: 2}
    everything = await stores.responses.list("lunch")
    assert [r.respondent.key for r in everything] == ["k4", "k1", "k2", "k3"]
    completed = await stores.responses.list("lunch", status=Status.COMPLETED)
    assert [r.respondent.key for r in completed] == ["k1", "k2"]
    recent = await stores.responses.list("lunch", since=T0 + timedelta(hours=2))
    assert [r.respondent.key for r in recent] == ["k2", "k3"]
    open_recent = await stores.responses.list("lunch", Status.IN_PROGRESS, T0 + timedelta(hours=1))
    assert [r.respondent.key for r in open_recent] == ["k3"]
    assert await stores.responses.list("supper") == []


# --- sessions ------------------------------------------------------------------------------------

KEY = ConversationKey("telegram", "42")
SESSION = Session("lunch", 2, "0123456789abcdef01234567", 7, "colour", selection=(0, 2), paused=True)


async def test_a_session_is_kept_between_turns_and_can_be_dropped(stores: Stores) -> None:
    turn = await stores.sessions.begin(KEY, "u1")
    assert (turn.session, turn.duplicate) == (None, False)
    assert await stores.sessions.commit(KEY, turn, SESSION, 60, "u1")

    turn = await stores.sessions.begin(KEY, "u2")
    assert turn.session == SESSION
    plain = dataclasses.replace(SESSION, selection=(), paused=False, revision=8, language="de")
    await stores.sessions.commit(KEY, turn, plain, 60, "u2")

    turn = await stores.sessions.begin(KEY, None)
    assert turn.session == plain
    await stores.sessions.commit(KEY, turn, None, 60, None)

    turn = await stores.sessions.begin(KEY, None)
    assert turn.session is None
    other = await stores.sessions.begin(ConversationKey("slack", "42"), None)
    assert other.session is None


async def test_a_session_expires_after_its_ttl(stores: Stores) -> None:
    turn = await stores.sessions.begin(KEY, None)
    await stores.sessions.commit(KEY, turn, SESSION, 1, None)
    await asyncio.sleep(1.2)
    turn = await stores.sessions.begin(KEY, None)
    assert turn.session is None


async def test_an_update_is_handled_once(stores: Stores) -> None:
    turn = await stores.sessions.begin(KEY, "u1")
    await stores.sessions.commit(KEY, turn, SESSION, 60, "u1")

    again = await stores.sessions.begin(KEY, "u1")
    assert again.duplicate
    assert again.session == SESSION, "a duplicate sees the session, to show the step that followed"
    # No lock is held by a duplicate: the next update goes through at once.
    turn = await asyncio.wait_for(stores.sessions.begin(KEY, "u2"), 1)
    assert not turn.duplicate
    # Update ids are per platform.
    slack = await stores.sessions.begin(ConversationKey("slack", "42"), "u1")
    assert not slack.duplicate


async def test_abort_releases_the_lock_and_marks_nothing(stores: Stores) -> None:
    turn = await stores.sessions.begin(KEY, None)
    await stores.sessions.commit(KEY, turn, SESSION, 60, None)

    turn = await stores.sessions.begin(KEY, "u1")
    await stores.sessions.abort(KEY, turn)

    redelivered = await asyncio.wait_for(stores.sessions.begin(KEY, "u1"), 1)
    assert not redelivered.duplicate
    assert redelivered.session == SESSION, "abort leaves the session as it was"


async def test_an_update_whose_handler_died_is_handled_when_delivered_again(stores: Stores) -> None:
    short = stores.make_sessions(lock_ttl_ms=300)
    await short.begin(KEY, "u1")  # and the process dies: no commit, no abort

    started = time.monotonic()
    redelivered = await short.begin(KEY, "u1")
    assert not redelivered.duplicate, "begin marks nothing: only a short lock is left behind"
    assert time.monotonic() - started < 2
    await short.commit(KEY, redelivered, SESSION, 60, "u1")
    assert (await short.begin(KEY, "u1")).duplicate


async def test_a_commit_after_the_lock_expired_marks_the_update_and_keeps_the_newest_session(
    stores: Stores,
) -> None:
    short = stores.make_sessions(lock_ttl_ms=200)
    slow = await short.begin(KEY, "u1")
    await asyncio.sleep(0.3)
    # The lock expired and nobody else came: the late session is kept rather than dropped.
    assert not await short.commit(KEY, slow, SESSION, 60, "u1")
    again = await short.begin(KEY, "u1")
    assert again.duplicate and again.session == SESSION

    slow = await short.begin(KEY, "u2")
    await asyncio.sleep(0.3)
    fast = await short.begin(KEY, "u3")
    newer = dataclasses.replace(SESSION, revision=SESSION.revision + 2)
    await short.commit(KEY, fast, newer, 60, "u3")
    older = dataclasses.replace(SESSION, revision=SESSION.revision + 1)
    assert not await short.commit(KEY, slow, older, 60, "u2")
    again = await short.begin(KEY, "u2")
    assert again.duplicate and again.session == newer, "a late commit never overwrites a newer session"


async def test_a_second_turn_of_one_respondent_waits_for_the_first(stores: Stores) -> None:
    events: list[str] = []
    first = await stores.sessions.begin(KEY, "u1")

    async def second() -> Session | None:
        turn = await stores.sessions.begin(KEY, "u2")
        events.append("second began")
        await stores.sessions.commit(KEY, turn, None, 60, "u2")
        return turn.session

    task = asyncio.create_task(second())
    await asyncio.sleep(0.2)
    assert not task.done()
    events.append("first commits")
    await stores.sessions.commit(KEY, first, SESSION, 60, "u1")

    assert await asyncio.wait_for(task, 2) == SESSION, "the second turn sees what the first saved"
    assert events == ["first commits", "second began"]


async def test_other_respondents_do_not_wait(stores: Stores) -> None:
    await stores.sessions.begin(KEY, None)
    started = time.monotonic()
    other = await stores.sessions.begin(ConversationKey("telegram", "43"), None)
    assert time.monotonic() - started < 0.5
    assert other.session is None


async def test_a_respondent_busy_for_too_long(stores: Stores) -> None:
    impatient = stores.make_sessions(wait_s=0.3)
    await stores.sessions.begin(KEY, None)

    started = time.monotonic()
    with pytest.raises(RespondentBusy):
        await impatient.begin(KEY, None)
    assert 0.3 <= time.monotonic() - started < 2


async def test_a_dead_holders_lock_expires_and_its_late_commit_is_ignored(stores: Stores) -> None:
    short = stores.make_sessions(lock_ttl_ms=300)
    dead = await short.begin(KEY, None)

    started = time.monotonic()
    turn = await short.begin(KEY, None)
    assert 0.2 <= time.monotonic() - started < 2
    # Too late: the lock is someone else's now, and what it guards is theirs to save.
    assert not await short.commit(KEY, dead, None, 60, None)

    with pytest.raises(RespondentBusy):
        await stores.make_sessions(wait_s=0.05).begin(KEY, None)
    await short.abort(KEY, turn)
    assert (await short.begin(KEY, None)).session is None


# --- real adapters only --------------------------------------------------------------------------


@pytest.fixture
def mongo_alias(mongodb_test_uri: str) -> Iterator[str]:
    alias = f"real-{uuid.uuid4().hex[:8]}"
    connect_mongo(mongodb_test_uri, alias=alias)
    try:
        yield alias
    finally:
        disconnect_mongo(alias)


async def test_a_known_survey_version_is_served_from_memory(
    mongo_alias: str, mongo_db: Database[Raw]
) -> None:
    store = MongoSurveyStore(mongo_alias)
    await store.add(survey(version=1))
    assert (await MongoSurveyStore(mongo_alias).get("lunch", 1)).version == 1, "parsed from what was stored"

    mongo_db.drop_collection("surveys")

    assert (await store.get("lunch", 1)).title == "Lunch"
    with pytest.raises(SurveyNotFound):
        await store.get("lunch")


async def test_a_version_stored_by_another_process_is_read(mongo_alias: str) -> None:
    mine, theirs = MongoSurveyStore(mongo_alias), MongoSurveyStore(mongo_alias)
    await mine.add(survey("lunch", 1))
    await theirs.add(survey("lunch", 2, title="Lunch, again"))
    await theirs.add(survey("breakfast", 1, title="Breakfast"))

    newest = await mine.get("lunch")
    assert (newest.version, newest.title) == (2, "Lunch, again")
    assert (await mine.get("breakfast")).title == "Breakfast"
    fresh = MongoSurveyStore(mongo_alias)
    assert [(s.id, s.version, s.title) for s in await fresh.list_newest()] == [
        ("breakfast", 1, "Breakfast"),
        ("lunch", 2, "Lunch, again"),
    ]


async def test_the_stored_documents(mongo_alias: str, mongo_db: Database[Raw]) -> None:
    surveys, responses = MongoSurveyStore(mongo_alias), MongoResponseStore(mongo_alias)
    await surveys.ensure_indexes()
    await responses.ensure_indexes()
    await surveys.add(survey(version=1))
    once = await responses.create(new_response(key="k1"))
    many = await responses.create(new_response(key="k2", one_per_user=False))
    await responses.record(once.id, 0, "colour", Answer(["red"], T0))

    stored_survey = mongo_db["surveys"].find_one({"survey_id": "lunch"})
    assert stored_survey is not None
    assert stored_survey["version"] == 1
    assert stored_survey["source"] == survey().source
    assert stored_survey["archived"] is False
    raw = mongo_db["responses"].find_one({"_id": once.id})
    assert raw is not None
    assert raw["slot"] == "lunch|k1|open"
    assert raw["answers"] == {"colour": {"value": ["red"], "at": T0_MS.replace(tzinfo=None)}}
    assert raw["respondent"] == {"platform": "console", "key": "k1", "user_id": "u-k1", "name": "Ada"}

    await responses.complete(once.id, 1, {}, T0)
    await responses.complete(many.id, 0, {}, T0)
    assert mongo_db["responses"].find_one({"_id": once.id}, {"slot": 1}) == {
        "_id": once.id,
        "slot": "lunch|k1|done",
    }
    assert mongo_db["responses"].find_one({"_id": many.id}, {"slot": 1}) == {"_id": many.id}

    indexes = {tuple(spec["key"].items()): spec for spec in mongo_db["responses"].list_indexes()}
    assert indexes[("slot", 1),].get("unique") and indexes[("slot", 1),].get("sparse")
    assert (("respondent.key", 1), ("status", 1), ("updated_at", -1)) in indexes
    assert (("survey_id", 1), ("status", 1), ("started_at", 1)) in indexes
    survey_indexes = [tuple(spec["key"]) for spec in mongo_db["surveys"].list_indexes() if spec.get("unique")]
    assert survey_indexes == [("survey_id", "version")]


async def test_a_typical_session_is_small(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"
    try:
        store = RedisSessionStore(client, prefix=prefix)
        turn = await store.begin(KEY, "u1")
        await store.commit(KEY, turn, SESSION, 3600, "u1")
        size = await client.strlen(f"{prefix}:s:telegram:42")
        assert 0 < size <= 300
        assert 1 <= await client.pttl(f"{prefix}:s:telegram:42") <= 3_600_000
        assert not await client.exists(f"{prefix}:l:telegram:42"), "commit releases the lock"
        assert 0 < await client.ttl(f"{prefix}:u:telegram:u1") <= 2 * 86400
        await client.delete(f"{prefix}:s:telegram:42", f"{prefix}:u:telegram:u1")
    finally:
        await client.aclose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_redis_out_of_reach_is_storage_unavailable() -> None:
    store = RedisSessionStore.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await store.begin(KEY, "u1")
        with pytest.raises(StorageUnavailable):
            await store.commit(KEY, Turn(token="t"), SESSION, 60, "u1")
        await store.abort(KEY, Turn(token="t"))  # never raises: the release is retried in the background
        assert time.monotonic() - started < 5
    finally:
        await store.aclose()


async def test_mongodb_out_of_reach_is_storage_unavailable() -> None:
    alias = f"outage-{uuid.uuid4().hex[:8]}"
    connect_mongo(f"mongodb://127.0.0.1:{closed_port()}/surveybot", alias=alias, timeout_ms=300)
    try:
        surveys, responses = MongoSurveyStore(alias), MongoResponseStore(alias)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await surveys.get("lunch")
        with pytest.raises(StorageUnavailable):
            await surveys.add(survey())
        with pytest.raises(StorageUnavailable):
            await responses.create(new_response())
        with pytest.raises(StorageUnavailable):
            await responses.record("0123456789abcdef01234567", 0, "colour", None)
        with pytest.raises(StorageUnavailable):
            await responses.ensure_indexes()
        assert time.monotonic() - started < 10
    finally:
        disconnect_mongo(alias)


async def test_an_unknown_alias_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        await MongoResponseStore("never-connected").get("x")


async def test_the_memory_stores_can_fail_on_purpose() -> None:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    turn = await sessions.begin(KEY, None)
    surveys.fail = responses.fail = sessions.fail = True
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: surveys.add(survey()),
        lambda: surveys.get("lunch"),
        lambda: surveys.list_newest(),
        lambda: surveys.set_archived("lunch", True),
        lambda: responses.create(new_response()),
        lambda: responses.get("x"),
        lambda: responses.find("lunch", "k1"),
        lambda: responses.find_in_progress("k1"),
        lambda: responses.record("x", 0, "colour", None),
        lambda: responses.rewind("x", 0, ()),
        lambda: responses.complete("x", 0, {}, T0),
        lambda: responses.count("lunch"),
        lambda: responses.list("lunch"),
        lambda: sessions.begin(KEY, None),
        lambda: sessions.commit(KEY, turn, None, 60, None),
        lambda: responses.mark("x", 0, None, True),
        lambda: responses.find_by_update("k1", "u1"),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable):
            await call()


async def test_the_live_message_is_marked_only_while_its_question_waits(stores: Stores) -> None:
    await stores.sessions.mark_live(KEY, "colour", "m-0")  # no session: nothing is created
    assert (await stores.sessions.begin(KEY, None)).session is None

    turn = await stores.sessions.begin(ConversationKey("telegram", "43"), None)
    other = ConversationKey("telegram", "43")
    await stores.sessions.commit(other, turn, SESSION, 60, None)
    await stores.sessions.mark_live(other, "age", "m-1")  # not the question the session waits for
    assert (await stores.sessions.begin(other, None)).session == SESSION


async def test_a_live_message_is_kept_with_the_session_and_its_lifetime(stores: Stores) -> None:
    first = await stores.sessions.begin(KEY, None)
    await stores.sessions.commit(KEY, first, SESSION, 60, None)
    await stores.sessions.mark_live(KEY, "colour", "1712.000100")
    turn = await stores.sessions.begin(KEY, None)
    assert turn.session == dataclasses.replace(SESSION, live="1712.000100")
    await stores.sessions.commit(KEY, turn, turn.session, 1, None)
    await stores.sessions.mark_live(KEY, "colour", "1712.000200")
    await asyncio.sleep(1.2)
    assert (await stores.sessions.begin(KEY, None)).session is None, "marking keeps the time-to-live"


async def test_a_stored_version_todays_loader_refuses_is_left_out_not_fatal(
    mongo_alias: str, mongo_db: Database[Raw], caplog: pytest.LogCaptureFixture
) -> None:
    """A release that adds bounds (issue 10) meets surveys an older release stored: a 100,000-button
    rating no longer loads. Every message must not fail for it: it is logged and left out."""
    store = MongoSurveyStore(mongo_alias)
    await store.add(survey(version=1))
    broken = survey(version=2)
    source = broken.source + "  - id: stars\n    type: rating\n    text: Stars?\n    max: 100000\n"
    await store.add(dataclasses.replace(broken, source=source, content_hash="x"))
    fresh = MongoSurveyStore(mongo_alias)
    with caplog.at_level("ERROR", logger="surveybot.mongo"):
        with pytest.raises(SurveyNotFound):
            await fresh.get("lunch", 2)
        assert [s.version for s in await fresh.list_newest()] == [], "the newest version is left out"
    assert (await fresh.get("lunch", 1)).version == 1
    assert "stored survey lunch version 2 no longer loads" in caplog.text
    assert "a rating offers at most 21 values" in caplog.text
