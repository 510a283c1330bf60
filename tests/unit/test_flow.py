"""Branching: which question follows, from `next` rules and `show_if`."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from bot.flow import may_end_after, next_question
from bot.loader import load_text

SURVEY = load_text(
    textwrap.dedent(
        """
        id: flow
        title: Flow
        questions:
          - id: a
            type: number
            text: "A"
            next:
              - {if: "a < 0", goto: end}
              - {if: "a == 1", goto: d}
              - {if: "a >= 10 and a < 20", goto: c}
          - id: b
            type: yes_no
            text: "B"
            next:
              - {goto: e}
          - id: c
            type: text
            text: "C"
          - id: d
            type: text
            text: "D"
            show_if: "a != 1"
          - id: e
            type: single_choice
            text: E?
            choices: [x, y]
            show_if: "b or a >= 10"
        """
    ),
    "flow.yaml",
)


def following(after: str | None, **values: Any) -> str | None:
    question = next_question(SURVEY, after, values)
    return None if question is None else question.id


def test_the_start_is_the_first_question() -> None:
    assert following(None) == "a"


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (-5, None),  # goto end
        (1, None),  # goto d; d's show_if is false, and so is e's (b is null, a < 10): nothing is left
        (15, "c"),  # third rule
        (5, "b"),  # no rule holds: the question that follows in the file
    ],
)
def test_the_first_rule_that_holds_decides(a: int, expected: str | None) -> None:
    assert following("a", a=a) == expected


def test_an_unconditional_goto_jumps_over_questions() -> None:
    assert following("b", a=5, b=True) == "e"
    assert following("b", a=5, b=False) is None  # e's show_if is false, nothing is left


def test_show_if_passes_over_questions_that_follow_in_the_file() -> None:
    assert following("c", a=15) == "d"
    assert following("d", a=15) == "e"
    assert following("d", a=3, b=False) is None


def test_the_first_rule_wins_when_several_hold() -> None:
    survey = load_text(
        "id: x\ntitle: X\nquestions:\n"
        "  - {id: a, type: nps, text: A, next: [{if: 'a > 1', goto: c}, {if: 'a > 0', goto: b}]}\n"
        "  - {id: b, type: text, text: B}\n"
        "  - {id: c, type: text, text: C}\n",
        "x.yaml",
    )
    question = next_question(survey, "a", {"a": 5})
    assert question is not None and question.id == "c"


def test_which_questions_may_be_the_last() -> None:
    survey = load_text(
        """\
id: s
title: S
questions:
  - {id: a, type: yes_no, text: "A", next: [{if: "not a", goto: end}]}
  - {id: b, type: yes_no, text: "B"}
  - {id: c, type: yes_no, text: "C", show_if: "b"}
  - {id: d, type: yes_no, text: "D", show_if: "c"}
""",
        "s.yaml",
    )
    assert [q.id for q in survey.questions if may_end_after(survey, q.id)] == ["a", "b", "c", "d"]
    plain = load_text(
        "id: p\ntitle: P\nquestions:\n  - {id: x, type: yes_no, text: X}\n"
        "  - {id: y, type: yes_no, text: Y}\n",
        "p.yaml",
    )
    assert [q.id for q in plain.questions if may_end_after(plain, q.id)] == ["y"]
