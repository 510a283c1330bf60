"""Anonymous surveys were linkable in Redis (issue 10): the session key held the raw platform user id
and pointed at the response id for the session's lifetime, and web dedupe keys held the respondent id
for 48 h; the web chat's update ids (kept with the response's last writes) carried it into MongoDB too.
Redis keys are now named by an HMAC under the deployment's secret, and web update ids by a hash."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from adapters.bootstrap import App, open_app
from adapters.config import load_config
from adapters.web.chat import parse_frame, to_incoming
from bot.catalog import publish
from bot.loader import load_file

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RESPONDENT = "web-respondent-4f1c2a"
TELEGRAM_USER = "987654321"


@pytest.fixture
async def app(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> AsyncIterator[App]:
    environ = {"MONGODB_URI": mongodb_test_uri, "REDIS_URL": redis_url, "SURVEYBOT_SECRET": "s" * 32}
    opened = await open_app(
        load_config(ROOT / "config.yaml", environ=environ), tmp_path, alias=uuid.uuid4().hex
    )
    await publish(opened.surveys, load_file(ROOT / "surveys" / "customer-feedback.yaml"))
    yield opened
    await opened.aclose()


async def test_redis_and_mongodb_hold_no_platform_id_of_an_anonymous_respondent(
    app: App, redis_url: str, mongodb_test_uri: str
) -> None:
    frames = ['{"type": "text", "text": "/start customer-feedback", "id": "f1"}']
    frames += [
        '{"type": "text", "text": "10", "id": "f2"}',
        '{"type": "text", "text": "Fast service", "id": "f3"}',
    ]
    for frame in frames:
        await app.engine.handle(to_incoming(parse_frame(frame), RESPONDENT, "Ann"))
    await app.engine.handle(
        to_incoming(
            parse_frame('{"type": "text", "text": "/start customer-feedback", "id": "f1"}'), TELEGRAM_USER, ""
        )
    )

    client: redis.Redis = redis.Redis.from_url(redis_url, decode_responses=False)
    try:
        dump = b""
        for key in client.scan_iter("sb:*"):
            dump += key + b"\n"
            if client.type(key) == b"string":
                value = client.get(key)
                dump += (value if isinstance(value, bytes) else b"") + b"\n"
    finally:
        client.close()
    assert dump, "the conversation left sessions and handled updates in Redis"
    assert RESPONDENT.encode() not in dump and TELEGRAM_USER.encode() not in dump

    from pymongo import MongoClient

    mongo: MongoClient[dict[str, Any]]
    with MongoClient(mongodb_test_uri) as mongo:
        responses: list[dict[str, Any]] = list(mongo.get_default_database().responses.find())
    stored = json.dumps(responses, default=str)
    assert responses and RESPONDENT not in stored and "Ann" not in stored


async def test_no_user_or_respondent_id_reaches_info_or_warning_logs(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """'duplicate update … ignored' and 'stayed busy' carried the web respondent id and Telegram user ids."""
    with caplog.at_level("INFO"):
        frame = parse_frame(json.dumps({"type": "text", "text": "/start customer-feedback", "id": "d1"}))
        for _ in range(2):  # the second is a duplicate
            await app.engine.handle(to_incoming(frame, RESPONDENT, "Ann"))
        telegram = replace(to_incoming(frame, TELEGRAM_USER, "Tom"), platform="telegram", update_id="555")
        await app.engine.handle(telegram)
        await app.engine.handle(telegram)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= 20)
    assert "duplicate" in logged, "the duplicates were logged"
    assert RESPONDENT not in logged and TELEGRAM_USER not in logged and "Ann" not in logged
