"""Button values: encoded and decoded in one place, never parsed by adapters."""

from __future__ import annotations

import pytest

from bot.actions import Press, decode
from bot.messages import Role


@pytest.mark.parametrize(
    "press",
    [
        Press(Role.ANSWER, "41c41d", "flavour", 1),
        Press(Role.TOGGLE, "41c41d", "toppings", 12),
        Press(Role.SUBMIT, "41c41d", "toppings"),
    ],
)
def test_a_press_survives_its_value(press: Press) -> None:
    assert decode(press.encode()) == press


def test_the_values_are_the_documented_ones() -> None:
    assert Press(Role.ANSWER, "41c41d", "flavour", 1).encode() == "a:41c41d:flavour:1"
    assert Press(Role.SUBMIT, "41c41d", "toppings").encode() == "d:41c41d:toppings"


@pytest.mark.parametrize(
    "value", ["", "/back", "/start ice-cream", "x:1:q:0", "a:1:q:one", "a:1", "a:1:q:0:9"]
)
def test_what_is_not_an_answer_button_decodes_to_nothing(value: str) -> None:
    assert decode(value) is None
