"""The survey model: frozen values built by :mod:`bot.loader` from a YAML file (format version 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.expressions import Expression

TextPath = tuple[str, ...]
"""Where a text of a survey is, for its translations: ``("title",)``, ``("welcome",)``, ``("goodbye",)``,
``("question", ID, "text"|"reply"|"error")``, ``("choice", QUESTION, CHOICE, "label"|"reply")``,
``("rating", QUESTION, VALUE)``."""

END = "end"
"""The ``goto`` target that finishes the survey."""


class QuestionType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    SINGLE_CHOICE = "single_choice"
    MULTI_CHOICE = "multi_choice"
    RATING = "rating"
    NPS = "nps"
    YES_NO = "yes_no"
    DATE = "date"
    EMAIL = "email"


CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE})
"""Types whose answers are picked from ``choices``."""

BUTTON_TYPES = frozenset(
    {
        QuestionType.SINGLE_CHOICE,
        QuestionType.MULTI_CHOICE,
        QuestionType.RATING,
        QuestionType.NPS,
        QuestionType.YES_NO,
    }
)
"""Types whose answers can be given by pressing a button."""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    reply: str | None = None
    line: int = field(default=0, compare=False)
    """Where the choice is written, for ``surveybot check``; 0 when not loaded from a file."""


@dataclass(frozen=True)
class Rule:
    """One entry of a question's ``next`` list; ``condition`` is None for the unconditional last rule."""

    goto: str
    condition: Expression | None = None
    line: int = field(default=0, compare=False)
    """Where the rule is written (its ``if``), for ``surveybot check``; 0 when not loaded from a file."""


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    text: str
    required: bool = True
    show_if: Expression | None = None
    next: tuple[Rule, ...] = ()
    reply: str | None = None
    error: str | None = None
    # text
    min_length: int | None = None
    max_length: int = 2000
    pattern: str | None = None
    # number (float bounds), rating (whole-number bounds; defaults applied by the loader)
    min_value: float | None = None
    max_value: float | None = None
    integer: bool = False
    # date (ISO YYYY-MM-DD)
    min_date: str | None = None
    max_date: str | None = None
    # single_choice / multi_choice
    choices: tuple[Choice, ...] = ()
    min_choices: int = 1
    max_choices: int | None = None
    # rating
    labels: Mapping[int, str] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    """Where each written field is (``id``, ``text``, ``show_if``, ``reply``, ``error``, …), and the
    question itself under ``question``: for ``surveybot check``. Empty when not loaded from a file."""

    def line(self, key: str = "question") -> int:
        """The line of field ``key``, else of the question, else 0."""
        return self.lines.get(key) or self.lines.get("question", 0)

    def choice(self, choice_id: str) -> Choice | None:
        for c in self.choices:
            if c.id == choice_id:
                return c
        return None


STARTED = "response.started"
COMPLETED = "response.completed"
EVENTS = (STARTED, COMPLETED)
"""What a webhook can be told of (an extension of the format)."""


@dataclass(frozen=True)
class Webhook:
    """An HTTPS endpoint told of a survey's responses (``settings.webhooks``, an extension of the
    format): ``events`` is a subset of :data:`EVENTS`."""

    url: str
    events: frozenset[str] = frozenset({COMPLETED})


@dataclass(frozen=True)
class Broadcast:
    """A chat where each completed response is posted as text (``settings.broadcast``, an extension of
    the format): ``platform`` is ``telegram`` (a group or channel id) or ``slack`` (a channel id)."""

    platform: str
    chat: str

    @property
    def target(self) -> str:
        """How a delivery names it: ``telegram:-1001234567890``, ``slack:C0123ABCD``."""
        return f"{self.platform}:{self.chat}"


@dataclass(frozen=True)
class Settings:
    one_response_per_user: bool = True
    allow_back: bool = True
    anonymous: bool = False
    session_ttl: int = 24 * 3600
    """Seconds of idle time after which the conversation state is dropped."""
    max_responses: int | None = None
    """Once this many responses are completed, nobody new may start (an extension of the format)."""
    webhooks: tuple[Webhook, ...] = ()
    broadcasts: tuple[Broadcast, ...] = ()

    def wants(self, event: str) -> bool:
        """Whether some webhook or broadcast of the survey is told of ``event`` (broadcasts: completed)."""
        return any(event in hook.events for hook in self.webhooks) or (
            event == COMPLETED and bool(self.broadcasts)
        )


@dataclass(frozen=True)
class Survey:
    id: str
    title: str
    questions: tuple[Question, ...]
    settings: Settings = Settings()
    welcome: str | None = None
    goodbye: str | None = None
    version: int | None = None
    """The version written in the file, or the stored version once the survey is stored."""
    source: str = ""
    """The YAML text the survey was loaded from; what is stored, and what identifies its content."""
    file: str = "<survey>"
    content_hash: str = ""
    """Hash of the file's parsed content without its ``version``: equal hashes mean the same survey."""
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    """Where the top-level fields are written (``welcome``, ``goodbye``, …), for ``surveybot check``."""
    languages: tuple[str, ...] = ()
    """The languages the survey is written in (``languages``, an extension of the format), the first
    the default; empty when it declares none (it is then in one language it does not name)."""
    language: str | None = None
    """The language of this value's texts: the first of ``languages``, or the one of :meth:`in_language`."""
    translations: Mapping[str, Mapping[TextPath, str]] = field(default_factory=dict, compare=False)
    """Language (other than the first) → where each text is → its text in that language."""
    _localized: dict[str, Survey] = field(default_factory=dict, init=False, compare=False, repr=False)
    """This value in other languages, built once (a stored version, held by the survey cache, never
    changes); not copied by ``replace``, so a survey given a version builds its own."""

    def in_language(self, language: str | None) -> Survey:
        """The survey with its texts in ``language`` (one of :attr:`languages`); itself for the default
        language, an unknown one, or None. Ids, rules and settings are the same in every language."""
        table = self.translations.get(language or "")
        if not table or language == self.language:
            return self
        found = self._localized.get(language or "")
        if found is None:
            found = self._localized[language or ""] = _localize(self, table, language or "")
        return found

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    def index(self, question_id: str) -> int:
        for i, q in enumerate(self.questions):
            if q.id == question_id:
                return i
        raise KeyError(question_id)


def _localize(survey: Survey, table: Mapping[TextPath, str], language: str) -> Survey:
    def text(path: TextPath, default: str) -> str:
        return table.get(path, default)

    def optional(path: TextPath, default: str | None) -> str | None:
        return None if default is None else table.get(path, default)

    questions = tuple(
        replace(
            q,
            text=text(("question", q.id, "text"), q.text),
            reply=optional(("question", q.id, "reply"), q.reply),
            error=optional(("question", q.id, "error"), q.error),
            choices=tuple(
                replace(
                    c,
                    label=text(("choice", q.id, c.id, "label"), c.label),
                    reply=optional(("choice", q.id, c.id, "reply"), c.reply),
                )
                for c in q.choices
            ),
            labels={n: text(("rating", q.id, str(n)), label) for n, label in q.labels.items()},
        )
        for q in survey.questions
    )
    return replace(
        survey,
        title=text(("title",), survey.title),
        welcome=optional(("welcome",), survey.welcome),
        goodbye=optional(("goodbye",), survey.goodbye),
        questions=questions,
        language=language,
    )
