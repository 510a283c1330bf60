"""Property-based fuzzing (Hypothesis): random and targeted mutations of valid surveys through the
loader and ``POST /api/surveys`` — every case loads or is refused with ``FILE:LINE``, none raises; and
random answers of every type through the engine — every one is stored as a finite, BSON-safe value or
re-asked."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bson
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from adapters.bootstrap import App
from adapters.config import Config
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from adapters.web.app import create_web_app
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_text
from bot.messages import Incoming, Kind
from bot.responses import respondent_key
from tests.security.tally import FUZZ_COUNTS

ROOT = Path(__file__).resolve().parents[2]
VALID = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "surveys").glob("*.yaml"))]
HOSTILE = [
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "&a ",
    "*a",
    "<<: *a",
    "!!python/object:os.system ",
    "!!binary ",
    "? ",
    "|",
    ">",
    "'",
    '"',
    "#",
    "\t",
    "\x00",
    "\ufeff",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "9" * 60,
    "1e999",
    "-.inf",
    ".nan",
    "not " * 40,
    "(" * 80,
    "[" * 90,
    "{" * 70,
    "a{9999999}",
    "(a+)+",
    "{flavour}",
    "{respondent.name}",
    "goto: end",
    "show_if: ",
    "type: rating",
    "max: ",
    "min: ",
    "session_ttl: ",
    "version: ",
    "\u202e",
    "😀",
    "null",
    "~",
    "0x1F",
    "0o17",
    "2024-02-30",
]


def counts(name: str) -> Counter[str]:
    return FUZZ_COUNTS.setdefault(name, Counter())


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid survey with a few edits: hostile tokens inserted, spans deleted or lines duplicated."""
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "replace-line"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(HOSTILE) | st.text(max_size=20)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            lines = text.splitlines(keepends=True)
            index = draw(st.integers(0, len(lines) - 1))
            if action == "duplicate":
                lines.insert(index, lines[index])
            else:
                indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
                lines[index] = indent + draw(st.sampled_from(HOSTILE)) + draw(st.sampled_from(HOSTILE)) + "\n"
            text = "".join(lines)
    return text


def check_loads_or_refuses(text: str, name: str) -> None:
    tally = counts(name)
    tally["cases"] += 1
    try:
        load_text(text, "fuzz.yaml")
    except DefinitionError as refused:
        tally["refused"] += 1
        lines = text.count("\n") + 2
        assert refused.problems, "a refusal names at least one problem"
        for problem in refused.problems:
            assert problem.file == "fuzz.yaml" and 1 <= problem.line <= lines, str(problem)
            assert "\n" not in str(problem)
    except Exception:
        tally["crashed"] += 1
        raise
    else:
        tally["loaded"] += 1


@given(mutated())
def test_mutated_surveys_load_or_are_refused_with_file_and_line(text: str) -> None:
    check_loads_or_refuses(text, "loader, mutated surveys")


@given(st.text(max_size=400))
def test_random_text_loads_or_is_refused_with_file_and_line(text: str) -> None:
    check_loads_or_refuses(text, "loader, random text")


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    cache = SurveyCache(surveys, newest_ttl=0)
    config = Config(admin_api_token=SecretStr("fuzz-admin-token-of-24-characters"))
    app = App(config, surveys, responses, sessions, cache, Engine(cache, responses, sessions, b"k"))
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_web_app(app)),
        base_url="http://test",
        headers={"Authorization": "Bearer fuzz-admin-token-of-24-characters"},
    )
    yield loop, client
    loop.run_until_complete(client.aclose())
    loop.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated())
def test_uploads_through_the_http_api_are_stored_or_refused_never_500(
    api: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient], text: str
) -> None:
    loop, client = api
    tally = counts("POST /api/surveys, mutated surveys")
    tally["cases"] += 1
    got = loop.run_until_complete(
        client.post(
            "/api/surveys", params={"filename": "fuzz.yaml"}, content=text.encode("utf-8", "surrogatepass")
        )
    )
    tally[{201: "loaded", 200: "loaded", 422: "refused", 409: "refused"}.get(got.status_code, "crashed")] += 1
    assert got.status_code in (200, 201, 409, 422), got.text
    if got.status_code == 422:
        assert all(p.startswith("fuzz.yaml:") for p in got.json()["problems"])


ONE_QUESTION = {
    "number": "type: number",
    "integer": "type: number\n    integer: true",
    "text": "type: text\n    max_length: 4000",
    "single_choice": "type: single_choice\n    choices: [Red, Green, Blue]",
    "multi_choice": "type: multi_choice\n    choices: [Red, Green, Blue]",
    "rating": "type: rating\n    min: -3\n    max: 7",
    "nps": "type: nps",
    "yes_no": "type: yes_no",
    "date": "type: date",
    "email": "type: email",
}

NUMBERISH = st.from_regex(r"[+-]?[0-9]{0,400}([.,][0-9]{0,400})?", fullmatch=True)


def answers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=200),
        NUMBERISH,
        st.integers().map(str),
        st.integers(-5, 12).map(str),
        st.floats().map(repr),
        st.dates().map(str),
        st.emails(),
        st.sampled_from(["1", "2", "1, 3", "yes", "no", "2024-02-29", "ann@example.com", "\x00", "9" * 5000]),
        st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=80), st.text(max_size=80)),
    )


@given(kind=st.sampled_from(sorted(ONE_QUESTION)), text=answers())
def test_random_answers_are_stored_finite_and_bson_safe_or_re_asked(kind: str, text: str) -> None:
    tally = counts("engine, random answers")
    tally["cases"] += 1
    asyncio.run(answer_once(kind, text, tally))


async def answer_once(kind: str, text: str, tally: Counter[str]) -> None:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    fields = [f"    {line.strip()}" for line in ONE_QUESTION[kind].splitlines()]
    survey = "\n".join(["id: fuzz", "title: Fuzz", "questions:", "  - id: q", "    text: Q?", *fields])
    await publish(surveys, load_text(survey + "\n", "fuzz.yaml"))
    engine = Engine(SurveyCache(surveys, newest_ttl=0), responses, sessions, b"k")

    def said(what: str, update: str) -> Incoming:
        return Incoming(platform="test", user_id="u", chat_id="u", text=what, update_id=update)

    await engine.handle(said("/start fuzz", "1"))
    out = await engine.handle(said(text, "2"))
    stored = await responses.find("fuzz", respondent_key(b"k", "test", "u"))
    assert stored is not None
    if "q" in stored.answers:
        value = stored.answers["q"].value
        if isinstance(value, float):
            assert math.isfinite(value)
        assert bson.decode(bson.encode({"v": value}))["v"] == value
        tally["stored"] += 1
    else:
        assert any(m.kind is Kind.ERROR for m in out), [m.text for m in out]
        tally["re-asked"] += 1
