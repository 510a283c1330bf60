"""Answer patterns (``pattern:`` of text questions) that cannot freeze the bot.

A pattern is checked when the survey is loaded: it must be a valid regular expression (Python syntax),
at most :data:`MAX_PATTERN_LENGTH` characters, with repetition counts of at most :data:`MAX_REPEAT`, and
without an unbounded repetition of something that itself varies in length, such as ``(a+)+`` or
``([A-Za-z]+ ?)*``: the shape behind catastrophic backtracking. At answer time the match runs in the
``regex`` module with a time limit and releases the GIL, so even a slow pattern that slipped through
costs one respondent a re-ask, not everybody a frozen event loop.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre_constants  # type: ignore[import-not-found]  # opcodes of the parsed form
import re._parser as sre_parse  # type: ignore[import-not-found]  # stdlib: the structure re would run
from typing import Any

import regex

MAX_PATTERN_LENGTH = 500
MAX_REPEAT = 1000
MATCH_TIMEOUT_S = 0.1
"""A match that takes longer is given up and the answer re-asked."""

_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)
_UNBOUNDED = sre_constants.MAXREPEAT


class PatternTimeout(Exception):
    """Matching an answer against its pattern took longer than :data:`MATCH_TIMEOUT_S`."""


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused at load, or None when it is fine."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as error:
        return f"pattern is not a valid regular expression: {error}"
    except (OverflowError, RecursionError, ValueError):
        return (
            f"pattern is not a valid regular expression: repetitions beyond {MAX_REPEAT} or nesting too deep"
        )
    try:
        _check(list(parsed), outer=0)
    except _Refused as refused:
        return str(refused)
    except RecursionError:
        return "pattern nests too deeply"
    try:
        _compiled(pattern)
    except (regex.error, OverflowError, RecursionError, ValueError) as error:
        return f"pattern is not a valid regular expression: {error}"
    return None


def fullmatch(pattern: str, text: str) -> bool:
    """Whether all of ``text`` matches ``pattern``; :class:`PatternTimeout` when it takes too long."""
    try:
        return _compiled(pattern).fullmatch(text, timeout=MATCH_TIMEOUT_S, concurrent=True) is not None
    except TimeoutError:
        raise PatternTimeout(f"matching took longer than {MATCH_TIMEOUT_S} s") from None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern, regex.VERSION0)


class _Refused(Exception):
    pass


def _check(items: list[tuple[Any, Any]], outer: int) -> None:
    """Refuse a repetition of something variable inside a repetition, when either is unbounded and
    nothing tells one round of the outer repetition from the next: ``(a+)+``, ``([a-z]+ ?)*``,
    ``(.*){1,20}``; ``[a-z]+(-[a-z]+)*`` passes, as each round starts with a ``-`` the inner ``[a-z]+``
    cannot match. ``outer`` is the enclosing repetition count that matters (0: none, or one whose
    rounds are delimited; ``_UNBOUNDED``: one is unbounded)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if (high != _UNBOUNDED and high > MAX_REPEAT) or low > MAX_REPEAT:
                raise _Refused(f"pattern repeats more than {MAX_REPEAT} times")
            varies = high == _UNBOUNDED or high != low
            if varies and outer > 1 and _UNBOUNDED in (high, outer):
                raise _Refused(
                    "pattern repeats a repetition without bound, like (a+)+, ([a-z]+ ?)* or (.*){2,9}; such "
                    "a pattern can take exponential time to reject an answer: use one level of repetition"
                )
            if high <= 1 or _delimited(list(body)):
                _check(list(body), outer)
            else:
                _check(list(body), _UNBOUNDED if _UNBOUNDED in (outer, high) else max(outer, high))
        else:
            for child in _children(op, av):
                _check(child, outer)


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-sequences of a parsed item that is not a repetition."""
    if op is sre_constants.SUBPATTERN:
        return [list(av[-1])]
    if op is sre_constants.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [list(av[1])]
    if op is sre_constants.ATOMIC_GROUP:
        return [list(av)]
    if op is sre_constants.GROUPREF_EXISTS:
        return [list(av[1])] + ([list(av[2])] if av[2] is not None else [])
    return []


def _delimited(body: list[tuple[Any, Any]]) -> bool:
    """Whether a repeated body has a literal character of its own (not optional) that none of the
    variable repetitions inside it can match: then rounds cannot trade characters between them."""
    while len(body) == 1 and body[0][0] is sre_constants.SUBPATTERN:
        body = list(body[0][1][-1])
    literals = [chr(av) for op, av in body if op is sre_constants.LITERAL]
    return any(not _repeats_may_match(body, ch) for ch in literals)


_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: re.compile(r"\d"),
    sre_constants.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre_constants.CATEGORY_WORD: re.compile(r"\w"),
    sre_constants.CATEGORY_NOT_WORD: re.compile(r"\W"),
    sre_constants.CATEGORY_SPACE: re.compile(r"\s"),
    sre_constants.CATEGORY_NOT_SPACE: re.compile(r"\S"),
}


def _repeats_may_match(items: list[tuple[Any, Any]], ch: str, repeated: bool = False) -> bool:
    """Whether some variable repetition among ``items`` could match ``ch`` (True when unsure)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if _repeats_may_match(list(body), ch, repeated or high != low):
                return True
        elif repeated:
            if _may_match(op, av, ch):
                return True
        elif any(_repeats_may_match(child, ch) for child in _children(op, av)):
            return True
    return False


def _may_match(op: Any, av: Any, ch: str) -> bool:
    """Whether the single item ``(op, av)`` could match ``ch`` (True when unsure)."""
    if op is sre_constants.LITERAL:
        return chr(av) == ch
    if op is sre_constants.NOT_LITERAL:
        return chr(av) != ch
    if op is sre_constants.IN:
        negate = bool(av) and av[0][0] is sre_constants.NEGATE
        hit = False
        for kind, value in av[1 if negate else 0 :]:
            if kind is sre_constants.LITERAL:
                hit = hit or chr(value) == ch
            elif kind is sre_constants.RANGE:
                hit = hit or value[0] <= ord(ch) <= value[1]
            elif kind is sre_constants.CATEGORY and value in _CATEGORIES:
                hit = hit or _CATEGORIES[value].fullmatch(ch) is not None
            else:
                return True
        return hit != negate
    if op in (sre_constants.AT, sre_constants.GROUPREF):
        return op is sre_constants.GROUPREF
    children = _children(op, av)
    if children:
        return any(_may_match(o, a, ch) for child in children for o, a in child)
    return True
