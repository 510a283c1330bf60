"""The web application for several worker processes:

    uvicorn adapters.web.asgi:create --factory --workers 4 --host 0.0.0.0 --port 8000 --no-access-log

Each worker opens its own connections to MongoDB and Redis in its lifespan; the engine keeps every
conversation in Redis, so the workers are interchangeable. Set ``SURVEYBOT_SECRET`` (the workers must
share it), and ``PROMETHEUS_MULTIPROC_DIR`` for ``/metrics`` to add up every worker. The platforms
configured are mounted and started in every worker: run Telegram in webhook mode here (one long-polling
bot per token only).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

from adapters.config import Config, load_config
from adapters.logs import setup_logging
from adapters.runner import running

TRY_AGAIN_LATER = 1013


class WorkerApp:
    """An ASGI application whose stores are opened in its lifespan, in the worker process serving it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.web: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.web is not None:
            await self.web(scope, receive, send)
        elif scope["type"] == "http":
            await PlainTextResponse("starting", status_code=503)(scope, receive, send)
        else:
            await WebSocketClose(TRY_AGAIN_LATER)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                web = await stack.enter_async_context(running(self.config))
                await stack.enter_async_context(web.router.lifespan_context(web))
            except Exception as error:
                await send({"type": "lifespan.startup.failed", "message": f"surveybot: {error}"})
                return
            self.web = web
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            self.web = None
        await send({"type": "lifespan.shutdown.complete"})


def create() -> WorkerApp:
    """The factory uvicorn calls in each worker (``--factory``)."""
    config = load_config()
    setup_logging(config)
    return WorkerApp(config)
