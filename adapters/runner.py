"""`surveybot run`: the web server plus every platform adapter whose credentials are configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from adapters.bootstrap import App, open_app
from adapters.config import Config
from adapters.platform import Platform
from adapters.webhooks import Webhooks
from bot.errors import CannotListen

log = logging.getLogger("surveybot.run")


def configured_platforms(app: App) -> list[Platform]:
    """The platforms whose credentials are set. Each adapter module is imported only when used."""
    platforms: list[Platform] = []
    # Telegram: adapters/telegram.py; TELEGRAM_BOT_TOKEN turns it on.
    if app.config.telegram.bot_token is not None:
        from adapters.telegram import telegram_platform

        platforms.append(telegram_platform(app))
    # Slack: adapters/slack.py; SLACK_BOT_TOKEN with SLACK_APP_TOKEN (Socket Mode) or with
    # SLACK_SIGNING_SECRET (the Events API at /slack/events on the web server).
    slack = app.config.slack
    if slack.bot_token is not None and (slack.app_token is not None or slack.signing_secret is not None):
        from adapters.slack import slack_platform

        platforms.append(slack_platform(app))
    elif slack.bot_token is not None:
        log.warning("SLACK_BOT_TOKEN needs SLACK_APP_TOKEN or SLACK_SIGNING_SECRET; Slack stays off")
    return platforms


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[FastAPI]:
    """The web application, with the stores open, every configured platform mounted on it and started;
    on exit the platforms are stopped and the stores closed. Used by :func:`serve` and by the worker
    processes of :mod:`adapters.web.asgi`."""
    from adapters.web.app import create_web_app

    app = await open_app(config)
    started: list[Platform] = []
    webhooks: Webhooks | None = None
    stop_background = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    try:
        platforms = configured_platforms(app)
        # Every process relays and delivers webhooks and broadcasts, one worker at a time per delivery,
        # and plans and sends campaigns, one worker per invitation.
        webhooks = app.webhooks(posters={p.name: p.post for p in platforms if p.post is not None})
        campaigns = app.campaign_runner({p.name: p.reach for p in platforms if p.reach is not None})
        background += [
            asyncio.create_task(webhooks.run(stop_background)),
            asyncio.create_task(campaigns.run(stop_background)),
        ]
        web = create_web_app(app, platforms)
        for platform in platforms:
            if platform.start is not None:
                await platform.start()
            started.append(platform)
            log.info("platform %s started", platform.name)
        yield web
    finally:
        stop_background.set()
        if background:
            # Work under way finishes while the platforms are still up; what does not in time is left
            # to its lease, which another worker takes over.
            _, late = await asyncio.wait(background, timeout=config.webhooks.timeout_seconds + 1)
            for task in late:
                task.cancel()
            if late:
                log.warning("background work under way was left to its leases")
                await asyncio.gather(*late, return_exceptions=True)
        if webhooks is not None:
            await webhooks.aclose()
        for platform in reversed(started):
            if platform.stop is not None:
                await platform.stop()
        await app.aclose()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``; :class:`CannotListen` naming them when that is not possible."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it, a reply of
    # several websocket frames waits ~40 ms for delayed ACKs (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise CannotListen(f"the web server cannot listen on {host}:{port}: {error.strerror}") from error
    return sock


def uvicorn_config(web: FastAPI, config: Config) -> uvicorn.Config:
    """Logging is ours (``log_config=None``, no access log: it would carry query strings); websocket
    frames are small JSON messages."""
    return uvicorn.Config(
        web,
        host=config.web.host,
        port=config.web.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


class WebServer(uvicorn.Server):
    """uvicorn's server, leaving SIGINT and SIGTERM to :func:`serve`; ``accepting`` is set once its
    startup is over and the socket accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.accepting = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.accepting.set()


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Serve the web application on ``web.host``:``web.port`` and run the platforms, until ``stop`` is set
    (or SIGINT/SIGTERM)."""
    sock = listen(config.web.host, config.web.port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(config) as web:
            server = WebServer(uvicorn_config(web, config))
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            stopping = asyncio.create_task(stop.wait())
            # Said once the socket accepts, not when the server's task is created.
            accepting = asyncio.create_task(server.accepting.wait())
            await asyncio.wait({serving, stopping, accepting}, return_when=asyncio.FIRST_COMPLETED)
            if accepting.done():
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                log.info("web server listening on http://%s:%d/", shown, port)
            else:
                accepting.cancel()
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            stopping.cancel()
            await serving
    finally:
        sock.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
