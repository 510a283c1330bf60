"""One error tree for the whole product, rooted at :class:`SurveyBotError`.

Modelled on python-telegram-bot's ``telegram/error.py``: callers catch the branch they can handle.
"""

from __future__ import annotations

from dataclasses import dataclass


class SurveyBotError(Exception):
    """Base of every error surveybot raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a survey file, located at ``file:line``."""

    file: str
    line: int
    message: str
    question: str | None = None

    def __str__(self) -> str:
        where = f"question '{self.question}': " if self.question else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class DefinitionError(SurveyBotError):
    """A survey file breaks the format; it is refused whole. ``problems`` lists everything found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class ExpressionError(SurveyBotError):
    """A ``show_if``/``next`` expression does not parse, or cannot be evaluated."""


class NotFound(SurveyBotError):
    """Something asked for is not stored."""


class SurveyNotFound(NotFound):
    def __init__(self, survey_id: str, version: int | None = None) -> None:
        self.survey_id = survey_id
        self.version = version
        suffix = f" version {version}" if version is not None else ""
        super().__init__(f"no survey '{survey_id}'{suffix}")


class VersionConflict(SurveyBotError):
    """A different content was loaded under a version that is already stored, or a lower version."""


class InvalidAnswer(SurveyBotError):
    """An answer does not fit its question. The engine turns it into a re-prompt; it never escapes."""


class DuplicateResponse(SurveyBotError):
    """A response for the same survey and respondent already holds the unique slot."""


class StaleResponse(SurveyBotError):
    """The response changed since the session was read (another process, or a lost session)."""


class StorageUnavailable(SurveyBotError):
    """MongoDB or Redis could not be reached. Adapters wrap driver errors into this.

    ``sent`` is False when the request is known never to have reached the server (none could be
    selected or connected to): a write that failed so was not applied. Otherwise it may have been.
    """

    def __init__(self, message: str = "", *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class RespondentBusy(StorageUnavailable):
    """Another process holds the respondent's lock for longer than we are willing to wait."""


class ConfigError(SurveyBotError):
    """A configuration value is missing or wrong; the message names the key."""


class CannotListen(SurveyBotError):
    """A server cannot bind its address (taken, or not ours to bind)."""
