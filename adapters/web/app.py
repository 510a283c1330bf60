"""The one ASGI application `surveybot run` serves: chat page and websocket, admin API, operations,
and the HTTP endpoints that platform adapters mount (Slack's events, Telegram's webhook)."""

from __future__ import annotations

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

STATIC = Path(__file__).resolve().parent / "static"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Polled by machines: logged at DEBUG only."""

log = logging.getLogger("surveybot.web")

DESCRIPTION = """\
surveybot's web server. The **admin API** (`/api/…`) needs `Authorization: Bearer <ADMIN_API_TOKEN>`;
without a configured token it is off. The **web chat** is at `/`, talking over the websocket
`/ws/surveys/{survey_id}?respondent=ID&name=NAME` (protocol in docs/web.md). **Operations**: `/healthz`,
`/readyz`, `/metrics`.
"""


class RequestLog:
    """Pure ASGI middleware: a correlation id per HTTP request (also sent back as ``X-Correlation-Id``),
    and one log line per request with method, path (never the query string), status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
            elapsed = (time.perf_counter() - started) * 1000
            log.log(level, "%s %s %d %.1f ms", scope.get("method", ""), path, status, elapsed)
            correlation_id.reset(token)


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

        web.include_router(admin_router(app, app.config.admin_api_token.get_secret_value().strip()))
    else:
        log.info("ADMIN_API_TOKEN is not set: the admin API is off")
    for platform in platforms:
        if platform.mount is not None:
            platform.mount(web)
    web.add_middleware(RequestLog)
    return web
