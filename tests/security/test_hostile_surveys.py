"""Hostile survey files (issue 10): every one is refused with ``FILE:LINE`` at the field's line, never
raised as RecursionError, OverflowError, ValueError or lark's VisitError; values that loaded and then
broke the running bot (a 100,000,000-button rating, a TTL Redis refuses, a version MongoDB cannot hold)
are refused too; and ``surveybot validate`` reports every file, one problem per line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import DefinitionError
from bot.loader import load_text

ROOT = Path(__file__).resolve().parents[2]

SURVEY = """\
id: s
title: S
{settings}
questions:
  - id: a
    type: {qtype}
    text: A?
{a}
  - id: b
    type: text
    text: B?
{b}
"""


def survey(settings: str = "", qtype: str = "number", a: str = "", b: str = "", top: str = "") -> str:
    return top + SURVEY.format(settings=settings, qtype=qtype, a=a, b=b)


ATTACKS = {
    "yaml nested 10,000 deep": ("id: s\ntitle: S\nquestions: " + "[" * 10000 + "]" * 10000 + "\n", 3),
    "mappings nested 5,000 deep": ("id: s\ntitle: S\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", 3),
    "not x 2000": (survey(b='    show_if: "' + "not " * 2000 + 'a"'), 12),
    "not x 200": (survey(b='    show_if: "' + "not " * 200 + 'a"'), 12),
    "[ x 500": (survey(b='    show_if: "a in ' + "[" * 500 + "]" * 500 + '"'), 12),
    "( x 100": (survey(b='    show_if: "' + "(" * 100 + "a" + ")" * 100 + '"'), 12),
    "5,000-digit literal": (survey(b='    show_if: "a == ' + "9" * 5000 + '"'), 12),
    "40-digit literal": (survey(b='    show_if: "a == ' + "9" * 40 + '"'), 12),
    "400-digit min/max": (survey(a="    min: " + "9" * 400 + "\n    max: " + "9" * 401), 8),
    "5,000-digit max": (survey(a="    min: 1\n    max: " + "9" * 5000), 9),
    "400-digit float max": (survey(a="    min: 1\n    max: 1" + "0" * 400 + ".5"), 9),
    "session_ttl of 4,400 digits": (survey(settings="settings:\n  session_ttl: " + "9" * 4400), 4),
    "session_ttl 99999999999999999999d": (
        survey(settings="settings:\n  session_ttl: 99999999999999999999d"),
        4,
    ),
    "version 99999999999999999999": (survey(top="version: 99999999999999999999\n"), 1),
    "rating max 100000000": (survey(qtype="rating", a="    min: 1\n    max: 100000000"), 9),
    "max_length 10^20": (survey(qtype="text", a="    max_length: 99999999999999999999"), 8),
    "integer bounds 10^23": (survey(a="    integer: true\n    min: -99999999999999999999999\n    max: 1"), 9),
    "pattern a{99999999999}": (survey(qtype="text", a='    pattern: "a{99999999999}"'), 8),
}


@pytest.mark.parametrize(("text", "line"), ATTACKS.values(), ids=ATTACKS.keys())
def test_a_hostile_file_is_refused_at_its_line(text: str, line: int) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_text(text, "hostile.yaml")
    first = str(caught.value.problems[0])
    assert first.startswith(f"hostile.yaml:{line}: "), first
    assert len(first) < 300, "a problem line quotes no 5,000-digit value"


@pytest.mark.parametrize(
    ("settings", "a", "loads"),
    [
        ("settings:\n  session_ttl: 365d", "", True),
        ("settings:\n  session_ttl: 366d", "", False),
        ("", "    min: -1000000000000000\n    max: 1000000000000000", True),
        ("", "    min: 0\n    max: 1000000000000001", False),
    ],
)
def test_the_bounds_are_where_the_format_page_says(settings: str, a: str, loads: bool) -> None:
    text = survey(settings=settings, a=a)
    if loads:
        load_text(text, "s.yaml")
    else:
        with pytest.raises(DefinitionError):
            load_text(text, "s.yaml")


def test_rating_offers_at_most_21_values() -> None:
    load_text(survey(qtype="rating", a="    min: 0\n    max: 20"), "s.yaml")
    with pytest.raises(DefinitionError) as caught:
        load_text(survey(qtype="rating", a="    min: 0\n    max: 21"), "s.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:9: question 'a': a rating offers at most 21 values, not 22"
    ]


def test_validate_reports_every_file_one_problem_per_line(tmp_path: Path) -> None:
    """It stopped at the first such file with a traceback, and wrapped problems at 80 columns in CI."""
    files = []
    for index, (text, _) in enumerate(ATTACKS.values()):
        path = tmp_path / f"attack-{index:02d}-with-a-long-name-so-that-lines-pass-eighty-columns.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    files.append(str(ROOT / "surveys" / "ice-cream.yaml"))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERM")}
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "validate", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith(str(tmp_path)) for line in lines), lines[:3]
    assert {line.split(":")[0] for line in lines} == set(files[:-1]), "every hostile file is reported"
    assert result.stdout.startswith(f"ok {ROOT / 'surveys' / 'ice-cream.yaml'}")


async def test_a_telegram_document_without_a_size_is_not_downloaded_unbounded() -> None:
    """A document without ``file_size`` bypassed the upload limit; the size now decides before any
    download, from the message or from getFile, and no size at all means no download."""
    import adapters.telegram as tg
    from tests.unit.test_telegram import DOCUMENT_UPDATE, Harness, RecordingRequest, in_memory_app, sent_texts

    app = await in_memory_app()
    request = RecordingRequest()
    adapter = tg.TelegramAdapter(app, tg.build_application(app.config.telegram, request))
    await adapter.application.initialize()
    h = Harness(adapter, request, app)
    try:
        document = {k: v for k, v in DOCUMENT_UPDATE["message"]["document"].items() if k != "file_size"}
        message = {**DOCUMENT_UPDATE["message"], "document": document}
        file_id = document["file_id"]

        request.files[file_id] = b"id: big\n" + b"#" * (2 * 1024 * 1024)
        calls = await h.send({"update_id": 1, "message": message})
        assert [c.method for c in calls] == ["getFile", "sendMessage"], "refused before the download"
        assert sent_texts(calls) == [
            "“lunch.yaml” is larger than 1024 KB, too large for a survey; not loaded."
        ]

        del request.files[file_id]  # getFile gives no size either
        calls = await h.send({"update_id": 2, "message": message})
        assert [c.method for c in calls] == ["getFile", "sendMessage"]
        assert sent_texts(calls)[0].startswith("I could not tell how large “lunch.yaml” is")
    finally:
        await adapter.application.shutdown()


@pytest.mark.parametrize(("text", "line"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_the_upload_api_refuses_each_hostile_file_with_422_not_500(text: str, line: int) -> None:
    import httpx
    from pydantic import SecretStr

    from adapters.bootstrap import App
    from adapters.config import Config
    from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
    from adapters.web.app import create_web_app
    from bot.catalog import SurveyCache
    from bot.engine import Engine

    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    cache = SurveyCache(surveys, newest_ttl=0)
    token = "hostile-upload-admin-token-0123"
    app = App(
        Config(admin_api_token=SecretStr(token)),
        surveys,
        responses,
        sessions,
        cache,
        Engine(cache, responses, sessions, b"k"),
    )
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        got = await client.post(
            "/api/surveys",
            params={"filename": "hostile.yaml"},
            content=text.encode(),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert got.status_code == 422, got.text
    assert got.json()["problems"][0].startswith(f"hostile.yaml:{line}: ")


def test_a_failure_the_bounds_miss_is_still_a_problem_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.loader

    def too_deep(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(bot.loader, "read_yaml", too_deep)
    with pytest.raises(DefinitionError) as caught:
        load_text("id: s\n", "odd.yaml")
    assert [str(p) for p in caught.value.problems] == ["odd.yaml:1: the file cannot be read (RecursionError)"]
