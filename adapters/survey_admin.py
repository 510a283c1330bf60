"""Admin work from a chat, once for every platform: who may do it, loading an uploaded survey file, and a
survey's results with their charts. Each chat adapter only maps its file upload or command to these
calls and renders the :class:`AdminReply` (text, preformatted detail, PNG charts) its own way.

The refusal texts and the one upload limit live here; a store outage answers "try again" everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import texts
from bot.catalog import SurveyCache, publish_upload
from bot.errors import DefinitionError, StorageUnavailable, SurveyNotFound, VersionConflict
from bot.loader import MAX_SURVEY_BYTES
from bot.ports import ResponseStore, SurveyStore
from bot.survey import Survey

if TYPE_CHECKING:  # the charts module loads matplotlib: only when results are asked for
    from adapters.reports.charts import Chart

log = logging.getLogger("surveybot.admin")

MAX_UPLOAD_BYTES = MAX_SURVEY_BYTES
"""The largest survey file taken, by every way in (files, chat uploads and the HTTP API)."""
SURVEY_SUFFIXES = (".yaml", ".yml")


def is_survey_file(name: str) -> bool:
    """Whether a file's name says it is a survey (YAML), whoever sent it."""
    return name.lower().endswith(SURVEY_SUFFIXES)


NOT_ADMIN_UPLOAD = "Sorry, only survey admins can upload surveys. Your file was not stored."
NOT_ADMIN_RESULTS = "Sorry, only survey admins can read results."
NOT_YAML = "I load surveys from .yaml files; “{name}” is not one, so I left it alone."
TOO_LARGE = f"“{{name}}” is larger than {MAX_UPLOAD_BYTES // 1024} KB, too large for a survey; not loaded."
UNREADABLE = "I could not download “{name}”; please send it again."
SIZE_UNKNOWN = "I could not tell how large “{name}” is, so I did not download it; please send it again."
RESULTS_USAGE = "Ask for the results of a survey by its id, for example: results ice-cream."


def not_loaded(name: str, problems: int) -> str:
    """The heading of a refused survey file, before its ``FILE:LINE`` problems (chats and HTTP alike)."""
    return f"“{name}” was not loaded: {problems} problem{'s' if problems != 1 else ''}; nothing was stored."


@dataclass(frozen=True)
class AdminReply:
    """What to tell the admin: ``text``, then ``detail`` shown preformatted (problems, a summary), then
    ``charts`` as images."""

    text: str
    detail: str = ""
    charts: tuple[Chart, ...] = ()


class SurveyAdmin:
    """Admin work for the chat platforms over the stores and the survey cache of one process."""

    def __init__(
        self,
        surveys: SurveyStore,
        cache: SurveyCache,
        responses: ResponseStore,
        admins: Iterable[str],
        campaigns: Callable[[str], Awaitable[AdminReply]] | None = None,
        check: Callable[[Survey], Awaitable[str]] | None = None,
    ) -> None:
        """``check``, when given, says what ``surveybot check`` warns of in a survey just loaded."""
        self._check = check
        self._surveys = surveys
        self._cache = cache
        self._responses = responses
        self._admins = frozenset(admins)
        self._campaigns = campaigns

    def is_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    def refuse_upload(self, user_id: str, name: str, size: int | None) -> AdminReply | None:
        """Why an upload is not even downloaded (not an admin, not YAML, too large), or None. ``size``
        None: not known yet (asked again before the download); negative: not known at all."""
        if not self.is_admin(user_id):
            return AdminReply(NOT_ADMIN_UPLOAD)
        if not is_survey_file(name):
            return AdminReply(NOT_YAML.format(name=name))
        if size is not None and size > MAX_UPLOAD_BYTES:
            return AdminReply(TOO_LARGE.format(name=name))
        if size is not None and size < 0:
            return AdminReply(SIZE_UNKNOWN.format(name=name))
        return None

    async def load(self, name: str, data: bytes | None) -> AdminReply:
        """Validate and store an uploaded survey file (``data`` None: it could not be downloaded) like
        ``surveybot load``: a new version when it changed, every problem as ``FILE:LINE`` when broken."""
        if data is None:
            return AdminReply(UNREADABLE.format(name=name))
        if len(data) > MAX_UPLOAD_BYTES:
            return AdminReply(TOO_LARGE.format(name=name))
        try:
            published = await publish_upload(self._surveys, self._cache, data, name)
        except DefinitionError as exc:
            return AdminReply(not_loaded(name, len(exc.problems)), "\n".join(str(p) for p in exc.problems))
        except VersionConflict as exc:
            return AdminReply(f"“{name}” was not loaded.", str(exc))
        except StorageUnavailable as exc:
            log.warning("an uploaded survey was not loaded: %s", exc)
            return AdminReply(texts.UNAVAILABLE)
        log.info("survey loaded from a chat upload: %s", published.line())
        # What `surveybot load` prints, then what `surveybot check` warns of (stored all the same).
        warnings = await self._check(published.survey) if self._check is not None else ""
        return AdminReply(published.line(), warnings)

    async def campaign_report(self, user_id: str, campaign_id: str) -> AdminReply:
        """The campaigns (no id), or one campaign's status per occurrence."""
        if not self.is_admin(user_id):
            return AdminReply(NOT_ADMIN_RESULTS)
        if self._campaigns is None:
            return AdminReply("Campaigns are not run here.")
        try:
            return await self._campaigns(campaign_id.strip().lower())
        except StorageUnavailable as exc:
            log.warning("campaign status not read: %s", exc)
            return AdminReply(texts.UNAVAILABLE)

    async def results(self, user_id: str, survey_id: str) -> AdminReply:
        """The summary of a survey's responses and its charts."""
        from adapters.reports.charts import render_charts
        from bot.results import summarize, summary_text

        if not self.is_admin(user_id):
            return AdminReply(NOT_ADMIN_RESULTS)
        survey_id = survey_id.strip().lower()
        if not survey_id:
            return AdminReply(RESULTS_USAGE)
        try:
            summary = await summarize(self._cache, self._responses, survey_id)
        except SurveyNotFound:
            return AdminReply(texts.UNKNOWN_SURVEY.format(survey_id=survey_id))
        except StorageUnavailable as exc:
            log.warning("results not read: %s", exc)
            return AdminReply(texts.UNAVAILABLE)
        charts = await asyncio.to_thread(render_charts, summary)
        return AdminReply(f"Results of {survey_id}:", summary_text(summary), tuple(charts))
