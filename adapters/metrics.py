"""Prometheus metrics, recorded at the edge: every platform adapter hands its messages to the engine
through :func:`handle_observed`, and the engine reports saved answers and the like to
:func:`record_event` (wired in :mod:`adapters.bootstrap`).

The metrics live in :data:`REGISTRY`, not in prometheus_client's global one. With several worker
processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before they start: ``/metrics`` then
adds up every worker (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import functools
import logging
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.logs import correlation_id, new_correlation_id
from bot.engine import Engine
from bot.messages import Incoming, Outgoing

log = logging.getLogger("surveybot.messages")

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES = Counter(
    "surveybot_messages", "Messages from respondents handled, by platform.", ["platform"], registry=REGISTRY
)
ANSWERS_SAVED = Counter(
    "surveybot_answers_saved", "Valid answers written to a response.", ["platform"], registry=REGISTRY
)
ANSWERS_INVALID = Counter(
    "surveybot_answers_invalid", "Answers refused as invalid (asked again).", ["platform"], registry=REGISTRY
)
SURVEYS_COMPLETED = Counter(
    "surveybot_surveys_completed", "Responses completed.", ["platform"], registry=REGISTRY
)
STORE_ERRORS = Counter(
    "surveybot_store_errors",
    "MongoDB or Redis could not be reached (platform 'admin': the admin API).",
    ["platform"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "surveybot_webhook_attempts",
    "Webhook POSTs, by outcome: delivered, retry (failed, tried again later), failed (for good).",
    ["outcome"],
    registry=REGISTRY,
)
CAMPAIGN_SENDS = Counter(
    "surveybot_campaign_sends",
    "Campaign invitations and reminders, by platform and outcome: sent, failed, retry_after (a platform's "
    "rate limit waited out), skipped, expired.",
    ["platform", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "surveybot_handling_seconds",
    "Time to handle one message, from its arrival at the engine to its replies.",
    ["platform"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)

_EVENTS = {
    "answer_saved": ANSWERS_SAVED,
    "answer_invalid": ANSWERS_INVALID,
    "survey_completed": SURVEYS_COMPLETED,
    "store_error": STORE_ERRORS,
}


def record_event(event: str, platform: str) -> None:
    """The engine's ``events`` observer: count ``event`` (one of :data:`bot.engine.EVENTS`)."""
    counter = _event_counter(event, platform)
    if counter is not None:
        counter.inc()


@functools.cache
def _event_counter(event: str, platform: str) -> Counter | None:
    counter = _EVENTS.get(event)
    return None if counter is None else counter.labels(platform=platform)


SLOW_MESSAGE_S = 1.0
"""A message handled slower than this is logged at INFO; the others at DEBUG."""


@functools.cache
def _per_platform(platform: str) -> tuple[Counter, Histogram]:
    """The message counter and latency histogram of ``platform`` (looking a label up costs more than
    counting)."""
    return MESSAGES.labels(platform=platform), LATENCY.labels(platform=platform)


async def handle_observed(engine: Engine, msg: Incoming) -> list[Outgoing]:
    """``engine.handle(msg)``, counted and timed per platform, under a fresh correlation id for logs."""
    token = correlation_id.set(new_correlation_id())
    started = time.perf_counter()
    try:
        replies = await engine.handle(msg)
    finally:
        elapsed = time.perf_counter() - started
        messages, latency = _per_platform(msg.platform)
        messages.inc()
        latency.observe(elapsed)
        # The happy path is counted and timed above, not logged: a line per message was ~15 % of the
        # bot's CPU. A slow message is worth a line.
        level = logging.INFO if elapsed >= SLOW_MESSAGE_S else logging.DEBUG
        log.log(level, "%s message handled in %.1f ms", msg.platform, elapsed * 1000)
        correlation_id.reset(token)
    return replies


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
