"""`surveybot run`: the web server plus every platform adapter whose credentials are configured."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.bootstrap import App, open_app
from adapters.config import Config

log = logging.getLogger("surveybot.run")


@dataclass
class Platform:
    """One platform adapter as the runner sees it.

    ``start``/``stop`` run its background work (long polling, a Socket Mode connection); ``mount`` adds
    its HTTP endpoints (a webhook, the Slack Events API) to the web application, which is a FastAPI app.
    """

    name: str
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    mount: Callable[[Any], None] | None = None
    details: dict[str, str] = field(default_factory=dict)


def configured_platforms(app: App) -> list[Platform]:
    """The platforms whose credentials are set. Each adapter module is imported only when used."""
    platforms: list[Platform] = []
    # Telegram: adapters/telegram.py
    # Slack: adapters/slack.py
    return platforms


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM)."""
    app = await open_app(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platforms = configured_platforms(app)
    started: list[Platform] = []
    try:
        for platform in platforms:
            if platform.start is not None:
                await platform.start()
            started.append(platform)
            log.info("platform %s started", platform.name)
        await stop.wait()
    finally:
        for platform in reversed(started):
            if platform.stop is not None:
                await platform.stop()
        await app.aclose()
