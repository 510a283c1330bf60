"""What a survey does on every path a respondent can take: the logic behind ``surveybot check``.

Pure functions of a loaded survey, like :mod:`bot.flow`, whose rules they follow. Each question's
possible answers are cut down to one representative per *outcome*: two answers that make every
comparison of every ``show_if`` and ``next`` rule come out the same lead to the same questions, so only
one of them is tried (``age`` compared with 18 and 65 is tried as 17, 18, 19, 64, 65, 66 and its bounds,
not as every number). The answers are then walked question by question, as the engine would take them;
states already walked are not walked again (only the answers that a later rule, ``show_if`` or
placeholder can still see are kept), which keeps a 60-question survey to a few thousand states. A
survey too large for that is walked in full up to :data:`MAX_STATES` states and with one answer per
question beyond, and says so (``sampled``).

A *path* is the sequence of questions a respondent is asked; answers that lead to the same questions make
one path.
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from bot import placeholders
from bot.answers import display, parse_answer, rating_bounds
from bot.errors import InvalidAnswer, Problem
from bot.expressions import Comparison, Expression, Literal, Name
from bot.responses import AnswerValue
from bot.survey import CHOICE_TYPES, END, Question, QuestionType, Survey

MAX_PATHS = 5_000
"""The most distinct paths kept (with their answers); beyond, paths are counted as "more than"."""
MAX_STATES = 50_000
"""The most states walked with every representative answer; beyond, one answer per question."""
MAX_SUBSET_CHOICES = 8
"""A multi-choice question's named choices whose every combination is tried; beyond, a sample."""
SKIP = "/skip"

# --- findings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding(Problem):
    """A warning about a survey that loads: a :class:`~bot.errors.Problem` (``FILE:LINE: …``) with the
    ``code`` of its kind (``unreachable``), which ``--ignore`` and JSON readers go by."""

    code: str = ""

    def __str__(self) -> str:
        return f"{super().__str__()} [{self.code}]"


CODES: Mapping[str, str] = {
    "unreachable": "a question no path reaches",
    "show-if-always-true": "a show_if that holds wherever it is tested",
    "show-if-always-false": "a show_if that never holds",
    "rule-always-true": "a next rule that holds wherever it is tested (the rules after it never apply)",
    "rule-always-false": "a next rule that never holds",
    "placeholder-unanswered": "a placeholder shown, on some path, before its question is answered",
    "unknown-choice": "a rule compares a choice question with a value that is none of its choice ids",
    "type-mismatch": "a rule compares an answer with a value of another kind (yes_no with 'yes')",
    "choice-not-distinguished": "a choice no rule names, where the rules name the others",
    "required-after-skip": "a required question asked only on paths where an optional one was skipped",
    "duplicate-label": "two choices (or rating labels) of a question read the same",
    "ambiguous-label": "a typed label that picks another choice (a number, another choice's id)",
}
"""Every kind of finding :func:`analyse` reports, with what it means (adapters add platform limits)."""


# --- answers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One representative answer to a question: the ``value`` stored (None: skipped) and what a
    respondent types to give it (``/skip`` for a skip)."""

    value: AnswerValue
    typed: str

    @property
    def skipped(self) -> bool:
        return self.value is None


def _comparisons(survey: Survey) -> Iterator[tuple[Question, Expression, Comparison]]:
    for question in survey.questions:
        expressions = [question.show_if] + [rule.condition for rule in question.next]
        for expression in filter(None, expressions):
            for comparison in expression.comparisons:
                yield question, expression, comparison


_AROUND = {QuestionType.NUMBER: 0, QuestionType.DATE: "2000-01-01"}
"""Where answers compared with another answer (``a < b``) are tried, on either side, when no literal
says where: both sides then take values below, at and above it."""
_SECOND_TEXT = {QuestionType.TEXT: "Another answer", QuestionType.EMAIL: "other@example.org"}


def _literals(survey: Survey) -> dict[str, list[object]]:
    """For each question id, the literal values it is compared with anywhere (lists flattened), and
    for one compared with another answer, a point to try both on either side of."""
    found: dict[str, list[object]] = defaultdict(list)
    for _, _, comparison in _comparisons(survey):
        sides = (comparison.left, comparison.right)
        for mine, other in (sides, sides[::-1]):
            if isinstance(mine, Name) and isinstance(other, Literal):
                items = other.value if isinstance(other.value, list) else [other.value]
                found[mine.id].extend(items)
            elif isinstance(mine, Name) and isinstance(other, Name):
                kind = survey.question(mine.id).type
                if kind in _AROUND:
                    found[mine.id].append(_AROUND[kind])
                if kind in _SECOND_TEXT:
                    found[mine.id].append(_SECOND_TEXT[kind])
    return found


def _typed(question: Question, value: AnswerValue) -> str:
    """What a respondent types to answer ``value``: the number shown beside a choice (``1, 3`` for
    several: a label may read as another choice), ``yes``/``no``, the number, the text."""
    if question.type in CHOICE_TYPES:
        ids = [c.id for c in question.choices]
        picked = value if isinstance(value, list) else [value]
        return ", ".join(str(ids.index(p) + 1) for p in picked if p in ids)
    return display(question, value)


def _valid(question: Question, typed: str, value: AnswerValue) -> bool:
    try:
        parsed = parse_answer(question, typed)
    except InvalidAnswer:
        return False
    return parsed == value or (
        isinstance(parsed, int | float) and isinstance(value, int | float) and float(parsed) == float(value)
    )


def _numbers(question: Question, literals: Iterable[object]) -> list[float]:
    points = sorted({float(v) for v in literals if isinstance(v, int | float) and not isinstance(v, bool)})
    bounds = [v for v in (question.min_value, question.max_value) if v is not None]
    marks = sorted(set(points + bounds))
    gaps = [b - a for a, b in itertools.pairwise(marks) if b > a]
    values = set(bounds)
    if question.integer:  # the whole numbers on either side of each point (2.5: 1, 2, 3, 4)
        values |= {
            float(n)
            for p in points
            for n in (math.floor(p) - 1, math.floor(p), math.ceil(p), math.ceil(p) + 1)
        }
    else:
        step = min([0.5, *(g / 2 for g in gaps)])
        values |= {mark + d for mark in points for d in (-step, 0.0, step)}
    values.add(question.min_value if question.min_value is not None else 0.0)
    low = question.min_value if question.min_value is not None else float("-inf")
    high = question.max_value if question.max_value is not None else float("inf")
    return sorted(v for v in values if low <= v <= high and (not question.integer or v == int(v)))


def _dates(question: Question, literals: Iterable[object]) -> list[str]:
    days: set[datetime.date] = set()
    for value in literals:
        try:
            day = datetime.date.fromisoformat(str(value))
        except ValueError:
            continue
        days |= {day + datetime.timedelta(days=d) for d in (-1, 0, 1)}
    bounds = [datetime.date.fromisoformat(d) for d in (question.min_date, question.max_date) if d]
    days |= set(bounds)
    if not days:
        days.add(datetime.date(2000, 1, 1))
    return sorted(d.isoformat() for d in days)


def _subsets(question: Question, literals: Iterable[object]) -> tuple[list[list[str]], bool]:
    """Selections to try for a multi-choice question: every combination of the choices that rules
    name (plus one they do not), filled up to ``min_choices``; a sample when too many are named."""
    ids = [c.id for c in question.choices]
    named = [i for i in ids if i in set(map(str, literals))]
    others = [i for i in ids if i not in named]
    pool = named[:MAX_SUBSET_CHOICES] + others[:1]
    sampled = len(named) > MAX_SUBSET_CHOICES
    selections: list[list[str]] = []
    for size in range(len(pool) + 1):
        for combination in itertools.combinations(pool, size):
            picked = set(combination)
            fillers = (i for i in others if i not in picked)
            while len(picked) < question.min_choices and (extra := next(fillers, None)) is not None:
                picked.add(extra)
            if question.max_choices is None or len(picked) <= question.max_choices:
                selections.append([i for i in ids if i in picked])
    return selections, sampled


def _texts(question: Question, literals: Iterable[object]) -> list[str]:
    strings = [v for v in literals if isinstance(v, str)]
    other = "someone@example.org" if question.type is QuestionType.EMAIL else "My answer"
    if question.type is QuestionType.TEXT and question.min_length:
        other = (other + " ") * (question.min_length // len(other) + 1)
    return [*strings, other.strip()]


def answers(survey: Survey, question: Question, literals: Mapping[str, list[object]]) -> list[Answer]:
    """Representative answers to ``question``: one per outcome of the comparisons that name it (see the
    module's docstring), each a value the question accepts when typed; a skip last when it is optional."""
    mine = literals.get(question.id, [])
    values: list[AnswerValue]
    match question.type:
        case QuestionType.YES_NO:
            values = [True, False]
        case QuestionType.SINGLE_CHOICE:
            values = [c.id for c in question.choices]
        case QuestionType.MULTI_CHOICE:
            values = list(_subsets(question, mine)[0])
        case QuestionType.RATING | QuestionType.NPS:
            low, high = rating_bounds(question)
            values = list(range(low, high + 1))
        case QuestionType.NUMBER:
            values = [int(v) if question.integer else v for v in _numbers(question, mine)]
        case QuestionType.DATE:
            values = list(_dates(question, mine))
        case QuestionType.TEXT | QuestionType.EMAIL:
            values = list(_texts(question, mine))
    found: list[Answer] = []
    kept: set[object] = set()
    named = [c for _, _, c in _comparisons(survey) if question.id in c.names()]
    for value in values:
        typed = _typed(question, value)
        if not _valid(question, typed, value):
            if question.type in (QuestionType.TEXT, QuestionType.EMAIL) and value is values[-1] and not found:
                found.append(Answer(value, typed))  # no literal fits: the generic answer stands for all
            continue
        signature = tuple(_outcome(c, question.id, value) for c in named)
        if signature not in kept:
            kept.add(signature)
            found.append(Answer(value, typed))
    if not question.required:
        found.append(Answer(None, SKIP))
    return found


def _outcome(comparison: Comparison, name: str, value: AnswerValue) -> object:
    """What ``comparison`` says when ``name`` holds ``value``: its outcome when the other side is a
    literal, else the value itself (compared with another answer, any value may matter)."""
    if len(comparison.names()) > 1:
        return repr(value)
    return comparison.holds({name: value})


# --- the walk ---------------------------------------------------------------------------------------


@dataclass
class _Paths:
    """The distinct suffixes of paths from one state, as ids of :attr:`_Walk.suffixes` (in the order
    found), and how long they are."""

    paths: dict[int, None]
    shortest: int
    longest: int
    more: bool = False
    """More than :data:`MAX_PATHS` distinct suffixes: ``paths`` holds the first ones found."""


@dataclass
class _Seen:
    """What the walk saw, gathered across every state it expanded."""

    asked: set[int] = field(default_factory=set)
    asked_without_skip: set[int] = field(default_factory=set)
    show_if: dict[int, set[bool]] = field(default_factory=lambda: defaultdict(set))
    rules: dict[tuple[int, int], set[bool]] = field(default_factory=lambda: defaultdict(set))
    empty: dict[tuple[str | None, str, int, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    """(question, where, line, name) → why the placeholder's question had no answer: skipped, not asked."""


@dataclass(frozen=True)
class PathReport:
    """The paths of a survey: how many (``more``: more than were listed), the shortest and longest in
    questions, and each path listed (at most :data:`MAX_PATHS`): its questions and the answers typed
    to take it."""

    count: int
    more: bool
    sampled: bool
    shortest: int
    longest: int
    questions: tuple[tuple[str, ...], ...]
    answers: tuple[tuple[str, ...], ...]
    states: int


@dataclass(frozen=True)
class Analysis:
    paths: PathReport
    findings: tuple[Finding, ...]


class _Walk:
    def __init__(self, survey: Survey, max_states: int) -> None:
        self.survey = survey
        self.max_states = max_states
        self.questions = survey.questions
        self.index = {q.id: i for i, q in enumerate(survey.questions)}
        self.variants = [(survey, "")] + [
            (survey.in_language(code), f" ({code})") for code in survey.languages[1:]
        ]
        """The survey in each of its languages, and how a finding names the language (none: the first)."""
        self.literals = literals = _literals(survey)
        self.answers = [answers(survey, q, literals) for q in survey.questions]
        self.seen = _Seen()
        self.memo: dict[tuple[object, ...], _Paths] = {}
        self.suffixes: list[tuple[str, str, int]] = [("", "", 0)]
        """Suffix id → (its first question, the answer typed to it, the id of the rest); 0 is the end.
        Suffixes are shared, so that a state's paths cost a set of numbers, not copies of sequences."""
        self._suffix_ids: dict[tuple[str, int], int] = {}
        self.sampled = any(
            _subsets(q, literals.get(q.id, []))[1]
            for q in survey.questions
            if q.type is QuestionType.MULTI_CHOICE
        )
        self._watched = self._watched_after()

    def _watched_after(self) -> list[tuple[tuple[str, ...], frozenset[str]]]:
        """For each question (and the start, first), once it is answered: the names whose values still
        matter (its own rules, the show_if and rules of later questions), and those whose presence still
        matters (in placeholders of later texts and the goodbye)."""
        values: set[str] = set()
        present = {n for v, _ in self.variants for n in _names(v.goodbye or "")}
        watched: list[tuple[tuple[str, ...], frozenset[str]]] = []
        for question in reversed(self.questions):
            for rule in question.next:
                if rule.condition is not None:
                    values |= rule.condition.names
            watched.append((tuple(sorted(values)), frozenset(present - values)))
            if question.show_if is not None:
                values |= question.show_if.names
            for variant, _ in self.variants:
                for _, _, template in _templates(variant.questions[self.index[question.id]]):
                    present |= set(_names(template))
        watched.append((tuple(sorted(values)), frozenset(present - values)))
        return watched[::-1]

    def _key(self, after: int, values: Mapping[str, AnswerValue], skipped: bool) -> tuple[object, ...]:
        watched, present = self._watched[after + 1]
        state = tuple((name, tuple(v) if isinstance(v := values.get(name), list) else v) for name in watched)
        answered = tuple(sorted((n, values[n] is None) for n in present if n in values))
        return after, state, answered, skipped

    def _next(self, after: int, values: Mapping[str, AnswerValue]) -> int | None:
        """:func:`bot.flow.next_question`, noting each rule and show_if outcome on the way."""
        start = after + 1
        if after >= 0:
            for number, rule in enumerate(self.questions[after].next):
                holds = rule.condition is None or rule.condition.test(values)
                if rule.condition is not None:
                    self.seen.rules[after, number].add(holds)
                if holds:
                    if rule.goto == END:
                        return None
                    start = self.index[rule.goto]
                    break
        for i in range(start, len(self.questions)):
            show_if = self.questions[i].show_if
            if show_if is None:
                return i
            holds = show_if.test(values)
            self.seen.show_if[i].add(holds)
            if holds:
                return i
        return None

    def _placeholders(
        self,
        owner: str | None,
        where: str,
        line: int,
        template: str | None,
        values: Mapping[str, AnswerValue],
    ) -> None:
        for name in _names(template or ""):
            if values.get(name) is None:
                self.seen.empty[owner, where, line, name].add("skipped" if name in values else "not asked")

    def walk(self, after: int, values: dict[str, AnswerValue], skipped: bool) -> _Paths:
        key = self._key(after, values, skipped)
        if (known := self.memo.get(key)) is not None:
            return known
        full = len(self.memo) < self.max_states
        if not full:
            self.sampled = True
        upcoming = self._next(after, values)
        if upcoming is None:
            line = self.survey.lines.get("goodbye", 1)
            for variant, tag in self.variants:
                self._placeholders(None, "goodbye" + tag, line, variant.goodbye, values)
            result = _Paths({0: None}, 0, 0)
        else:
            result = self._ask(upcoming, values, skipped, full)
        self.memo[key] = result
        return result

    def _ask(self, i: int, values: dict[str, AnswerValue], skipped: bool, full: bool) -> _Paths:
        question = self.questions[i]
        self.seen.asked.add(i)
        if not skipped:
            self.seen.asked_without_skip.add(i)
        for variant, tag in self.variants:
            for key in ("text", "error"):
                template = getattr(variant.questions[i], key)
                self._placeholders(question.id, key + tag, question.line(key), template, values)
        paths: dict[int, None] = {}
        shortest, longest, more = len(self.questions) + 1, 0, False
        for answer in self.answers[i] if full else self.answers[i][:1]:
            after = {**values, question.id: answer.value}
            picked = answer.value if isinstance(answer.value, list) else [answer.value]
            for variant, tag in self.variants if not answer.skipped else ():
                asked = variant.questions[i]
                self._placeholders(question.id, "reply" + tag, question.line("reply"), asked.reply, after)
                for choice in asked.choices:
                    if choice.id in picked:
                        where = f"the reply of choice '{choice.id}'{tag}"
                        self._placeholders(question.id, where, choice.line, choice.reply, after)
            rest = self.walk(i, after, skipped or answer.skipped)
            shortest, longest = min(shortest, rest.shortest + 1), max(longest, rest.longest + 1)
            more = more or rest.more
            for tail in rest.paths:
                if len(paths) >= MAX_PATHS:
                    more = True
                    break
                paths[self._suffix(question.id, answer.typed, tail)] = None
        return _Paths(paths, shortest, longest, more)

    def _suffix(self, question_id: str, typed: str, tail: int) -> int:
        key = (question_id, tail)
        found = self._suffix_ids.get(key)
        if found is None:
            found = self._suffix_ids[key] = len(self.suffixes)
            self.suffixes.append((question_id, typed, tail))
        return found

    def path_of(self, suffix: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The questions of path ``suffix``, and the answers typed along it (the first found to take it)."""
        asked: list[str] = []
        typed: list[str] = []
        while suffix:
            question_id, answer, suffix = self.suffixes[suffix]
            asked.append(question_id)
            typed.append(answer)
        return tuple(asked), tuple(typed)


def _names(template: str) -> list[str]:
    return [n for n in placeholders.names(template) if n != placeholders.RESPONDENT_NAME]


def _templates(question: Question) -> Iterator[tuple[str, int, str]]:
    """The texts of a question that may hold placeholders: (field, line, text)."""
    for key in ("text", "error", "reply"):
        template = getattr(question, key)
        if template:
            yield key, question.line(key), template
    for choice in question.choices:
        if choice.reply:
            yield f"choice {choice.label}", choice.line or question.line("choices"), choice.reply


# --- findings from what the walk saw ----------------------------------------------------------------


class _Findings:
    def __init__(self, survey: Survey) -> None:
        self.survey = survey
        self.found: list[Finding] = []

    def add(self, code: str, line: int, message: str, question: str | None = None) -> None:
        self.found.append(Finding(self.survey.file, line, message, question, code))


def _kind(question: Question) -> str:
    match question.type:
        case QuestionType.YES_NO:
            return "boolean"
        case QuestionType.NUMBER | QuestionType.RATING | QuestionType.NPS:
            return "number"
        case QuestionType.MULTI_CHOICE:
            return "list"
    return "string"


def _literal_kind(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "list" if isinstance(value, list) else "string"


def _literal_problems(survey: Survey, report: _Findings) -> set[tuple[str, int]]:
    """``unknown-choice`` and ``type-mismatch``; returns the (question, line) of the rules and show_ifs
    concerned, whose always-true/false findings would only repeat them."""
    concerned: set[tuple[str, int]] = set()
    for owner, expression, comparison in _comparisons(survey):
        line = _expression_line(owner, expression)
        sides = (comparison.left, comparison.right)
        for mine, other in (sides, sides[::-1]):
            if not isinstance(mine, Name) or not isinstance(other, Literal):
                continue
            target = survey.question(mine.id)
            items = other.value if isinstance(other.value, list) else [other.value]
            contained = comparison.op in ("in", "not in")
            member_of_list = contained and isinstance(other.value, list) and other is comparison.right
            kinds = {_literal_kind(v) for v in (items if member_of_list else [other.value])} - {None}
            expected = _kind(target)
            if target.type is QuestionType.MULTI_CHOICE and (contained or comparison.op in (None,)):
                expected = "string"
                kinds = {_literal_kind(v) for v in items} - {None}
            mismatched = kinds - {expected}
            if mismatched and comparison.op is not None:
                shown = other.value if not isinstance(other.value, str) else repr(other.value)
                report.add(
                    "type-mismatch",
                    line,
                    f"`{expression.source}` compares '{mine.id}' ({target.type}, stored as a {expected}) "
                    f"with {shown}: the comparison never holds as written",
                    owner.id,
                )
                concerned.add((owner.id, line))
                continue
            if target.type in CHOICE_TYPES:
                ids = {c.id for c in target.choices}
                for item in items:
                    if isinstance(item, str) and item not in ids:
                        report.add(
                            "unknown-choice",
                            line,
                            f"`{expression.source}` compares '{mine.id}' with {item!r}, which is none of its "
                            f"choice ids ({', '.join(sorted(ids))})",
                            owner.id,
                        )
                        concerned.add((owner.id, line))
    return concerned


def _expression_line(question: Question, expression: Expression) -> int:
    if question.show_if is expression:
        return question.line("show_if")
    for rule in question.next:
        if rule.condition is expression:
            return rule.line or question.line("next")
    return question.line()


def _choices(survey: Survey, report: _Findings, literals: Mapping[str, list[object]]) -> None:
    """``choice-not-distinguished``, ``duplicate-label``, ``ambiguous-label``."""
    for question in survey.questions:
        if question.type in CHOICE_TYPES:
            named = {c.id for c in question.choices} & {
                v for v in literals.get(question.id, []) if isinstance(v, str)
            }
            # Warned only where the rules tell named choices apart (a branch each), not where they
            # gather some choices against the rest (``dinner in ['yes', 'maybe']``).
            if len({_choice_outcomes(survey, question, i) for i in named}) >= 2:
                for choice in question.choices:
                    if choice.id not in named:
                        others = ", ".join(f"'{c.id}'" for c in question.choices if c.id in named)
                        report.add(
                            "choice-not-distinguished",
                            choice.line or question.line("choices"),
                            f"choice '{choice.id}' is named by no show_if or next rule, while {others} are: "
                            "it takes the path of an unnamed answer",
                            question.id,
                        )
        labels = [(c.label, c.line or question.line("choices")) for c in question.choices]
        labels += [(label, question.line("labels")) for label in question.labels.values()]
        first: dict[str, str] = {}
        for label, line in labels:
            normal = " ".join(label.casefold().split())
            if normal in first:
                report.add(
                    "duplicate-label",
                    line,
                    f"label {label!r} reads the same as {first[normal]!r}: "
                    "respondents cannot tell which is which",
                    question.id,
                )
            else:
                first[normal] = label
        ids = {c.id: n for n, c in enumerate(question.choices, 1)}
        for number, choice in enumerate(question.choices, 1):
            label = choice.label.strip()
            if (
                label.isascii()
                and label.isdigit()
                and 1 <= int(label) <= len(question.choices)
                and int(label) != number
            ):
                report.add(
                    "ambiguous-label",
                    choice.line or question.line("choices"),
                    f"choice {number} is labelled {label!r}: typing {label} picks choice {int(label)} "
                    "(typed numbers go by position)",
                    question.id,
                )
            elif ids.get(label.casefold(), number) != number:
                report.add(
                    "ambiguous-label",
                    choice.line or question.line("choices"),
                    f"choice {number} is labelled {label!r}, the id of choice {ids[label.casefold()]}: "
                    f"typing it picks choice {ids[label.casefold()]}",
                    question.id,
                )


def _choice_outcomes(survey: Survey, question: Question, choice_id: str) -> tuple[object, ...]:
    """What the comparisons naming ``question`` say when it is answered with the one choice."""
    value: AnswerValue = [choice_id] if question.type is QuestionType.MULTI_CHOICE else choice_id
    return tuple(
        _outcome(c, question.id, value) for _, _, c in _comparisons(survey) if question.id in c.names()
    )


def analyse(survey: Survey, max_states: int = MAX_STATES) -> Analysis:
    """Walk every path of ``survey`` and say what a respondent would stumble on (see :data:`CODES`);
    beyond ``max_states`` states, with one answer per question (``sampled``)."""
    walk = _Walk(survey, max_states)
    top = walk.walk(-1, {}, False)
    seen = walk.seen
    report = _Findings(survey)
    concerned = _literal_problems(survey, report)
    sampled = " in the sampled paths" if walk.sampled else ""
    for i, question in enumerate(survey.questions):
        show_if = seen.show_if.get(i, set())
        explained = (question.id, question.line("show_if")) in concerned
        if question.show_if is not None and not explained:
            if show_if == {False}:
                report.add(
                    "show-if-always-false",
                    question.line("show_if"),
                    f"show_if `{question.show_if.source}` is false on every path that comes here{sampled}: "
                    "the question is never asked",
                    question.id,
                )
            elif show_if == {True}:
                report.add(
                    "show-if-always-true",
                    question.line("show_if"),
                    f"show_if `{question.show_if.source}` is true on every path that comes here{sampled}: "
                    "it never hides the question",
                    question.id,
                )
        if i not in seen.asked and (show_if != {False} or explained):
            report.add(
                "unreachable",
                question.line("id"),
                f"no path reaches this question{sampled}: the rules before it always go past it",
                question.id,
            )
        elif i in seen.asked and i not in seen.asked_without_skip and question.required:
            report.add(
                "required-after-skip",
                question.line("id"),
                "this required question is asked only of respondents who skipped an optional question "
                "before it",
                question.id,
            )
        for number, rule in enumerate(question.next, 1):
            outcomes = seen.rules.get((i, number - 1), set())
            if rule.condition is None or (question.id, rule.line) in concerned or not outcomes:
                continue
            target = "the end" if rule.goto == END else f"'{rule.goto}'"
            if outcomes == {True}:
                later = " the rules after it never apply;" if number < len(question.next) else ""
                report.add(
                    "rule-always-true",
                    rule.line or question.line("next"),
                    f"next rule {number} `{rule.condition.source}` holds on every path{sampled}:{later} "
                    f"it always goes to {target}",
                    question.id,
                )
            elif outcomes == {False}:
                report.add(
                    "rule-always-false",
                    rule.line or question.line("next"),
                    f"next rule {number} `{rule.condition.source}` never holds{sampled}: it never goes to "
                    f"{target}",
                    question.id,
                )
    for (owner, where, line, name), why in seen.empty.items():
        reasons = " or ".join(sorted(why))
        report.add(
            "placeholder-unanswered",
            line,
            f"{where}: {{{name}}} is empty on some paths{sampled} ('{name}' is {reasons} there)",
            owner,
        )
    _choices(survey, report, walk.literals)
    listed = [walk.path_of(path) for path in top.paths]
    paths = PathReport(
        count=len(top.paths),
        more=top.more,
        sampled=walk.sampled,
        shortest=top.shortest,
        longest=top.longest,
        questions=tuple(asked for asked, _ in listed),
        answers=tuple(typed for _, typed in listed),
        states=len(walk.memo),
    )
    findings = sorted(report.found, key=lambda f: (f.line, f.code, f.message))
    return Analysis(paths, tuple(findings))
