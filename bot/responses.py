"""Responses and conversation sessions: the values the stores keep."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

AnswerValue: TypeAlias = str | int | float | bool | list[str] | None


class Status(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Answer:
    value: AnswerValue
    at: datetime


@dataclass(frozen=True)
class Respondent:
    """Who answers. ``key`` is a keyed hash of platform and user id: stable, but not the id itself.

    For an anonymous survey ``user_id`` and ``name`` are None and only ``key`` is stored, so the bot can
    still resume and refuse a finished survey without keeping who it was.
    """

    platform: str
    key: str
    user_id: str | None = None
    name: str | None = None


def respondent_key(secret: bytes, platform: str, user_id: str) -> str:
    """The pseudonymous key of a respondent: HMAC-SHA256 of ``platform:user_id``, hex, 32 characters."""
    return hmac.new(secret, f"{platform}:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


APPLIED_KEPT = 20
"""How many recent update ids a response remembers: far more than a platform redelivers at once."""


@dataclass(frozen=True)
class Ticks:
    """The choices (indexes) ticked on multi-choice ``question_id``, saved with the response."""

    question_id: str
    choices: tuple[int, ...] = ()


@dataclass(frozen=True)
class Response:
    """One respondent's answers to one version of a survey.

    ``path`` lists the questions answered or skipped, in order; the current question follows from it
    (see :func:`bot.flow.current_question`). ``revision`` grows with every write, so that a write based
    on an outdated view is refused instead of applied twice.
    """

    id: str
    survey_id: str
    version: int
    respondent: Respondent
    started_at: datetime
    updated_at: datetime
    status: Status = Status.IN_PROGRESS
    answers: Mapping[str, Answer] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    completed_at: datetime | None = None
    one_per_user: bool = True
    """Copied from the survey's settings: a completed response then holds the respondent's only slot."""
    revision: int = 0
    applied: tuple[str, ...] = ()
    """The platform update ids of the most recent writes (at most :data:`APPLIED_KEPT`, oldest first): a
    redelivered update that already changed the response is recognised from MongoDB alone."""
    ticks: Ticks | None = None
    """The choices ticked so far on the multi-choice question being asked, not yet submitted."""
    paused: bool = False
    """The respondent said ``stop``: typed text is not taken as an answer until ``start``."""
    campaign: str | None = None
    """The campaign whose shareable link began the response, if one did."""
    language: str | None = None
    """The language the respondent is asked in (one of the survey's, or of the bot's own texts when the
    survey declares none): kept with the response so that every worker and session goes on in it."""
    outbox: tuple[str, ...] = ()
    """Events (:data:`bot.survey.EVENTS`) raised by the writes that made the response what it is, for the
    survey's webhooks, and not yet handed over to them: written in the same operation as the change
    that raised them, so none is lost between the two."""

    def answers_on_path(self) -> dict[str, Answer]:
        """The answers of the questions on the path, in path order: what a completed response keeps
        (answers that ``back`` left off the path are not part of it)."""
        return {qid: self.answers[qid] for qid in self.path if qid in self.answers}

    def values(self) -> dict[str, AnswerValue]:
        """The values of the answers on the path: what expressions and placeholders see."""
        return {qid: answer.value for qid, answer in self.answers_on_path().items()}


@dataclass(frozen=True)
class Session:
    """What Redis keeps between two messages of a respondent: a cache of where the response stands.

    It is stamped with the response's ``revision``; every write is conditional on that revision, so a
    stale session is found out by the write (or by a button of another question) and rebuilt from the
    response in MongoDB, which decides. Losing it loses nothing: ``selection`` and ``paused`` are saved
    with the response too.
    """

    survey_id: str
    version: int
    response_id: str
    revision: int
    question_id: str
    selection: tuple[int, ...] = ()
    paused: bool = False
    live: str | None = None
    """The platform message whose buttons are live: ``question_id`` as last posted (a session that moves
    to another question drops it). The engine retires those buttons when the conversation moves on,
    whichever process the next message reaches."""
    language: str | None = None
    """The response's :attr:`Response.language`, so that a message needs no read to know it."""
    linked: bool = False
    """The response is another chat's, reached by a link (``/link``): each message then checks that the
    link still holds, since it may have been undone from the other chat."""

    @classmethod
    def of(cls, response: Response, question_id: str, linked: bool = False) -> Session:
        """The session of ``response``, waiting for ``question_id`` (``linked``: in another chat than
        the one whose response it is)."""
        ticks = response.ticks
        selection = ticks.choices if ticks is not None and ticks.question_id == question_id else ()
        return cls(
            survey_id=response.survey_id,
            version=response.version,
            response_id=response.id,
            revision=response.revision,
            question_id=question_id,
            selection=selection,
            paused=response.paused,
            language=response.language,
            linked=linked,
        )


@dataclass(frozen=True)
class Turn:
    """The right to handle one incoming message: the respondent's lock and the session it guards."""

    token: str
    session: Session | None = None
    duplicate: bool = False
    """The same platform update was handled before; no lock is held, and ``session`` is as stored."""


def stored_time(moment: datetime) -> datetime:
    """``moment`` as the stores keep it: UTC (naive means UTC), whole milliseconds, as MongoDB does."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def response_slot(response: Response) -> str | None:
    """The unique slot a response holds: one open per survey and respondent, and one completed when the
    survey allows one response per user. Stores enforce it with a unique index."""
    base = f"{response.survey_id}|{response.respondent.key}"
    if response.status is Status.IN_PROGRESS:
        return f"{base}|open"
    return f"{base}|done" if response.one_per_user else None
