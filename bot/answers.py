"""Typed answers: parse and validate what a respondent wrote, per the types table of the format page.

:func:`parse_answer` returns the value to store or raises :class:`InvalidAnswer` with a default message
saying what is accepted (the engine shows the question's own ``error`` instead when the survey sets one).
Hints, messages and yes/no words are in the language of the :class:`~bot.i18n.Translation` given,
English by default.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import string
import unicodedata
from collections.abc import Callable
from decimal import Decimal

import email_validator

from bot import patterns
from bot.errors import InvalidAnswer
from bot.i18n import ENGLISH, N_, Translation
from bot.responses import AnswerValue
from bot.survey import Question, QuestionType

log = logging.getLogger("surveybot.answers")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)", re.ASCII)
_WHOLE = re.compile(r"[+-]?\d+", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TOP_LEVEL = re.compile(r"[^\W\d_]{2,}|xn--[a-z0-9-]+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DIGITS = 30
"""Digits beyond which a typed number is not even converted (a 5,000-digit answer raised in int())."""
INT64 = 2**63 - 1
_WORDS = re.compile(r"[\s,;:.!?¡¿]+")


def _normal(text: str) -> str:
    """Case and spacing folded away, for comparing what was typed with ids and labels."""
    return " ".join(text.split()).casefold()


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def parse_choice_index(question: Question, token: str) -> int | None:
    """The 0-based index of the choice that ``token`` names (its 1-based number, id or label), or None."""
    wanted = _normal(token)
    if (
        wanted.isascii()
        and wanted.isdigit()
        and len(wanted) <= 6
        and 1 <= int(wanted) <= len(question.choices)
    ):
        return int(wanted) - 1
    for names in ([c.id for c in question.choices], [c.label for c in question.choices]):
        for index, name in enumerate(names):
            if _normal(name) == wanted:
                return index
    return None


def rating_bounds(question: Question) -> tuple[int, int]:
    """The lowest and highest accepted value of a rating (default 1 to 5) or nps (always 0 to 10)."""
    if question.type is QuestionType.NPS:
        return 0, 10
    low = 1 if question.min_value is None else int(question.min_value)
    high = 5 if question.max_value is None else int(question.max_value)
    return low, high


def hint(question: Question, t: Translation = ENGLISH) -> str:
    """One sentence telling how to answer ``question`` by typing, in ``t``'s language; empty for free
    text."""
    match question.type:
        case QuestionType.SINGLE_CHOICE:
            return t.gettext("Please reply with the number corresponding to your choice.")
        case QuestionType.MULTI_CHOICE:
            return _multi_choice_hint(question, t)
        case QuestionType.RATING:
            low, high = rating_bounds(question)
            return t.gettext("Please reply with a number from {low} to {high}.").format(low=low, high=high)
        case QuestionType.NPS:
            return t.gettext(
                "Please reply with a number from 0 (not at all likely) to 10 (extremely likely)."
            )
        case QuestionType.YES_NO:
            return t.gettext("Please reply yes or no.")
        case QuestionType.DATE:
            return _date_hint(question, t)
        case QuestionType.EMAIL:
            return t.gettext("Please reply with your e-mail address.")
        case QuestionType.NUMBER:
            return _number_hint(question, t)
    return ""


def _multi_choice_hint(question: Question, t: Translation) -> str:
    low = question.min_choices if question.min_choices > 1 else None
    high = question.max_choices
    if low is not None and high is not None:
        return t.gettext(
            "Please reply with the numbers of your choices, separated by commas (choose {low} to {high})."
        ).format(low=low, high=high)
    if low is not None:
        return t.ngettext(
            "Please reply with the numbers of your choices, separated by commas (choose at least {n}).",
            "Please reply with the numbers of your choices, separated by commas (choose at least {n}).",
            low,
        ).format(n=low)
    if high is not None:
        return t.ngettext(
            "Please reply with the numbers of your choices, separated by commas (choose at most {n}).",
            "Please reply with the numbers of your choices, separated by commas (choose at most {n}).",
            high,
        ).format(n=high)
    return t.gettext("Please reply with the numbers of your choices, separated by commas.")


def _span(
    t: Translation, low: str | None, high: str | None, both: str, least: str, most: str, bare: str
) -> str:
    """The one of four whole sentences (a translator words each) that fits the bounds given."""
    if low is not None and high is not None:
        text = both
    elif low is not None:
        text = least
    elif high is not None:
        text = most
    else:
        text = bare
    return t.gettext(text).format(low=low, high=high)


def _number_hint(question: Question, t: Translation) -> str:
    low = None if question.min_value is None else _fmt(question.min_value)
    high = None if question.max_value is None else _fmt(question.max_value)
    if question.integer:
        return _span(
            t,
            low,
            high,
            N_("Please reply with a whole number from {low} to {high}."),
            N_("Please reply with a whole number of at least {low}."),
            N_("Please reply with a whole number of at most {high}."),
            N_("Please reply with a whole number."),
        )
    return _span(
        t,
        low,
        high,
        N_("Please reply with a number from {low} to {high}."),
        N_("Please reply with a number of at least {low}."),
        N_("Please reply with a number of at most {high}."),
        N_("Please reply with a number."),
    )


def _date_hint(question: Question, t: Translation) -> str:
    return _span(
        t,
        question.min_date,
        question.max_date,
        N_("Please reply with a date from {low} to {high} as YYYY-MM-DD."),
        N_("Please reply with a date on or after {low} as YYYY-MM-DD."),
        N_("Please reply with a date on or before {high} as YYYY-MM-DD."),
        N_("Please reply with a date as YYYY-MM-DD."),
    )


def _date_refused(question: Question, t: Translation) -> str:
    return _span(
        t,
        question.min_date,
        question.max_date,
        N_("Please reply with a real date from {low} to {high} as YYYY-MM-DD."),
        N_("Please reply with a real date on or after {low} as YYYY-MM-DD."),
        N_("Please reply with a real date on or before {high} as YYYY-MM-DD."),
        N_("Please reply with a real date as YYYY-MM-DD."),
    )


def _text(question: Question, text: str, t: Translation) -> str:
    if not text:
        raise InvalidAnswer(t.gettext("Please reply with some text."))
    if question.min_length is not None and len(text) < question.min_length:
        raise InvalidAnswer(
            t.ngettext(
                "Please reply with at least {n} character (yours has {count}).",
                "Please reply with at least {n} characters (yours has {count}).",
                question.min_length,
            ).format(n=question.min_length, count=len(text))
        )
    if len(text) > question.max_length:
        raise InvalidAnswer(
            t.ngettext(
                "Please reply with at most {n} character (yours has {count}).",
                "Please reply with at most {n} characters (yours has {count}).",
                question.max_length,
            ).format(n=question.max_length, count=len(text))
        )
    if question.pattern is not None:
        try:
            matched = patterns.fullmatch(question.pattern, text)
        except patterns.PatternTimeout:
            log.warning(
                "question %r: its pattern took too long on an answer; the answer is re-asked", question.id
            )
            matched = False
        if not matched:
            raise InvalidAnswer(t.gettext("Please reply in the expected format."))
    return text


def _number(question: Question, text: str, t: Translation) -> int | float:
    """Finite, and a whole number within 64 bits (what BSON stores): beyond, it is re-asked."""
    if _NUMBER.fullmatch(text) is None or sum(c.isdigit() for c in text) > MAX_DIGITS:
        raise InvalidAnswer(_number_hint(question, t))
    exact = Decimal(text.replace(",", "."))
    if question.integer and exact != exact.to_integral_value():
        raise InvalidAnswer(_number_hint(question, t))
    value = int(exact) if question.integer else float(exact)
    if not math.isfinite(value) or abs(value) > INT64:
        raise InvalidAnswer(_number_hint(question, t))
    if (question.min_value is not None and value < question.min_value) or (
        question.max_value is not None and value > question.max_value
    ):
        raise InvalidAnswer(_number_hint(question, t))
    return value


def _single_choice(question: Question, text: str, t: Translation) -> str:
    index = parse_choice_index(question, text)
    if index is None:
        raise InvalidAnswer(
            t.gettext("Please reply with the number of your choice (1-{count}), or its name.").format(
                count=len(question.choices)
            )
        )
    return question.choices[index].id


def _multi_choice(question: Question, text: str, t: Translation) -> list[str]:
    picked: set[int] = set()
    unknown: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        whole = parse_choice_index(question, part)
        if whole is not None:
            picked.add(whole)
            continue
        tokens = {token: parse_choice_index(question, token) for token in part.split()}
        known = {index for index in tokens.values() if index is not None}
        # Name the unknown words, or the whole part when none of it is known ("dark chocolat").
        unknown.extend([t for t, index in tokens.items() if index is None] if known else [part])
        picked |= known
    usage = t.gettext("Please reply with the numbers of your choices (1-{count}), separated by commas.")
    usage = usage.format(count=len(question.choices))
    if unknown:
        names = ", ".join(f"'{u}'" for u in unknown)
        # Translators: {names} are the words typed that name no choice, each in quotes: 'x', 'y'.
        raise InvalidAnswer(t.gettext("I don't know {names}.").format(names=names) + " " + usage)
    if not picked and question.min_choices > 0:
        raise InvalidAnswer(usage)
    if len(picked) < question.min_choices:
        raise InvalidAnswer(
            t.ngettext(
                "Please choose at least {n} of the options.",
                "Please choose at least {n} of the options.",
                question.min_choices,
            ).format(n=question.min_choices)
        )
    if question.max_choices is not None and len(picked) > question.max_choices:
        raise InvalidAnswer(
            t.ngettext(
                "Please choose at most {n} of the options.",
                "Please choose at most {n} of the options.",
                question.max_choices,
            ).format(n=question.max_choices)
        )
    return [question.choices[i].id for i in sorted(picked)]


def _scale(question: Question, text: str, t: Translation) -> int:
    low, high = rating_bounds(question)
    for value, label in question.labels.items():
        if _normal(label) == _normal(text):
            return value
    if _WHOLE.fullmatch(text) is not None and len(text) <= MAX_DIGITS and low <= int(text) <= high:
        return int(text)
    raise InvalidAnswer(
        t.gettext("Please reply with a whole number from {low} to {high}.").format(low=low, high=high)
    )


def _yes_no(question: Question, text: str, t: Translation) -> bool:
    """The first word, read as yes or no in ``t``'s language or in English ("Sí, claro", "no, thanks")."""
    first = _strip_punctuation(next((w for w in _WORDS.split(text) if w), ""))
    answer = t.yes_no(first)
    if answer is None:
        raise InvalidAnswer(t.gettext("Please reply yes or no."))
    return answer


def _strip_punctuation(word: str) -> str:
    """``word`` without punctuation at either end: ASCII's, and quotes and marks like « » „ “ ¡ ¿."""
    start, end = 0, len(word)
    while start < end and _punctuation(word[start]):
        start += 1
    while end > start and _punctuation(word[end - 1]):
        end -= 1
    return word[start:end]


def _punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def _is_date(text: str) -> bool:
    if _DATE.fullmatch(text) is None:
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _date(question: Question, text: str, t: Translation) -> str:
    if (
        not _is_date(text)
        or (question.min_date is not None and text < question.min_date)
        or (question.max_date is not None and text > question.max_date)
    ):
        raise InvalidAnswer(_date_refused(question, t))
    return text


def _email(question: Question, text: str, t: Translation) -> str:
    """Checked by email-validator (syntax, lengths, internationalised domains; no DNS), and a top-level
    domain of two letters at least; stored in its normal form, the domain in lower case."""
    try:
        checked = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError:
        checked = None
    if checked is None or not _TOP_LEVEL.fullmatch(checked.domain.rpartition(".")[2]):
        raise InvalidAnswer(t.gettext("Please reply with a valid e-mail address, like name@example.com."))
    return str(checked.normalized)


_PARSERS: dict[QuestionType, Callable[[Question, str, Translation], AnswerValue]] = {
    QuestionType.TEXT: _text,
    QuestionType.NUMBER: _number,
    QuestionType.SINGLE_CHOICE: _single_choice,
    QuestionType.MULTI_CHOICE: _multi_choice,
    QuestionType.RATING: _scale,
    QuestionType.NPS: _scale,
    QuestionType.YES_NO: _yes_no,
    QuestionType.DATE: _date,
    QuestionType.EMAIL: _email,
}


def parse_answer(question: Question, text: str, t: Translation = ENGLISH) -> AnswerValue:
    """The value to store for ``text`` typed in answer to ``question``; raise :class:`InvalidAnswer`
    saying, in ``t``'s language, what is accepted. Yes and no are read in that language and English.

    Whitespace and invisible format characters (zero-width spaces and joiners, direction marks, a
    byte-order mark) around the text are not part of the answer: text made only of them is empty."""
    if _UNSTORABLE.search(text):  # NUL, or a lone surrogate (undecodable bytes; a JSON "\\udc80")
        raise InvalidAnswer(t.gettext("Please reply without control characters."))
    return _PARSERS[question.type](question, strip_invisible(text), t)


def strip_invisible(text: str) -> str:
    """``text`` without whitespace and Unicode format characters (category Cf) at either end; those
    inside (a zero-width joiner in an emoji sequence) stay."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def display(question: Question, value: object, t: Translation = ENGLISH) -> str:
    """How an answer reads in a ``{ID}`` placeholder: labels for choices, yes/no (in ``t``'s language),
    "" when unanswered."""
    if value is None:
        return ""
    if isinstance(value, bool):
        if value:
            # Translators: a yes answer as it reads in a survey's text, in place of {ID}.
            return t.gettext("yes")
        # Translators: a no answer as it reads in a survey's text, in place of {ID}.
        return t.gettext("no")
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, str) and question.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE):
        choice = question.choice(value)
        return choice.label if choice is not None else value
    if isinstance(value, list | tuple):
        return ", ".join(display(question, item, t) for item in value)
    return str(value)
