"""Typed answers: what each question type accepts, refuses, stores, displays and hints."""

from __future__ import annotations

from typing import Any

import pytest

from bot.answers import display, hint, parse_answer, parse_choice_index, rating_bounds
from bot.errors import InvalidAnswer
from bot.survey import Choice, Question, QuestionType

T = QuestionType


def q(type_: QuestionType, **fields: Any) -> Question:
    return Question(id="q", type=type_, text="?", **fields)


FLAVOURS = (
    Choice("vanilla", "Vanilla"),
    Choice("dark_chocolate", "Dark chocolate"),
    Choice("strawberry", "Strawberry"),
)
SINGLE = q(T.SINGLE_CHOICE, choices=FLAVOURS)
MULTI = q(T.MULTI_CHOICE, choices=FLAVOURS)


def refused(question: Question, text: str) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(question, text)
    return str(caught.value)


# text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hello", "hello"), ("  spaced out  ", "spaced out"), ("back", "back"), ("multi\nline", "multi\nline")],
)
def test_text_is_stored_trimmed(text: str, expected: str) -> None:
    assert parse_answer(q(T.TEXT), text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_text_refuses_empty(text: str) -> None:
    assert refused(q(T.TEXT), text) == "Please reply with some text."


def test_text_lengths_count_the_trimmed_text() -> None:
    question = q(T.TEXT, min_length=3, max_length=5)
    assert parse_answer(question, "  abc  ") == "abc"
    assert parse_answer(question, "abcde") == "abcde"
    assert refused(question, "  ab  ") == "Please reply with at least 3 characters (yours has 2)."
    assert refused(question, "abcdef") == "Please reply with at most 5 characters (yours has 6)."


def test_text_default_max_length_is_2000() -> None:
    assert parse_answer(q(T.TEXT), "x" * 2000) == "x" * 2000
    assert "at most 2000" in refused(q(T.TEXT), "x" * 2001)


@pytest.mark.parametrize(
    ("text", "ok"), [("AB-123", True), (" AB-123 ", True), ("AB-1234", False), ("xAB-123", False)]
)
def test_text_pattern_must_match_whole_answer(text: str, ok: bool) -> None:
    question = q(T.TEXT, pattern=r"[A-Z]{2}-\d{3}")
    if ok:
        assert parse_answer(question, text) == text.strip()
    else:
        assert refused(question, text) == "Please reply in the expected format."


# number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42.0),
        ("-3", -3.0),
        ("2.5", 2.5),
        ("1,5", 1.5),
        ("  7  ", 7.0),
        ("+4", 4.0),
        ("0", 0.0),
        ("-0,25", -0.25),
        (".5", 0.5),
    ],
)
def test_number_accepts(text: str, expected: float) -> None:
    value = parse_answer(q(T.NUMBER), text)
    assert value == expected
    assert type(value) is float


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "infinity",
        "1e5",
        "1.2.3",
        "1,5,0",
        "--3",
        "4 5",
        "3a",
        "½",
        "٣",
    ],
)
def test_number_refuses(text: str) -> None:
    assert refused(q(T.NUMBER), text) == "Please reply with a number."


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2), ("2.0", 2), ("-3", -3), ("4,00", 4), ("9223372036854775807", 2**63 - 1)],
)
def test_integer_number_is_stored_as_int(text: str, expected: int) -> None:
    value = parse_answer(q(T.NUMBER, integer=True), text)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("text", ["2.5", "1,5", "0.1"])
def test_integer_number_refuses_fractions(text: str) -> None:
    assert refused(q(T.NUMBER, integer=True), text) == "Please reply with a whole number."


@pytest.mark.parametrize(
    ("fields", "text", "ok", "message"),
    [
        ({"min_value": 0.0, "max_value": 10.0}, "0", True, ""),
        ({"min_value": 0.0, "max_value": 10.0}, "10", True, ""),
        ({"min_value": 0.0, "max_value": 10.0}, "-1", False, "Please reply with a number from 0 to 10."),
        ({"min_value": 0.0, "max_value": 10.0}, "10.5", False, "Please reply with a number from 0 to 10."),
        ({"min_value": 1.5}, "1,4", False, "Please reply with a number of at least 1.5."),
        ({"max_value": -1.0}, "-1", True, ""),
        ({"max_value": -1.0}, "0", False, "Please reply with a number of at most -1."),
        ({"min_value": -5.0, "integer": True}, "-5", True, ""),
        (
            {"min_value": 1.0, "max_value": 3.0, "integer": True},
            "4",
            False,
            "Please reply with a whole number from 1 to 3.",
        ),
    ],
)
def test_number_bounds_are_inclusive(fields: dict[str, Any], text: str, ok: bool, message: str) -> None:
    question = q(T.NUMBER, **fields)
    if ok:
        assert parse_answer(question, text) == float(text.replace(",", "."))
    else:
        assert refused(question, text) == message


# single_choice


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "vanilla"),
        ("2", "dark_chocolate"),
        (" 3 ", "strawberry"),
        ("vanilla", "vanilla"),
        ("DARK_CHOCOLATE", "dark_chocolate"),
        ("Dark chocolate", "dark_chocolate"),
        ("  dark   CHOCOLATE ", "dark_chocolate"),
        ("strawberry", "strawberry"),
    ],
)
def test_single_choice_accepts_number_id_or_label(text: str, expected: str) -> None:
    assert parse_answer(SINGLE, text) == expected


@pytest.mark.parametrize("text", ["", "0", "4", "-1", "1 2", "1,2", "chocolate", "dark", "+1"])
def test_single_choice_refuses(text: str) -> None:
    assert refused(SINGLE, text) == "Please reply with the number of your choice (1-3), or its name."


def test_choice_number_wins_over_a_numeric_label_but_labels_still_work_beyond_the_range() -> None:
    years = q(T.SINGLE_CHOICE, choices=(Choice("y2023", "2023"), Choice("y2", "1")))
    assert parse_answer(years, "2023") == "y2023"
    assert parse_answer(years, "1") == "y2023"  # the number shown beside the first choice
    assert parse_answer(years, "2") == "y2"


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1", 0),
        ("3", 2),
        ("Strawberry", 2),
        ("vanilla", 0),
        ("dark chocolate", 1),
        ("4", None),
        ("", None),
        ("x", None),
    ],
)
def test_parse_choice_index(token: str, expected: int | None) -> None:
    assert parse_choice_index(SINGLE, token) == expected
    assert parse_choice_index(MULTI, token) == expected


# multi_choice


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", ["vanilla"]),
        ("1,3", ["vanilla", "strawberry"]),
        ("3, 1", ["vanilla", "strawberry"]),
        ("3 1", ["vanilla", "strawberry"]),
        ("1 2 3", ["vanilla", "dark_chocolate", "strawberry"]),
        ("2,2, 2", ["dark_chocolate"]),
        ("Dark chocolate, vanilla", ["vanilla", "dark_chocolate"]),
        ("strawberry dark_chocolate", ["dark_chocolate", "strawberry"]),
        ("1 , , 3,", ["vanilla", "strawberry"]),
        ("STRAWBERRY,1 2", ["vanilla", "dark_chocolate", "strawberry"]),
    ],
)
def test_multi_choice_accepts(text: str, expected: list[str]) -> None:
    assert parse_answer(MULTI, text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1, 4",
            "I don't know '4'. Please reply with the numbers of your choices (1-3), separated by commas.",
        ),
        ("mint", "I don't know 'mint'."),
        ("1 mint 2 lemon", "I don't know 'mint', 'lemon'."),
        ("dark chocolat", "I don't know 'dark chocolat'."),
        ("1 chocolat", "I don't know 'chocolat'."),
        ("mint, lemon", "I don't know 'mint', 'lemon'."),
        ("", "Please reply with the numbers of your choices (1-3), separated by commas."),
        (" , ", "Please reply with the numbers of your choices (1-3), separated by commas."),
    ],
)
def test_multi_choice_refuses_unknown_pieces(text: str, message: str) -> None:
    assert refused(MULTI, text).startswith(message)


def test_multi_choice_limits() -> None:
    question = q(T.MULTI_CHOICE, choices=FLAVOURS, min_choices=2, max_choices=2)
    assert parse_answer(question, "1 3") == ["vanilla", "strawberry"]
    assert refused(question, "1") == "Please choose at least 2 of the options."
    assert refused(question, "1, 1") == "Please choose at least 2 of the options."
    assert refused(question, "1 2 3") == "Please choose at most 2 of the options."


# rating / nps


@pytest.mark.parametrize(
    ("text", "expected"), [("1", 1), ("3", 3), (" 5 ", 5), ("Great", 5), ("  awful ", 1)]
)
def test_rating_accepts_whole_numbers_and_labels(text: str, expected: int) -> None:
    question = q(T.RATING, min_value=1.0, max_value=5.0, labels={1: "Awful", 5: "Great"})
    value = parse_answer(question, text)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("text", ["0", "6", "-1", "2.5", "3.0", "three", "", "ok"])
def test_rating_refuses(text: str) -> None:
    question = q(T.RATING, min_value=1.0, max_value=5.0, labels={1: "Awful", 5: "Great"})
    assert refused(question, text) == "Please reply with a whole number from 1 to 5."


def test_rating_defaults_and_custom_bounds() -> None:
    assert rating_bounds(q(T.RATING)) == (1, 5)
    assert rating_bounds(q(T.RATING, min_value=0.0, max_value=10.0)) == (0, 10)
    assert rating_bounds(q(T.NPS, min_value=1.0, max_value=5.0)) == (0, 10)
    assert parse_answer(q(T.RATING), "5") == 5
    assert refused(q(T.RATING), "6") == "Please reply with a whole number from 1 to 5."
    assert parse_answer(q(T.RATING, min_value=0.0, max_value=10.0), "0") == 0


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("7", 7), ("10", 10), (" 9 ", 9)])
def test_nps_accepts(text: str, expected: int) -> None:
    assert parse_answer(q(T.NPS), text) == expected


@pytest.mark.parametrize("text", ["-1", "11", "5.5", "ten", ""])
def test_nps_refuses(text: str) -> None:
    assert refused(q(T.NPS), text) == "Please reply with a whole number from 0 to 10."


# yes_no


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("yes please", True),
        ("Yes!", True),
        ("  y, sure", True),
        ("no", False),
        ("No", False),
        ("n", False),
        ("false", False),
        ("No, thank you.", False),
        ("no.", False),
        ("'no'", False),
        ("no,thanks", False),
    ],
)
def test_yes_no_accepts(text: str, expected: bool) -> None:
    assert parse_answer(q(T.YES_NO), text) is expected


@pytest.mark.parametrize(
    "text", ["", "maybe", "yeah", "nope", "not really", "1", "0", "I said yes", "yes-ish"]
)
def test_yes_no_refuses(text: str) -> None:
    assert refused(q(T.YES_NO), text) == "Please reply yes or no."


# date


@pytest.mark.parametrize("text", ["2024-02-29", "1999-12-31", " 2025-01-01 "])
def test_date_accepts_real_iso_dates(text: str) -> None:
    assert parse_answer(q(T.DATE), text) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-1-5",
        "20240105",
        "05/01/2024",
        "2024-01-05T10:00",
        "",
        "today",
    ],
)
def test_date_refuses(text: str) -> None:
    assert refused(q(T.DATE), text) == "Please reply with a real date as YYYY-MM-DD."


def test_date_bounds_are_inclusive() -> None:
    question = q(T.DATE, min_date="2024-01-01", max_date="2024-12-31")
    assert parse_answer(question, "2024-01-01") == "2024-01-01"
    assert parse_answer(question, "2024-12-31") == "2024-12-31"
    message = "Please reply with a real date from 2024-01-01 to 2024-12-31 as YYYY-MM-DD."
    assert refused(question, "2023-12-31") == message
    assert refused(question, "2025-01-01") == message
    assert "on or after 2024-01-01" in refused(q(T.DATE, min_date="2024-01-01"), "2020-01-01")
    assert "on or before 2024-01-01" in refused(q(T.DATE, max_date="2024-01-01"), "2030-01-01")


# email


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM ", "Ann.Lee@example.com"),
        ("a+tag@mail.example.co.uk", "a+tag@mail.example.co.uk"),
        ("x@my-host.io", "x@my-host.io"),
        ("o'neil@d1.example.org", "o'neil@d1.example.org"),
    ],
)
def test_email_accepts_and_lowercases_the_domain(text: str, expected: str) -> None:
    assert parse_answer(q(T.EMAIL), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "a@b@example.com",
        "ann lee@example.com",
        "ann@exa mple.com",
        "ann@example.c",
        "ann@example.c0m",
        "ann@-example.com",
        "ann@example-.com",
        "ann@exa_mple.com",
        "ann@example..com",
        "ann@.example.com",
    ],
)
def test_email_refuses(text: str) -> None:
    assert refused(q(T.EMAIL), text) == "Please reply with a valid e-mail address, like name@example.com."


# display


@pytest.mark.parametrize(
    ("question", "value", "expected"),
    [
        (SINGLE, "dark_chocolate", "Dark chocolate"),
        (SINGLE, "gone", "gone"),
        (MULTI, ["vanilla", "strawberry"], "Vanilla, Strawberry"),
        (MULTI, [], ""),
        (q(T.YES_NO), True, "yes"),
        (q(T.YES_NO), False, "no"),
        (q(T.TEXT), None, ""),
        (SINGLE, None, ""),
        (q(T.NUMBER), 2.0, "2"),
        (q(T.NUMBER), 2.5, "2.5"),
        (q(T.NUMBER), -3.0, "-3"),
        (q(T.NUMBER, integer=True), 7, "7"),
        (q(T.RATING), 4, "4"),
        (q(T.NPS), 0, "0"),
        (q(T.TEXT), "vanilla", "vanilla"),
        (q(T.DATE), "2024-01-01", "2024-01-01"),
        (q(T.EMAIL), "a@b.co", "a@b.co"),
    ],
)
def test_display(question: Question, value: object, expected: str) -> None:
    assert display(question, value) == expected


# hint


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (SINGLE, "Please reply with the number corresponding to your choice."),
        (MULTI, "Please reply with the numbers of your choices, separated by commas."),
        (
            q(T.MULTI_CHOICE, choices=FLAVOURS, min_choices=2, max_choices=3),
            "Please reply with the numbers of your choices, separated by commas (choose 2 to 3).",
        ),
        (
            q(T.MULTI_CHOICE, choices=FLAVOURS, max_choices=2),
            "Please reply with the numbers of your choices, separated by commas (choose at most 2).",
        ),
        (
            q(T.MULTI_CHOICE, choices=FLAVOURS, min_choices=2),
            "Please reply with the numbers of your choices, separated by commas (choose at least 2).",
        ),
        (q(T.RATING), "Please reply with a number from 1 to 5."),
        (q(T.RATING, min_value=0.0, max_value=10.0), "Please reply with a number from 0 to 10."),
        (q(T.NPS), "Please reply with a number from 0 (not at all likely) to 10 (extremely likely)."),
        (q(T.YES_NO), "Please reply yes or no."),
        (q(T.DATE), "Please reply with a date as YYYY-MM-DD."),
        (q(T.EMAIL), "Please reply with your e-mail address."),
        (q(T.NUMBER), "Please reply with a number."),
        (q(T.NUMBER, integer=True), "Please reply with a whole number."),
        (q(T.NUMBER, min_value=0.0, max_value=2.5), "Please reply with a number from 0 to 2.5."),
        (q(T.NUMBER, integer=True, min_value=18.0), "Please reply with a whole number of at least 18."),
        (q(T.TEXT), ""),
        (q(T.TEXT, max_length=10), ""),
    ],
)
def test_hint(question: Question, expected: str) -> None:
    assert hint(question) == expected
