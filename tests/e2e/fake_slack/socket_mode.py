"""Slack's side of Socket Mode on a loopback port: the websocket that ``apps.connections.open`` points
to. It greets a connection with ``hello``, pushes envelopes (events, interactions, slash commands) and
collects the app's acknowledgements, as Slack's servers do."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from .web_api import APP_ID


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.hellos = 0
        self._socket: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._acked = asyncio.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        application = web.Application()
        application.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id={APP_ID}"
        return self.url

    async def stop(self) -> None:
        if self._socket is not None and not self._socket.closed:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def connected(self) -> None:
        async with asyncio.timeout(5):
            await self._connected.wait()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.hellos += 1
        self._connected.set()
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                data = json.loads(message.data)
                async with self._acked:
                    self.acks[data["envelope_id"]] = data
                    self._acked.notify_all()
        return socket

    async def send(self, kind: str, payload: dict[str, Any], retry_attempt: int = 0) -> str:
        """Push an envelope (``events_api``, ``interactive`` or ``slash_commands``); its id."""
        assert self._socket is not None, "no app is connected"
        envelope_id = f"env-{next(self._ids)}"
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return envelope_id

    async def ack_of(self, envelope_id: str) -> dict[str, Any]:
        """The app's acknowledgement of an envelope; Slack wants it within 3 seconds."""
        async with asyncio.timeout(3), self._acked:
            await self._acked.wait_for(lambda: envelope_id in self.acks)
        return self.acks[envelope_id]
