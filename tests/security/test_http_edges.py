"""The HTTP edges under hostile or malformed input (issue 10).

A 300 MB unsigned POST to ``/slack/events`` was buffered whole (+1.2 GB) and logged whole at INFO by
slack-bolt; malformed-but-authentic platform input answered 500 (Slack would retry it, Telegram
redelivers it for hours). Every route now refuses a body over the limit before reading it, logs no
body and no secret, and answers 400 (or, for Telegram, 200 and drops the update)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

import adapters.telegram as tg
from adapters.bootstrap import App
from adapters.config import AdminSettings, Config, SlackSettings, TelegramSettings, load_config
from adapters.logs import MAX_MESSAGE, configure_logging, keep_config_secrets
from adapters.slack import SlackBot
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from adapters.web.app import MAX_BODY_BYTES, create_web_app
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.errors import ConfigError
from tests.unit.test_telegram import RecordingRequest

TELEGRAM_TOKEN = "4242:AAH-security-test-token-0123456789abcdef"
SLACK_BOT_TOKEN = "xoxb-0000-security-test-token"
SIGNING_SECRET = "security-test-signing-secret"
ADMIN_TOKEN = "security-test-admin-token-0123456789"
CHUNK = 64 * 1024
HUGE = 300 * 1024 * 1024


@dataclass
class Answer:
    status: int
    body: bytes
    chunks_read: int


@pytest.fixture
async def web() -> AsyncIterator[FastAPI]:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    cache = SurveyCache(surveys, newest_ttl=0)
    config = Config(
        telegram=TelegramSettings(bot_token=SecretStr(TELEGRAM_TOKEN), webhook_url="https://bot.example.org"),
        slack=SlackSettings(
            api_url="http://127.0.0.1:9/api/",
            bot_token=SecretStr(SLACK_BOT_TOKEN),
            signing_secret=SecretStr(SIGNING_SECRET),
        ),
        admins=AdminSettings(telegram=["77"]),
        admin_api_token=SecretStr(ADMIN_TOKEN),
    )
    keep_config_secrets(config)
    app = App(config, surveys, responses, sessions, cache, Engine(cache, responses, sessions, b"k"))
    telegram = tg.telegram_platform(app, RecordingRequest())
    assert telegram.mount is not None, "webhook mode"
    yield create_web_app(app, [telegram, SlackBot(app).platform()])
    if telegram.stop is not None:
        await telegram.stop()


async def post(
    app: FastAPI, path: str, chunks: Iterator[bytes], headers: dict[str, str] | None = None
) -> Answer:
    """One POST through the ASGI app, its body pulled chunk by chunk as the app asks for it."""
    read = 0
    sent: list[MutableMapping[str, Any]] = []
    pending = iter(chunks)

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(status, body, read)


def endless() -> Iterator[bytes]:
    for _ in range(HUGE // CHUNK):
        yield b"x" * CHUNK


ROUTES = ["/slack/events", tg.WEBHOOK_PATH, "/api/surveys"]


@pytest.mark.parametrize("path", ROUTES)
async def test_a_declared_300_mb_body_is_refused_unread(web: FastAPI, path: str) -> None:
    answer = await post(web, path, endless(), {"Content-Length": str(HUGE)})
    assert answer.status == 413
    assert answer.chunks_read == 0


@pytest.mark.parametrize("path", ROUTES)
async def test_a_streamed_300_mb_body_is_refused_at_the_limit(web: FastAPI, path: str) -> None:
    headers = {
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "Content-Type": "application/yaml",
        tg.SECRET_HEADER: tg.webhook_secret(TELEGRAM_TOKEN),  # so that each route reads the body
        **slack_headers(b""),
    }
    answer = await post(web, path, endless(), headers)
    assert answer.status == 413
    assert answer.chunks_read <= MAX_BODY_BYTES // CHUNK + 1, "read no further than the limit"


async def test_a_content_length_that_is_no_number_is_a_bad_request(web: FastAPI) -> None:
    assert (await post(web, "/slack/events", iter([b"{}"]), {"Content-Length": "lots"})).status == 400


def slack_headers(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    base = f"v0:{stamp}:".encode() + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", json=False, stream=stream)
    yield stream
    configure_logging("WARNING", json=False)
    logging.getLogger().handlers.clear()


async def test_an_unsigned_slack_body_is_refused_and_not_logged(web: FastAPI, logged: io.StringIO) -> None:
    body = json.dumps({"event": {"text": "PERSONAL-ANSWER " + "y" * 100_000, "user": "U0SECRET9"}}).encode()
    headers = {**slack_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
    assert (await post(web, "/slack/events", iter([body]), headers)).status == 401
    text = logged.getvalue()
    assert "Invalid request signature (request not logged)" in text
    assert "PERSONAL-ANSWER" not in text and "U0SECRET9" not in text
    assert max(len(line) for line in text.splitlines()) < MAX_MESSAGE + 200


@pytest.mark.parametrize(
    ("body", "timestamp"),
    [(b"{}", "abc"), (b"not json at all", None), (b'{"type": "event_callback", "event": ', None)],
    ids=["timestamp-abc", "signed-non-json", "signed-truncated-json"],
)
async def test_malformed_slack_requests_get_400_not_500(
    web: FastAPI, body: bytes, timestamp: str | None
) -> None:
    headers = slack_headers(body, timestamp)
    if timestamp == "abc":
        headers["X-Slack-Request-Timestamp"] = "abc"
    assert (await post(web, "/slack/events", iter([body]), headers)).status == 400


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 7, "message": {"message_id": 1, "text": "no date, no chat"}},
        {"update_id": 8, "message": {"message_id": 1, "date": 1700000000, "text": "no chat"}},
        {"update_id": 9, "brand_new_kind": {"anything": True}},
        {"update_id": "ten", "message": "not an object"},
    ],
    ids=["no-date-no-chat", "no-chat", "unlisted-kind", "wrong-types"],
)
async def test_malformed_authentic_telegram_updates_are_dropped_with_200(
    web: FastAPI, update: dict[str, Any]
) -> None:
    headers = {tg.SECRET_HEADER: tg.webhook_secret(TELEGRAM_TOKEN), "Content-Type": "application/json"}
    answer = await post(web, tg.WEBHOOK_PATH, iter([json.dumps(update).encode()]), headers)
    assert answer.status == 200, "anything else and Telegram redelivers it for hours"


def test_no_library_logs_a_token_or_secret_at_debug(web: FastAPI, logged: io.StringIO) -> None:
    secret = tg.webhook_secret(TELEGRAM_TOKEN)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    logging.getLogger("httpx").debug(
        "HTTP Request: POST %s", f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe"
    )
    logging.getLogger("telegram.ext.ExtBot").debug("setWebhook parameters: %s", {"secret_token": secret})
    logging.getLogger("slack_sdk.web.async_base_client").debug(
        "Sending a request: headers=Bearer %s", SLACK_BOT_TOKEN
    )
    logging.getLogger("slack_bolt.App").debug("signing secret %s", SIGNING_SECRET)
    logging.getLogger("surveybot.web").info("admin token %s", ADMIN_TOKEN)
    logging.getLogger("telegram").debug("other bot 123456789:AAAbbbCCCdddEEEfffGGGhhhIIIjjjKKKlll")
    text = logged.getvalue()
    for leaked in (TELEGRAM_TOKEN, secret, SLACK_BOT_TOKEN, SIGNING_SECRET, ADMIN_TOKEN, "AAAbbbCCCddd"):
        assert leaked not in text
    assert text.count("[redacted]") == 6


@pytest.mark.parametrize("path", ["/", "/static/chat.js", "/healthz", "/api/surveys", "/docs", "/nowhere"])
async def test_every_page_carries_the_security_headers(web: FastAPI, path: str) -> None:
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        got = await client.get(path)
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["x-frame-options"] == "DENY"
    assert got.headers["referrer-policy"] == "no-referrer"
    policy = got.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    if path != "/docs":
        assert "'unsafe-inline'" not in policy and "script-src 'self';" in policy


@pytest.mark.parametrize("token", ["x", "short-token", "a" * 23])
def test_a_guessable_admin_token_stops_start_up(token: str) -> None:
    with pytest.raises(ConfigError, match="ADMIN_API_TOKEN must be at least 24 characters"):
        load_config(environ={"ADMIN_API_TOKEN": token})
    assert load_config(environ={"ADMIN_API_TOKEN": "a" * 24}).admin_api_token is not None


async def test_guessing_the_admin_token_is_slowed_per_address_and_never_locks_the_admin_out(
    web: FastAPI,
) -> None:
    """The admin API compared tokens in constant time but let anyone guess as fast as they could."""
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        guesses = [
            (await client.get("/api/surveys", headers={"Authorization": f"Bearer guess-{n}"})).status_code
            for n in range(15)
        ]
        assert guesses == [401] * 10 + [429] * 5
        slowed = await client.get("/api/surveys", headers={"Authorization": "Bearer guess-16"})
        assert slowed.headers["retry-after"] == "60"
        admin = await client.get("/api/surveys", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert admin.status_code == 200, "the right token still works from the same address"


def test_each_uvicorn_worker_redacts_the_configured_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers started by uvicorn --factory configured logging without registering the secrets, so only
    the CLI process redacted the Slack tokens, the admin token and SURVEYBOT_SECRET."""
    from adapters.web import asgi

    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-worker-test-token-0123456789",
        "SLACK_SIGNING_SECRET": "worker-signing-secret-0123456789",
        "ADMIN_API_TOKEN": "worker-admin-token-0123456789abcdef",
        "SURVEYBOT_SECRET": "worker-respondent-secret-0123456789",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SURVEYBOT_LOG_FORMAT", "text")
    try:
        asgi.create()
        for value in secrets.values():
            logging.getLogger("surveybot.web").warning("leaked %s here", value)
        written = capsys.readouterr().err
    finally:
        configure_logging("WARNING", json=False)
        logging.getLogger().handlers.clear()
    assert written.count("[redacted]") == len(secrets)
    assert not any(value in written for value in secrets.values())
