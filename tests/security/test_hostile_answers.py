"""Out-of-range and hostile answers (issue 10): an integer beyond int64 failed in BSON ("something went
wrong"; the console exited), 309+ digit decimals were stored as ``inf`` (then the JSON export held
``Infinity``, charts answered 500 for good and results said "mean inf"), a 5,000-digit answer to a
choice crashed, NUL bytes and 3,000-character local parts passed as e-mail addresses. Every such answer
is now re-asked, and what is stored is finite and BSON-safe."""

from __future__ import annotations

import math

import bson
import pytest

from bot.answers import parse_answer
from bot.errors import InvalidAnswer
from bot.survey import Choice, Question, QuestionType

T = QuestionType


def question(kind: QuestionType, **fields: object) -> Question:
    choices = (Choice("a", "A"), Choice("b", "B")) if kind in (T.SINGLE_CHOICE, T.MULTI_CHOICE) else ()
    return Question(id="q", type=kind, text="Q?", choices=choices, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "fields", "text"),
    [
        (T.NUMBER, {"integer": True}, "9223372036854775808"),
        (T.NUMBER, {"integer": True}, "-99999999999999999999"),
        (T.NUMBER, {}, "1" + "0" * 309),
        (T.NUMBER, {}, "9" * 5000),
        (T.NUMBER, {}, "0." + "0" * 400 + "1"),
        (T.SINGLE_CHOICE, {}, "9" * 5000),
        (T.MULTI_CHOICE, {}, "1, " + "9" * 5000),
        (T.RATING, {}, "9" * 5000),
        (T.NPS, {}, "-" + "9" * 5000),
        (T.TEXT, {}, "before\x00after"),
        (T.EMAIL, {}, "ann\x00@example.com"),
        (T.EMAIL, {}, "x" * 3000 + "@example.com"),
        (T.EMAIL, {}, "ann@" + "a" * 300 + ".com"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_hostile_answers_are_re_asked(kind: QuestionType, fields: dict[str, object], text: str) -> None:
    with pytest.raises(InvalidAnswer):
        parse_answer(question(kind, **fields), text)


@pytest.mark.parametrize(
    ("kind", "fields", "text"),
    [
        (T.NUMBER, {"integer": True}, "9223372036854775807"),
        (T.NUMBER, {"integer": True}, "-9223372036854775807"),
        (T.NUMBER, {}, "1e3".replace("e3", "000")),
        (T.NUMBER, {}, "0." + "0" * 20 + "1"),
        (T.EMAIL, {}, "José.Pérez@Exämple.COM"),
        (T.EMAIL, {}, "ann@пример.рф"),
        (T.TEXT, {}, "tab\tand newline\nare fine"),
    ],
)
def test_edge_answers_are_stored_finite_and_bson_safe(
    kind: QuestionType, fields: dict[str, object], text: str
) -> None:
    value = parse_answer(question(kind, **fields), text)
    if isinstance(value, float):
        assert math.isfinite(value)
    assert bson.decode(bson.encode({"v": value}))["v"] == value


def test_an_internationalised_address_keeps_its_form_with_the_domain_lowered() -> None:
    assert parse_answer(question(T.EMAIL), "José.Pérez@Exämple.COM") == "José.Pérez@exämple.com"


@pytest.mark.parametrize(
    "text", ["abc\udcff", "\ud800", "x\x00"], ids=["undecodable-byte", "json-escape", "nul"]
)
def test_text_no_store_can_encode_is_re_asked(text: str) -> None:
    for kind in (T.TEXT, T.EMAIL, T.SINGLE_CHOICE):
        with pytest.raises(InvalidAnswer, match="without control characters"):
            parse_answer(question(kind), text)
