"""Placeholders: finding names, rendering without str.format, refusing malformed braces."""

from __future__ import annotations

import pytest

from bot.placeholders import names, render

ANSWERS = {"respondent.name": "John Doe", "flavour": "Chocolate", "why": "I like {braces} and {{doubles}}"}


def test_names_in_order_of_appearance() -> None:
    text = "Hello {respondent.name}! You chose {flavour}, because {why}; {flavour} again."
    assert names(text) == ["respondent.name", "flavour", "why", "flavour"]


def test_no_placeholders() -> None:
    assert names("Plain text, no braces.") == []
    assert render("Plain text, no braces.", ANSWERS.__getitem__) == "Plain text, no braces."


def test_double_braces_are_literal_and_not_names() -> None:
    assert names("{{flavour}} and {{ not a name }}") == []
    assert render("{{flavour}} and {{ not a name }}", ANSWERS.__getitem__) == "{flavour} and { not a name }"


def test_placeholder_inside_literal_braces() -> None:
    assert names("{{{flavour}}}") == ["flavour"]
    assert render("{{{flavour}}}", ANSWERS.__getitem__) == "{Chocolate}"


def test_render_replaces_each_placeholder_by_lookup() -> None:
    text = "Hello {respondent.name}! Why {flavour}?"
    assert render(text, ANSWERS.__getitem__) == "Hello John Doe! Why Chocolate?"


def test_render_passes_the_bare_names_to_lookup() -> None:
    asked: list[str] = []

    def lookup(name: str) -> str:
        asked.append(name)
        return "x"

    render("{respondent.name} {flavour} {q_2}", lookup)
    assert asked == ["respondent.name", "flavour", "q_2"]


def test_answers_holding_braces_are_inserted_verbatim() -> None:
    # str.format would choke on, or expand, the braces in the answer; render must not look at them.
    assert render("You said: {why}", ANSWERS.__getitem__) == "You said: I like {braces} and {{doubles}}"


def test_empty_answer_renders_as_empty() -> None:
    assert render("[{why}]", lambda name: "") == "[]"


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("Hello {respondent.name", "unclosed '{' at character 7"),
        ("Hello {", "unclosed '{' at character 7"),
        ("a { b {c}", "unclosed '{' at character 3"),
        ("Hello }", "single '}' at character 7"),
        ("{flavour}}", "single '}' at character 10"),
        ("Hello {}", "empty placeholder"),
        ("{Flavour}", "'{Flavour}' at character 1 is neither a question id nor respondent.name"),
        ("{1st}", "neither a question id"),
        ("{ flavour }", "neither a question id"),
        ("{respondent.email}", "neither a question id"),
        ("{flavour-2}", "neither a question id"),
    ],
)
def test_malformed_placeholders_are_refused(template: str, complaint: str) -> None:
    with pytest.raises(ValueError) as caught:
        names(template)
    assert complaint in str(caught.value)
    with pytest.raises(ValueError):
        render(template, ANSWERS.__getitem__)
