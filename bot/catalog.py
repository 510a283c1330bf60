"""Publishing surveys under the versioning rules of the format, and a read cache for the engine."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from bot.errors import SurveyNotFound, VersionConflict
from bot.loader import load_bytes
from bot.ports import SurveyStore
from bot.survey import Survey


@dataclass(frozen=True)
class Published:
    survey: Survey
    """The survey as stored, with its version."""
    stored: bool
    """False when the same content was stored already and nothing changed."""
    file: str
    """The file that was loaded."""

    def line(self) -> str:
        """What loading did, as ``surveybot load`` prints it: ``stored ID version N (FILE)``."""
        verb = "stored" if self.stored else "unchanged"
        return f"{verb} {self.survey.id} version {self.survey.version} ({self.file})"


async def publish(store: SurveyStore, survey: Survey) -> Published:
    """Store ``survey`` as a new version when its content differs from the newest stored version.

    Loading the same content again changes nothing. A file that names its ``version`` must name one
    higher than the newest; without one, the next number is taken. A different content under a version
    that is stored already is refused with :class:`VersionConflict`.
    """
    try:
        newest: Survey | None = await store.get(survey.id)
    except SurveyNotFound:
        newest = None
    if newest is not None and newest.content_hash == survey.content_hash:
        return Published(newest, stored=False, file=survey.file)
    newest_version = newest.version if newest is not None and newest.version is not None else 0
    if survey.version is not None and survey.version <= newest_version:
        try:
            same: Survey | None = await store.get(survey.id, survey.version)
        except SurveyNotFound:
            same = None
        if same is not None and same.content_hash == survey.content_hash:
            return Published(same, stored=False, file=survey.file)
        raise VersionConflict(
            f"{survey.file}: survey '{survey.id}' version {survey.version} is already stored with "
            f"different content, or is not above the newest stored version {newest_version}; "
            "raise `version` or remove it"
        )
    stored = replace(survey, version=survey.version if survey.version is not None else newest_version + 1)
    await store.add(stored)
    return Published(stored, stored=True, file=survey.file)


async def publish_upload(store: SurveyStore, cache: SurveyCache, data: bytes, name: str) -> Published:
    """Load a survey file an admin uploaded (Telegram, Slack, the HTTP API) exactly as ``surveybot load``
    does, publish it, and let this process see it at once.

    Raises :class:`DefinitionError` (nothing is stored), :class:`VersionConflict` or
    :class:`StorageUnavailable`.
    """
    published = await publish(store, load_bytes(data, name))
    cache.forget()
    return published


class SurveyCache:
    """Caches the store's surveys for the engine's hot path.

    A stored version never changes, so ``(id, version)`` is cached for good; which version is the newest,
    and the list of surveys offered, are cached for ``newest_ttl`` seconds so that a survey loaded by
    another process shows up soon.
    """

    def __init__(self, store: SurveyStore, newest_ttl: float = 5.0) -> None:
        self._store = store
        self._ttl = newest_ttl
        self._versions: dict[tuple[str, int], Survey] = {}
        self._newest: dict[str, tuple[float, Survey]] = {}
        self._listing: tuple[float, list[Survey]] | None = None

    async def get(self, survey_id: str, version: int | None = None) -> Survey:
        now = time.monotonic()
        if version is None:
            hit = self._newest.get(survey_id)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        elif (survey_id, version) in self._versions:
            return self._versions[(survey_id, version)]
        survey = await self._store.get(survey_id, version)
        assert survey.version is not None
        self._versions[(survey_id, survey.version)] = survey
        if version is None:
            self._newest[survey_id] = (now, survey)
        return survey

    async def offered(self) -> list[Survey]:
        """The newest version of every survey that is not archived."""
        now = time.monotonic()
        if self._listing is None or now - self._listing[0] >= self._ttl:
            self._listing = (now, await self._store.list_newest())
        return self._listing[1]

    def forget(self) -> None:
        """Drop what may have changed (after this process published or archived a survey)."""
        self._newest.clear()
        self._listing = None
