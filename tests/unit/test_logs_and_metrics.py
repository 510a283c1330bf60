"""Structured logs with a correlation id per message, and the metrics recorded at the edge."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from adapters import metrics
from adapters.logs import (
    CorrelationFilter,
    DropConnectionLines,
    configure_logging,
    correlation_id,
    wants_json,
)
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.loader import load_text
from bot.messages import Incoming

SURVEY = """
id: pets
title: Pets
questions:
  - id: pet
    type: single_choice
    text: Cat or dog?
    choices: [Cat, Dog]
  - id: name
    type: text
    text: Its name?
"""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    error_filters = list(logging.getLogger("uvicorn.error").filters)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.error").filters[:] = error_filters


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_with_the_correlation_id() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    token = correlation_id.set("abc123")
    try:
        logging.getLogger("surveybot.test").info("saved %s", "x", extra={"survey": "pets"})
    finally:
        correlation_id.reset(token)
    logging.getLogger("surveybot.test").debug("not at INFO")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "saved x"
    assert (entry["level"], entry["logger"], entry["correlation_id"], entry["survey"]) == (
        "INFO",
        "surveybot.test",
        "abc123",
        "pets",
    )
    assert entry["time"].endswith("+00:00")


@pytest.mark.usefixtures("restore_logging")
def test_readable_lines_and_no_uvicorn_connection_lines() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    logging.getLogger("surveybot.test").warning("careful")
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "10.0.0.1:5000", "/ws/x?name=Ann"
    )
    logging.getLogger("uvicorn.access").info('%s - "GET /?name=Ann" 200', "10.0.0.1:5000")
    out = stream.getvalue()
    assert "WARNING surveybot.test [-] careful" in out
    assert "Ann" not in out and "10.0.0.1" not in out
    assert any(isinstance(f, DropConnectionLines) for f in logging.getLogger("uvicorn.error").filters)


def test_log_format_choice() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_json(io.StringIO(), {}) is True
    assert wants_json(Tty(), {}) is False
    assert wants_json(Tty(), {"SURVEYBOT_LOG_FORMAT": "json"}) is True
    assert wants_json(io.StringIO(), {"SURVEYBOT_LOG_FORMAT": "text"}) is False


def sample(name: str, platform: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"platform": platform}) or 0.0


async def test_handle_observed_counts_times_and_sets_a_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    surveys = InMemorySurveyStore()
    await publish(surveys, load_text(SURVEY, "pets.yaml"))
    engine = Engine(
        SurveyCache(surveys),
        InMemoryResponseStore(),
        InMemorySessionStore(),
        b"s",
        events=metrics.record_event,
    )
    platform = "unit-metrics"
    names = [
        "surveybot_messages_total",
        "surveybot_answers_saved_total",
        "surveybot_answers_invalid_total",
        "surveybot_surveys_completed_total",
        "surveybot_handling_seconds_count",
    ]
    before = {n: sample(n, platform) for n in names}

    async def say(text: str) -> None:
        await metrics.handle_observed(engine, Incoming(platform, "u1", "Ann", "u1", text=text))

    caplog.handler.addFilter(CorrelationFilter())  # what configure_logging puts on its handler
    with caplog.at_level(logging.DEBUG, logger="surveybot"):
        await say("/start pets")
        await say("horse")  # invalid
        await say("2")
        await say("Rex")
    added = {n: sample(n, platform) - before[n] for n in names}
    assert added == {
        "surveybot_messages_total": 4,
        "surveybot_answers_saved_total": 2,
        "surveybot_answers_invalid_total": 1,
        "surveybot_surveys_completed_total": 1,
        "surveybot_handling_seconds_count": 4,
    }
    handled = [r for r in caplog.records if r.name == "surveybot.messages"]
    ids = {r.correlation_id for r in handled}  # type: ignore[attr-defined]
    assert len(handled) == 4 and len(ids) == 4 and "-" not in ids
    assert {r.levelno for r in handled} == {logging.DEBUG}, "the happy path is not logged at INFO"
    completed = next(r for r in caplog.records if "response completed" in r.getMessage())
    assert completed.correlation_id == handled[-1].correlation_id  # type: ignore[attr-defined]
    assert correlation_id.get() == "-"
    assert not any("Rex" in r.getMessage() or "Ann" in r.getMessage() for r in caplog.records)


async def test_store_errors_are_counted() -> None:
    sessions = InMemorySessionStore()
    sessions.fail = True
    engine = Engine(
        SurveyCache(InMemorySurveyStore()),
        InMemoryResponseStore(),
        sessions,
        b"s",
        events=metrics.record_event,
    )
    before = sample("surveybot_store_errors_total", "unit-outage")
    await metrics.handle_observed(engine, Incoming("unit-outage", "u1", text="/start"))
    assert sample("surveybot_store_errors_total", "unit-outage") - before == 1


def test_exposition_is_prometheus_text() -> None:
    metrics.record_event("answer_saved", "unit-exposition")
    text = metrics.exposition().decode()
    assert "# TYPE surveybot_answers_saved_total counter" in text
    assert 'surveybot_answers_saved_total{platform="unit-exposition"} 1.0' in text
    assert "# TYPE surveybot_handling_seconds histogram" in text


def test_request_lines_are_debug_on_the_happy_path_and_louder_otherwise() -> None:
    from adapters.web.app import _request_level

    assert _request_level("/telegram/webhook", 200) == logging.DEBUG
    assert _request_level("/slack/events", 200) == logging.DEBUG
    assert _request_level("/healthz", 200) == logging.DEBUG
    assert _request_level("/api/surveys", 201) == logging.INFO, "the admin API is an audit trail"
    assert _request_level("/slack/events", 401) == logging.INFO
    assert _request_level("/telegram/webhook", 500) == logging.WARNING
