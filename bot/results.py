"""Results of a survey: per-question counts and statistics, completion and drop-off, as plain values.

Neutral like the rest of ``bot/``: the admin API renders a :class:`SurveySummary` as JSON, the chat
platforms as :func:`summary_text`, and :mod:`adapters.reports.charts` as PNG charts.

Every response counts, of every version of the survey, completed or still in progress: an answer is saved
for good once it is given. Only the answers on a response's path count (an answer that ``back`` left off
does not). Questions are those of the newest version, in its order and with its texts; a question that
only older versions ask is left out.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.catalog import SurveyCache
from bot.errors import SurveyNotFound
from bot.flow import current_question
from bot.placeholders import render
from bot.ports import ResponseStore
from bot.responses import AnswerValue, Response, Status
from bot.survey import Question, QuestionType, Survey

SCALE_TYPES = frozenset({QuestionType.RATING, QuestionType.NPS, QuestionType.NUMBER})
"""Types summarised by mean, median and distribution (and drawn as histograms)."""

COUNTED_TYPES = frozenset(
    {QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE, QuestionType.YES_NO, QuestionType.DATE}
)
"""Types summarised by how often each value was given (and drawn as bar charts)."""


@dataclass(frozen=True)
class Count:
    """How many responses gave one value: a choice id, ``yes``/``no``, a scale value, a date."""

    value: str
    label: str
    count: int


@dataclass(frozen=True)
class QuestionSummary:
    """What the responses say about one question.

    ``counts`` holds, in display order: every choice (multi-choice: a response counts once for each
    choice it picked), yes and no, every value of a rating or NPS scale (zeros included), each distinct
    number given, each date given. Free text and e-mail addresses are not counted: only ``answered``.
    """

    id: str
    type: QuestionType
    text: str
    """The question's text with each placeholder shown as ``‹name›`` (its value differs between
    responses): ``What makes ‹flavour› your favourite?``."""
    answered: int
    """Responses with an answer to this question on their path."""
    skipped: int
    """Responses that skipped this (optional) question."""
    reached: int
    """Responses that got to this question: answered, skipped, or waiting for an answer to it now."""
    dropped: int
    """Responses in progress that stopped at this question (the drop-off)."""
    counts: tuple[Count, ...] = ()
    mean: float | None = None
    median: float | None = None
    nps: float | None = None
    """NPS questions: percentage of promoters (9-10) minus percentage of detractors (0-6), -100 to 100."""
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def drop_off_rate(self) -> float:
        """Of the responses that reached this question, the share that stopped at it."""
        return self.dropped / self.reached if self.reached else 0.0


@dataclass(frozen=True)
class SurveySummary:
    survey_id: str
    title: str
    version: int
    """The newest version, whose questions are summarised."""
    started: int
    completed: int
    in_progress: int
    questions: tuple[QuestionSummary, ...]
    languages: Mapping[str, int] = field(default_factory=dict)
    """Responses started per language they were given in (``""`` for those that recorded none), most
    first: what a survey in several languages is answered in."""

    @property
    def completion_rate(self) -> float:
        """Completed responses over started ones; 0 when none started."""
        return self.completed / self.started if self.started else 0.0


async def summarize(
    cache: SurveyCache, responses: ResponseStore, survey_id: str, since: datetime | None = None
) -> SurveySummary:
    """Summarise every response to ``survey_id`` (started since ``since``, when given). Raises
    :class:`~bot.errors.SurveyNotFound`."""
    newest = await cache.get(survey_id)
    assert newest.version is not None
    stored = await responses.list(survey_id, since=since)
    waiting: Counter[str] = Counter()
    for response in stored:
        if response.status is Status.IN_PROGRESS:
            question = await _waiting_at(cache, response)
            if question is not None:
                waiting[question] += 1
    completed = sum(1 for r in stored if r.status is Status.COMPLETED)
    return SurveySummary(
        survey_id=newest.id,
        title=newest.title,
        version=newest.version,
        started=len(stored),
        completed=completed,
        in_progress=len(stored) - completed,
        questions=tuple(summarize_question(q, stored, waiting[q.id]) for q in newest.questions),
        languages=dict(Counter(r.language or "" for r in stored).most_common()),
    )


async def _waiting_at(cache: SurveyCache, response: Response) -> str | None:
    try:
        survey: Survey = await cache.get(response.survey_id, response.version)
    except SurveyNotFound:
        return None
    question = current_question(survey, response)
    return question.id if question is not None else None


def summarize_question(question: Question, responses: list[Response], dropped: int = 0) -> QuestionSummary:
    """The summary of one question over ``responses``; ``dropped`` of them are waiting at it."""
    values: list[AnswerValue] = []
    skipped = 0
    for response in responses:
        if question.id not in response.path:
            continue
        answered = response.values()
        if question.id in answered:
            values.append(answered[question.id])
        else:
            skipped += 1
    summary = QuestionSummary(
        id=question.id,
        type=question.type,
        text=neutral_text(question.text),
        answered=len(values),
        skipped=skipped,
        reached=len(values) + skipped + dropped,
        dropped=dropped,
        counts=_counts(question, values),
    )
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if question.type not in SCALE_TYPES or not numbers:
        return summary
    summary = replace(summary, mean=statistics.fmean(numbers), median=float(statistics.median(numbers)))
    if question.type is not QuestionType.NPS:
        return summary
    promoters = sum(1 for n in numbers if n >= 9)
    detractors = sum(1 for n in numbers if n <= 6)
    return replace(
        summary,
        nps=(promoters - detractors) * 100 / len(numbers),
        promoters=promoters,
        passives=len(numbers) - promoters - detractors,
        detractors=detractors,
    )


def _counts(question: Question, values: list[AnswerValue]) -> tuple[Count, ...]:
    given: Counter[str] = Counter()
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            given[_key(item)] += 1
    match question.type:
        case QuestionType.SINGLE_CHOICE | QuestionType.MULTI_CHOICE:
            known = [(c.id, c.label) for c in question.choices]
            ids = {c.id for c in question.choices}
            # Choices that only an older version offered: after the current ones, by id.
            known += [(v, v) for v in sorted(given) if v not in ids]
        case QuestionType.YES_NO:
            known = [("yes", "Yes"), ("no", "No")]
        case QuestionType.RATING | QuestionType.NPS:
            low, high = _scale(question, given)
            known = [(str(n), _rating_label(question, n)) for n in range(low, high + 1)]
        case QuestionType.NUMBER:
            known = [(v, v) for v in sorted(given, key=float)]
        case QuestionType.DATE:
            known = [(v, v) for v in sorted(given)]
        case _:
            return ()
    return tuple(Count(value, label, given[value]) for value, label in known)


def _key(value: AnswerValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scale(question: Question, given: Counter[str]) -> tuple[int, int]:
    """The scale's bounds, widened to hold values that an older version allowed."""
    if question.type is QuestionType.NPS:
        low, high = 0, 10
    else:
        low = 1 if question.min_value is None else int(question.min_value)
        high = 5 if question.max_value is None else int(question.max_value)
    seen = [int(v) for v in given if v.lstrip("-").isdigit()]
    return min([low, *seen]), max([high, *seen])


def _rating_label(question: Question, value: int) -> str:
    label = question.labels.get(value)
    return f"{value} {label}" if label else str(value)


# --- plain text ---------------------------------------------------------------------------------------


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def neutral_text(template: str) -> str:
    """A survey text for results, where no one respondent's answers apply: ``{flavour}`` reads
    ``‹flavour›``, ``{respondent.name}`` reads ``‹name›``, and ``{{``/``}}`` are braces."""
    return render(template, lambda name: "‹name›" if name == "respondent.name" else f"‹{name}›")


def summary_text(summary: SurveySummary) -> str:
    """A compact plain-text summary for a chat message: the counts, then one entry per question."""
    lines = [
        f"{summary.title} ({summary.survey_id}, version {summary.version})",
        f"Started {summary.started}, completed {summary.completed} "
        f"({_percent(summary.completed, summary.started)}), in progress {summary.in_progress}",
    ]
    if len(summary.languages) > 1 or any(summary.languages):
        shares = ", ".join(f"{code or 'unknown'} {count}" for code, count in summary.languages.items())
        lines.append(f"Languages: {shares}")
    for number, question in enumerate(summary.questions, 1):
        lines.append("")
        lines.append(f"{number}. {question.text}")
        lines.append(f"   {_question_line(question)}")
    return "\n".join(lines)


def _question_line(question: QuestionSummary) -> str:
    parts = [_plural(question.answered, "answer")]
    if question.skipped:
        parts.append(f"{question.skipped} skipped")
    if question.dropped:
        parts.append(f"{question.dropped} stopped here")
    line = ", ".join(parts)
    if question.type in SCALE_TYPES and question.mean is not None and question.median is not None:
        stats = f"mean {_number(question.mean)}, median {_number(question.median)}"
        if question.nps is not None:
            people = f"{_plural(question.promoters, 'promoter')}, {_plural(question.detractors, 'detractor')}"
            stats = f"NPS {question.nps:+.0f} ({people}), {stats}"
        return f"{line}: {stats}"
    if question.type in COUNTED_TYPES and question.answered:
        counts = "; ".join(
            f"{c.label} {c.count} ({_percent(c.count, question.answered)})" for c in question.counts
        )
        return f"{line}: {counts}"
    return line
