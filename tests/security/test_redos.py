"""ReDoS: an admin's plausible ``pattern`` with a hostile answer froze every platform for seconds (issue
10: ``([A-Za-z]+ ?)*`` and a 26-letter answer ending in ``!`` blocked the event loop 6.6 s, ×4 per two
more letters). Catastrophic shapes are refused at load; what slips through is matched with a time limit,
off the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from bot import patterns
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_text
from bot.messages import Incoming, Kind

ATTACK_PATTERN = "([A-Za-z]+ ?)*"
SURVEY = """\
id: names
title: Names
questions:
  - id: name
    type: text
    text: Your full name?
    pattern: "{pattern}"
"""


def problems(pattern: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_text(SURVEY.format(pattern=pattern), "names.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    "pattern",
    [ATTACK_PATTERN, "(a+)+", "(x+x+)+y", "(.*){1,20}[bc]", "(.+-)+x", "(\\\\w*)*"],
)
def test_catastrophic_patterns_are_refused_at_their_line(pattern: str) -> None:
    [problem] = problems(pattern)
    assert problem.startswith("names.yaml:7: question 'name': pattern repeats a repetition without bound")


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ("a{99999999999}", "pattern is not a valid regular expression"),
        ("a{5000}", "pattern repeats more than 1000 times"),
        ("(" * 300 + ")" * 300, "pattern is"),
        ("a" * 501, "pattern is longer than 500 characters"),
        ("[", "pattern is not a valid regular expression: unterminated character set"),
    ],
)
def test_oversized_and_broken_patterns_are_refused_not_raised(pattern: str, complaint: str) -> None:
    [problem] = problems(pattern)
    assert problem.startswith(f"names.yaml:7: question 'name': {complaint}"), problem


@pytest.mark.parametrize(
    "pattern",
    [
        "[a-z]+(-[a-z]+)*",
        "(\\\\w+\\\\.)*\\\\w+",
        "(\\\\d{3}-)*\\\\d+",
        "\\\\+?\\\\d{1,3}[ -]?\\\\d{6,12}",
        "([^,]+,)*end",
        "(a|b)+",
        "(a{1,3}){2}",
    ],
)
def test_ordinary_patterns_still_load(pattern: str) -> None:
    survey = load_text(SURVEY.format(pattern=pattern), "names.yaml")
    assert survey.questions[0].pattern is not None


async def test_a_slow_match_is_given_up_re_asked_and_the_loop_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A survey stored before the check (or a pattern the check misses) that is slow on an answer."""
    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 0.5)
    survey = load_text(SURVEY.format(pattern="[a-z ]+"), "names.yaml")
    slow = "(.*){1,20}[bc]"  # backtracks for seconds in the regex module on 4,000 letters
    survey = replace(survey, questions=(replace(survey.questions[0], pattern=slow, max_length=4000),))
    surveys = InMemorySurveyStore()
    await surveys.add(replace(survey, version=1))
    engine = Engine(SurveyCache(surveys, newest_ttl=0), InMemoryResponseStore(), InMemorySessionStore(), b"k")

    def said(text: str, update: str) -> Incoming:
        return Incoming(platform="test", user_id="u1", chat_id="u1", text=text, update_id=update)

    await engine.handle(said("/start names", "1"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        out = await engine.handle(said("a" * 4000, "2"))
    finally:
        ticking.cancel()
    assert [m.text for m in out if m.kind is Kind.ERROR] == ["Please reply in the expected format."]
    assert ticks >= 10, f"the event loop ran only {ticks} ticks of 10 ms during a 0.5 s match"


def test_the_match_limit_holds_without_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "MATCH_TIMEOUT_S", 0.05)
    with pytest.raises(patterns.PatternTimeout):
        patterns.fullmatch("(.*){1,20}[bc]", "a" * 4000)
    assert patterns.fullmatch("[a-z]+(-[a-z]+)*", "well-known")
