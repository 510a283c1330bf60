"""The one ASGI application `surveybot run` serves: chat page and websocket, admin API, operations,
and the HTTP endpoints that platform adapters mount (Slack's events, Telegram's webhook)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.bootstrap import App
from adapters.logs import correlation_id, new_correlation_id
from adapters.metrics import STORE_ERRORS
from adapters.platform import Platform
from adapters.web.chat import chat_router
from adapters.web.ops import ops_router
from bot.errors import StorageUnavailable
from bot.loader import MAX_SURVEY_BYTES

STATIC = Path(__file__).resolve().parent / "static"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Polled by machines: logged at DEBUG only."""

log = logging.getLogger("surveybot.web")

DESCRIPTION = """\
surveybot's web server. The **admin API** (`/api/…`) needs `Authorization: Bearer <ADMIN_API_TOKEN>`;
without a configured token it is off, and so is the operators' **console** at `/console` (signed into
with that token). The **web chat** is at `/`, talking over the websocket
`/ws/surveys/{survey_id}?respondent=ID&name=NAME` (protocol in docs/web.md). **Operations**: `/healthz`,
`/readyz`, `/metrics`.
"""


class _HttpMiddleware:
    """Pure ASGI middleware that acts on HTTP requests (:meth:`http`); websockets and lifespan
    events pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def _request_level(path: str, status: int) -> int:
    """Server errors at WARNING; refusals and the admin API's requests (an audit trail) at INFO; the
    happy path of platforms' webhooks, the chat page and health checks at DEBUG: a line per message
    cost ~15 % of the bot's CPU."""
    if status >= 500:
        return logging.WARNING
    if status >= 400 or path.startswith("/api/"):
        return logging.INFO
    return logging.DEBUG


class RequestLog(_HttpMiddleware):
    """A correlation id per HTTP request (also sent back as ``X-Correlation-Id``), and one log line
    per request with method, path (never the query string), status and duration."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        cid = new_correlation_id()
        token = correlation_id.set(cid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            level = _request_level(path, status)
            if log.isEnabledFor(level):
                elapsed = (time.perf_counter() - started) * 1000
                log.log(level, "%s %s %d %.1f ms", scope.get("method", ""), path, status, elapsed)
            correlation_id.reset(token)


MAX_BODY_BYTES = MAX_SURVEY_BYTES + 64 * 1024
"""The largest request body any route reads: a survey upload with room to spare. Slack's and Telegram's
own requests are far smaller (a Telegram update is at most a few KB; Slack's largest payloads are
interactions carrying a message's blocks, well under 1 MiB)."""


_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_CSP = (
    b"default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs page loads Swagger UI from jsdelivr and starts it with an inline script.
_DOCS_CSP = (
    b"default-src 'self'; connect-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"style-src 'self' https://cdn.jsdelivr.net; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class SecurityHeaders(_HttpMiddleware):
    """Every HTTP response says nosniff, may not be framed, sends no referrer, and carries a
    Content-Security-Policy (own scripts and styles only; the websocket is same-origin)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        csp = _DOCS_CSP if scope.get("path") == "/docs" else _CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *_HEADERS,
                    (b"content-security-policy", csp),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimit(_HttpMiddleware):
    """A request body over ``limit`` bytes is refused with 413 before it is read,
    when ``Content-Length`` says so, or as soon as the bytes received pass the limit (chunked
    requests); the application never holds more than ``limit`` bytes of one body. Every route alike:
    Slack's events (which slack-bolt buffers whole before checking the signature), Telegram's webhook,
    the admin API."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(app)
        self.limit = limit

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                await _plain(send, 400, "Content-Length is not a number")
                return
            if too_large:
                await _plain(send, 413, f"the request body is larger than {self.limit} bytes")
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await _plain(send, 413, f"the request body is larger than {self.limit} bytes")


async def _plain(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_web_app(app: App, platforms: Sequence[Platform] = ()) -> FastAPI:
    """The FastAPI application on ``app``; each platform's ``mount`` adds its endpoints to it."""
    web = FastAPI(
        title="surveybot",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_tags=[
            {"name": "surveys", "description": "Upload, read and archive surveys."},
            {"name": "responses", "description": "Responses, and their export as CSV or JSON."},
            {"name": "results", "description": "Summaries and charts."},
            {"name": "web chat", "description": "What the chat page needs besides its websocket."},
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    web.state.app = app

    @web.exception_handler(StorageUnavailable)
    async def storage_unavailable(request: Request, error: StorageUnavailable) -> JSONResponse:
        STORE_ERRORS.labels(platform="admin").inc()
        log.warning("store unavailable during %s %s: %s", request.method, request.url.path, error)
        return JSONResponse({"detail": "MongoDB or Redis is unavailable; try again soon"}, status_code=503)

    @web.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.include_router(chat_router(app))
    web.include_router(ops_router(app))
    if app.config.admin_api_token is not None and app.config.admin_api_token.get_secret_value().strip():
        from adapters.web.admin import admin_router
        from adapters.web.console import console_router

        token = app.config.admin_api_token.get_secret_value().strip()
        web.include_router(admin_router(app, token))
        web.include_router(console_router(app, token))
    else:
        log.info("ADMIN_API_TOKEN is not set: the admin API and the console are off")
    for platform in platforms:
        if platform.mount is not None:
            platform.mount(web)
    web.add_middleware(BodyLimit)
    web.add_middleware(SecurityHeaders)
    web.add_middleware(RequestLog)
    return web
