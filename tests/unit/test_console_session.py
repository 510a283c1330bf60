"""The web console's pure parts: signed sessions, CSRF tokens, YAML annotated at its lines, the filters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from adapters.web.console import (
    SESSION_SECONDS,
    Refusal,
    ResponseFilter,
    annotate,
    csrf_token,
    new_session,
    response_filter,
    session_key,
    shown,
    valid_session,
)
from bot.errors import DefinitionError
from bot.loader import load_bytes
from bot.responses import Status

KEY = session_key("a-token-of-at-least-24-characters")
NOW = 1_800_000_000.0


def test_a_session_is_valid_until_it_expires() -> None:
    value = new_session(KEY, NOW)
    assert valid_session(KEY, value, NOW)
    assert valid_session(KEY, value, NOW + SESSION_SECONDS - 1)
    assert not valid_session(KEY, value, NOW + SESSION_SECONDS)


def test_a_session_of_another_token_or_a_tampered_one_is_refused() -> None:
    value = new_session(KEY, NOW)
    assert not valid_session(session_key("another-token-of-24-characters!"), value, NOW)
    expires, nonce, mac = value.split(".")
    later = str(int(expires) + 10 * SESSION_SECONDS)
    assert not valid_session(KEY, f"{later}.{nonce}.{mac}", NOW), "a longer life cannot be written in"
    assert not valid_session(KEY, f"{expires}.{nonce[::-1]}.{mac}", NOW)
    for garbage in ("", ".", "..", "1.2", "x.y.z", f"{expires}..{mac}", f"-1.{nonce}.{mac}", value + "0"):
        assert not valid_session(KEY, garbage, NOW), garbage


def test_each_session_has_its_own_csrf_token() -> None:
    one, two = new_session(KEY, NOW), new_session(KEY, NOW)
    assert one != two
    assert csrf_token(KEY, one) != csrf_token(KEY, two)
    assert csrf_token(KEY, one) == csrf_token(KEY, one)
    assert csrf_token(session_key("another-token-of-24-characters!"), one) != csrf_token(KEY, one)


def test_notes_go_under_their_line_and_none_is_lost() -> None:
    lines = annotate("a: 1\r\nb: 2\nc: 3\n", [(2, "two"), (0, "before"), (9, "after"), (2, "again")])
    assert [(line.number, line.text, line.notes) for line in lines] == [
        (1, "a: 1", ("before",)),
        (2, "b: 2", ("two", "again")),
        (3, "c: 3", ("after",)),
    ]
    assert [line.text for line in annotate("", [])] == [""]
    assert [line.text for line in annotate("x\n\n", [])] == ["x", ""], "an empty last line is a line"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_the_lines_are_those_the_loader_counts(newline: str) -> None:
    text = newline.join(
        [
            "id: lunch",
            "title: Lunch \u2028 today",  # PyYAML breaks lines here too
            "questions:",
            "  - id: dish",
            "    type: single_choice",
            "    text: Dish?",
            "    choices: [Soup]",
            "",
        ]
    )
    with pytest.raises(DefinitionError) as refused:
        load_bytes(text.encode(), "lunch.yaml")
    [problem] = refused.value.problems
    [flagged] = [line for line in annotate(text, [(problem.line, str(problem))]) if line.notes]
    assert flagged.text == "    choices: [Soup]"


def test_filters_as_a_form_sends_them() -> None:
    assert response_filter("", "", "") == ResponseFilter()
    chosen = response_filter("completed", "2025-05-01", "2025-05-03")
    assert chosen == ResponseFilter(Status.COMPLETED, date(2025, 5, 1), date(2025, 5, 3))
    assert chosen.since == datetime(2025, 5, 1, tzinfo=UTC)
    assert chosen.keeps(datetime(2025, 5, 3, 23, 59, 59, 999000, tzinfo=UTC)), "the last day is in"
    assert not chosen.keeps(datetime(2025, 5, 4, tzinfo=UTC))
    assert chosen.query(page=2) == "status=completed&from=2025-05-01&to=2025-05-03&page=2"
    assert ResponseFilter(end=date(2025, 5, 3)).query() == "to=2025-05-03"
    for bad in (("done", "", ""), ("", "May 1st", ""), ("", "", "2025-13-01")):
        with pytest.raises(Refusal) as refused:
            response_filter(*bad)
        assert refused.value.status == 400


def test_cells_read_plainly() -> None:
    assert [shown(v) for v in (None, True, False, 3, 2.5, ["a", "b"], "text")] == [
        "",
        "yes",
        "no",
        "3",
        "2.5",
        "a, b",
        "text",
    ]
    assert shown(datetime(2025, 5, 1, 12, 30, 15, tzinfo=UTC)) == "2025-05-01 12:30"
