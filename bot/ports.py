"""The ports the engine calls. Each has an in-memory implementation (:mod:`adapters.memory`) and a real
one (:mod:`adapters.mongo`, :mod:`adapters.redis_store`); one contract suite tests both.

Every method may raise :class:`bot.errors.StorageUnavailable` when its store cannot be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from bot.messages import ConversationKey
from bot.responses import Answer, Response, Session, Status, Turn
from bot.survey import Survey


class SurveyStore(Protocol):
    """Surveys by id and version. Stored versions never change."""

    async def add(self, survey: Survey) -> None:
        """Store ``survey`` under its ``version`` (which must be set).

        Raises :class:`bot.errors.VersionConflict` if that id and version are stored already.
        """

    async def get(self, survey_id: str, version: int | None = None) -> Survey:
        """The given version, or the newest. Raises :class:`bot.errors.SurveyNotFound`."""

    async def list_newest(self, include_archived: bool = False) -> list[Survey]:
        """The newest version of every survey, ordered by id."""

    async def set_archived(self, survey_id: str, archived: bool) -> None:
        """Stop (or resume) offering a survey to respondents; its data stays."""


class ResponseStore(Protocol):
    """Responses. Writes are conditional on the revision the caller read, so none is applied twice."""

    async def create(self, response: Response) -> Response:
        """Insert a new in-progress response.

        Raises :class:`bot.errors.DuplicateResponse` when the respondent already has one in progress
        for this survey: a unique index holds one open slot per survey and respondent.
        """

    async def get(self, response_id: str) -> Response:
        """Raises :class:`bot.errors.NotFound`."""

    async def find(self, survey_id: str, respondent_key: str) -> Response | None:
        """The respondent's response to a survey: the one in progress, else the newest completed."""

    async def find_in_progress(self, respondent_key: str) -> Response | None:
        """The respondent's most recently updated response in progress, of any survey."""

    async def record(
        self, response_id: str, revision: int, question_id: str, answer: Answer | None
    ) -> Response:
        """Append ``question_id`` to the path with ``answer`` (None: skipped, any old answer removed).

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision``.
        """

    async def rewind(
        self, response_id: str, revision: int, path: tuple[str, ...], clear_answers: bool = False
    ) -> Response:
        """Replace the path by a prefix of it (``back``), or by nothing with answers cleared (``restart``).

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision``.
        """

    async def complete(
        self, response_id: str, revision: int, answers: Mapping[str, Answer], completed_at: datetime
    ) -> Response:
        """Mark the response completed, keeping only ``answers``.

        Raises :class:`bot.errors.StaleResponse` unless in progress at ``revision``, and
        :class:`bot.errors.DuplicateResponse` when ``one_per_user`` and the respondent completed this
        survey before (the unique index decides).
        """

    async def count(self, survey_id: str) -> dict[Status, int]:
        """How many responses a survey has, by status."""

    async def list(
        self, survey_id: str, status: Status | None = None, since: datetime | None = None
    ) -> list[Response]:
        """Responses to a survey, oldest first."""


class SessionStore(Protocol):
    """Conversation state, update dedupe and the per-respondent lock: Redis in production."""

    async def begin(self, key: ConversationKey, update_id: str | None) -> Turn:
        """Take the respondent's lock (waiting for another process to finish) and read the session.

        When ``update_id`` was seen before, return a turn with ``duplicate=True`` and no lock held.
        Raises :class:`bot.errors.RespondentBusy` when the lock cannot be had in time.
        """

    async def commit(self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int) -> None:
        """Save the session (None deletes it) with a time-to-live in seconds, and release the lock."""

    async def abort(self, key: ConversationKey, turn: Turn, update_id: str | None) -> None:
        """Release the lock and forget ``update_id``, so that a redelivery is handled afresh."""
