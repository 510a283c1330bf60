"""Operations: liveness, readiness (MongoDB and Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from adapters.bootstrap import App
from adapters.metrics import exposition

PROBE_TIMEOUT = 3.0
"""Seconds a store may take to answer the readiness check."""

log = logging.getLogger("surveybot.web.ops")


async def _probe(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT)
    except TimeoutError:
        return f"unreachable: no answer within {PROBE_TIMEOUT:g} s"
    except Exception as error:
        return f"unreachable: {error}"
    return "ok"


def ops_router(app: App) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process runs", response_model=dict[str, str])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: MongoDB and Redis are reachable (503 naming the one that is not)",
        responses={
            200: {
                "content": {
                    "application/json": {"example": {"status": "ready", "mongodb": "ok", "redis": "ok"}}
                }
            },
            503: {
                "content": {
                    "application/json": {
                        "example": {
                            "status": "unavailable",
                            "mongodb": "ok",
                            "redis": "unreachable: Error 111 connecting to 127.0.0.1:6479.",
                        }
                    }
                }
            },
        },
    )
    async def readyz() -> JSONResponse:
        names = list(app.probes)
        results = await asyncio.gather(*(_probe(app.probes[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(result == "ok" for result in results)
        if not ready:
            log.warning("not ready: %s", ", ".join(n for n, r in checks.items() if r != "ok"))
        body = {"status": "ready" if ready else "unavailable", **checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
