"""Placeholders in survey texts (see the format page, "Placeholders").

``{respondent.name}`` stands for the respondent's display name, ``{ID}`` for the answer to question ``ID``;
``{{`` and ``}}`` write literal braces. Texts are never handed to :meth:`str.format`: answers can hold
braces of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

RESPONDENT_NAME = "respondent.name"
"""The placeholder name of the respondent's display name."""

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
"""A literal brace pair, a whole placeholder, or a brace that belongs to neither (malformed)."""

_NAME = re.compile(r"respondent\.name|[a-z][a-z0-9_]*")


def _parts(template: str) -> Iterator[tuple[str, bool]]:
    """The pieces of ``template`` in order: ``(literal text, False)`` or ``(placeholder name, True)``."""
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            yield template[position : match.start()], False
        token = match.group()
        column = match.start() + 1
        if token == "{{":
            yield "{", False
        elif token == "}}":
            yield "}", False
        elif token == "{":
            raise ValueError(f"unclosed '{{' at character {column}; write '{{{{' for a literal brace")
        elif token == "}":
            raise ValueError(f"single '}}' at character {column}; write '}}}}' for a literal brace")
        else:
            name = match.group(1)
            if not name:
                raise ValueError(f"empty placeholder '{{}}' at character {column}")
            if not _NAME.fullmatch(name):
                raise ValueError(
                    f"placeholder {token!r} at character {column} is neither a question id "
                    f"nor {RESPONDENT_NAME}"
                )
            yield name, True
        position = match.end()
    if position < len(template):
        yield template[position:], False


def names(template: str) -> list[str]:
    """The placeholder names in ``template``, in order of appearance.

    Raises :class:`ValueError` saying what is wrong when a placeholder is malformed.
    """
    return [text for text, is_name in _parts(template) if is_name]


def render(template: str, lookup: Callable[[str], str]) -> str:
    """``template`` with every placeholder replaced by ``lookup(name)`` and ``{{``/``}}`` by braces.

    ``lookup`` receives ``"respondent.name"`` or a question id. Raises :class:`ValueError` when a
    placeholder is malformed (the loader refuses such texts, so a loaded survey never does).
    """
    return "".join(lookup(text) if is_name else text for text, is_name in _parts(template))
