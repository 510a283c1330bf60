"""The ports the engine calls. Each has an in-memory implementation (:mod:`adapters.stores.memory`) and a real
one (:mod:`adapters.stores.mongo`, :mod:`adapters.stores.redis_store`); one contract suite tests both.

Every method may raise :class:`bot.errors.StorageUnavailable` when its store cannot be reached.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol

from bot.links import GuessPolicy, Redemption
from bot.messages import ConversationKey
from bot.responses import Answer, Response, Session, Status, Ticks, Turn
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
    """Responses. Writes are conditional on the revision the caller read, so none is applied twice.

    A write given an ``update_id`` records it in :attr:`Response.applied` in the same operation, and is
    refused (:class:`bot.errors.StaleResponse`) when that update was applied already: a redelivery is
    recognised from the response itself, whatever Redis remembers.
    """

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

    async def find_by_update(self, respondent_key: str, update_id: str) -> Response | None:
        """The respondent's response whose recent writes include ``update_id``, if any."""

    async def record(
        self,
        response_id: str,
        revision: int,
        question_id: str,
        answer: Answer | None,
        update_id: str | None = None,
    ) -> Response:
        """Append ``question_id`` to the path with ``answer`` (None: skipped, any old answer removed);
        the ticks are cleared and the response is no longer paused.

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision``.
        """

    async def rewind(
        self,
        response_id: str,
        revision: int,
        path: tuple[str, ...],
        clear_answers: bool = False,
        update_id: str | None = None,
    ) -> Response:
        """Replace the path by a prefix of it (``back``), or by nothing with answers cleared (``restart``);
        the ticks are cleared and the response is no longer paused.

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision``.
        """

    async def mark(
        self,
        response_id: str,
        revision: int,
        ticks: Ticks | None,
        paused: bool,
        update_id: str | None = None,
        language: str | None = None,
    ) -> Response:
        """Save the conversation's own state: the choices ticked so far, whether it is paused, and (when
        given) the language it goes on in.

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision``.
        """

    async def discard(self, response_id: str, revision: int) -> None:
        """Delete a response that holds no answer: one a chat began only to be linked to another
        (``/link``), whose response goes on instead.

        Raises :class:`bot.errors.StaleResponse` unless the response is in progress at ``revision`` with
        nothing on its path.
        """

    async def complete(
        self,
        response_id: str,
        revision: int,
        answers: Mapping[str, Answer],
        completed_at: datetime,
        last: str | None = None,
        update_id: str | None = None,
        events: tuple[str, ...] = (),
    ) -> Response:
        """Mark the response completed, keeping only ``answers``. With ``last``, that question joins the
        path in the same write (the answer that finishes the survey is in ``answers``, or it was
        skipped), and ``update_id`` is applied like :meth:`record`'s: one write for the last answer.
        ``events`` join the response's :attr:`~Response.outbox` in that same write.

        Raises :class:`bot.errors.StaleResponse` unless in progress at ``revision``, and
        :class:`bot.errors.DuplicateResponse` when ``one_per_user`` and the respondent completed this
        survey before (the unique index decides).
        """

    async def count(self, survey_id: str) -> dict[Status, int]:
        """How many responses a survey has, by status."""

    async def completed_at_least(self, survey_id: str, n: int) -> bool:
        """Whether ``n`` responses of the survey are completed; costs at most ``n`` index entries, not
        the size of the survey (asked when someone new starts a survey with ``max_responses``)."""

    async def list(
        self, survey_id: str, status: Status | None = None, since: datetime | None = None
    ) -> list[Response]:
        """Responses to a survey, oldest first."""

    async def count_campaign(self, campaign_id: str) -> dict[Status, int]:
        """How many responses a campaign's shareable link began, by status."""

    async def with_events(self, limit: int) -> builtins.list[Response]:
        """Up to ``limit`` responses whose :attr:`~Response.outbox` holds events (served by an index)."""

    async def clear_events(self, response_id: str, events: tuple[str, ...]) -> None:
        """Take ``events`` out of the response's outbox, once they were handed over. Changes nothing else:
        not the revision, so that no conversation's write is refused for it."""


class OptOutStore(Protocol):
    """Who said ``/optout``: never invited or reminded again until they say ``/optin``. Keyed by
    respondent key (see :func:`bot.responses.respondent_key`), so no platform id is stored for it."""

    async def record(self, respondent_key: str, opted_out: bool) -> None:
        """Remember (or forget) that the respondent opted out."""

    async def opted_out(self, respondent_keys: Collection[str]) -> set[str]:
        """Those of ``respondent_keys`` who opted out."""


class ContactStore(Protocol):
    """People who joined a list by a link (``/start TAG_team``), so that a campaign can invite them by
    tag. Holds their platform user id: a platform lets a bot message people only by it."""

    async def tag(self, platform: str, user_id: str, name: str, tag: str) -> None:
        """Add ``tag`` to the person's tags (remembering their name)."""

    async def tagged(self, platform: str, tags: Collection[str]) -> list[tuple[str, str]]:
        """(user id, name) of the people of ``platform`` with any of ``tags``."""


class SessionStore(Protocol):
    """A cache of each conversation, the handled update ids and the per-respondent lock: Redis in
    production. The lock is a lease that only spares work: every write to a response is fenced by its
    revision, so a turn that outlives its lock cannot overwrite a newer one.

    Every method is safe to call again after a failure that left its effect unknown.
    """

    async def begin(self, key: ConversationKey, update_id: str | None) -> Turn:
        """Take the respondent's lock (waiting for another process to finish) and read the session.

        When ``update_id`` was handled before (see :meth:`commit`), return a turn with
        ``duplicate=True``, no lock held (and the stored session). Nothing is marked: an update whose
        handler dies leaves only a lock that expires soon. Raises :class:`bot.errors.RespondentBusy`
        when the lock cannot be had in time.
        """

    async def commit(
        self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int, update_id: str | None
    ) -> bool:
        """Mark ``update_id`` handled, save the session (None deletes it) with a time-to-live in seconds
        and release the lock. When the lock was lost meanwhile, the session is not written and False is
        returned (the next message rebuilds it from the response)."""

    async def mark_live(self, key: ConversationKey, question_id: str, message_id: str) -> None:
        """Record that ``message_id`` carries the buttons of ``question_id``, if the session still waits
        for that question (no lock: one atomic change of the stored session, which keeps its lifetime)."""

    async def preferred_language(self, key: ConversationKey) -> str | None:
        """The language the respondent chose with ``/language`` outside a survey, if any."""

    async def prefer_language(self, key: ConversationKey, language: str) -> None:
        """Remember the language the respondent chose (for a year; a response keeps its own for good)."""

    async def abort(self, key: ConversationKey, turn: Turn) -> None:
        """Release the lock without marking anything, so that a redelivery is handled afresh. When the
        store cannot be reached, the release is retried in the background while the lock lasts."""


class LinkStore(Protocol):
    """Cross-channel links (docs/linking.md): short-lived link codes, the guessing counters, and which
    identity is an alias of which. Identities are respondent keys (:func:`bot.links.identity`) and codes
    arrive as :func:`bot.links.code_hash`: nothing here is a platform id or a code one could type.

    Links form stars: an identity is either a *canonical* one (its responses are stored under it) or an
    alias of exactly one canonical identity, never an alias of an alias.
    """

    async def issue(self, identity: str, code_hash: str, ttl_s: int) -> bool:
        """Make ``code_hash`` redeemable for ``ttl_s`` seconds as ``identity``'s code, replacing the code
        it was issued before. False (nothing changed) when that code is live for another identity: draw
        another code."""

    async def redeem(self, identity: str, code_hash: str, policy: GuessPolicy) -> Redemption:
        """``identity`` typed the code of ``code_hash``: in one atomic step, refuse without trying when
        the identity's or everyone's failures are at ``policy``'s limits; else take the code (single use)
        and say who issued it; else count a failure. The identity's own code is left live. The same
        identity redeeming a code it took already gets the same answer for a while
        (:data:`bot.links.REDEEMED_KEPT_S`), so that a retry or a redelivery is answered alike."""

    async def alias(self, identity: str) -> str | None:
        """The canonical identity ``identity`` is an alias of, or None (asked for every message)."""

    async def aliases(self, canonical: str) -> list[str]:
        """The identities that are aliases of ``canonical``, sorted."""

    async def link(self, identity: str, canonical: str) -> str:
        """Join ``identity``, with every alias it has, to ``canonical``'s group, and return that group's
        canonical identity: ``canonical`` itself, or the one it is an alias of. Pass as ``canonical`` the
        side whose responses should be resumed; the other side's canonical identity becomes an alias (its
        responses stay stored under it, unreached until it is unlinked). Linking two identities already
        linked changes nothing.

        Two groups linked each to the other at the same moment end as one group all the same, but the
        caller that finished first may have been told the canonical identity that the second then made
        an alias: :meth:`alias` is the truth."""

    async def unlink(self, identity: str) -> list[str]:
        """Undo links, from either side: an alias stops being one; a canonical identity loses every alias
        it has. Returns the identities that stopped being aliases, sorted (none when there were none)."""
