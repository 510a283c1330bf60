"""Slack's delivery side and a Slack user: what Slack's servers send to the app when a person types in
the DM, presses a button, ticks a checkbox, runs a slash command, opens the Home tab or shares a file.

Two deliveries carry the same payloads: :class:`EventsApi` posts them signed with the signing secret
over HTTP (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``, retries with ``X-Slack-Retry-Num``),
:class:`SocketModeDelivery` pushes them as envelopes through :class:`~.socket_mode.FakeSocketMode`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from .socket_mode import FakeSocketMode
from .web_api import APP_ID, BOT_USER_ID, TEAM_ID, FakeSlackWebApi, Message

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def slack_text(typed: str) -> str:
    """What Slack sends for what a person typed: ``& < >`` escaped, e-mail addresses turned into links."""
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _EMAIL.sub(lambda m: f"<mailto:{m.group(0)}|{m.group(0)}>", escaped)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Delivery(Protocol):
    async def event(self, body: dict[str, Any], retry: int = 0) -> dict[str, Any]: ...
    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any]: ...
    async def command(self, form: dict[str, str]) -> dict[str, Any]: ...


class EventsApi:
    """Slack's HTTP deliveries to the app's request URL, signed with the signing secret."""

    def __init__(self, client: httpx.AsyncClient, url: str, signing_secret: str) -> None:
        self.client = client
        self.url = url
        self.signing_secret = signing_secret

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        stamp = int(time.time()) if timestamp is None else timestamp
        signed = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature(self.signing_secret if secret is None else secret, stamp, body),
            **(headers or {}),
        }
        return await self.client.post(self.url, content=body, headers=signed)

    @staticmethod
    def _ack(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, (response.status_code, response.text)
        if not response.content:
            return {}
        if response.headers.get("content-type", "").startswith("application/json"):
            parsed: dict[str, Any] = response.json()
            return parsed
        return {"text": response.text}

    async def event(self, body: dict[str, Any], retry: int = 0) -> dict[str, Any]:
        retry_headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        )
        raw = json.dumps(body).encode()
        return self._ack(await self.post(raw, "application/json", headers=retry_headers))

    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        raw = urlencode({"payload": json.dumps(payload)}).encode()
        return self._ack(await self.post(raw, "application/x-www-form-urlencoded"))

    async def command(self, form: dict[str, str]) -> dict[str, Any]:
        return self._ack(await self.post(urlencode(form).encode(), "application/x-www-form-urlencoded"))


class SocketModeDelivery:
    """The same payloads as envelopes over the Socket Mode websocket; each returns the app's ack."""

    def __init__(self, server: FakeSocketMode) -> None:
        self.server = server

    async def _deliver(self, kind: str, payload: dict[str, Any], retry: int = 0) -> dict[str, Any]:
        envelope = await self.server.send(kind, payload, retry)
        ack: dict[str, Any] = (await self.server.ack_of(envelope)).get("payload") or {}
        return ack

    async def event(self, body: dict[str, Any], retry: int = 0) -> dict[str, Any]:
        return await self._deliver("events_api", body, retry)

    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._deliver("interactive", payload)

    async def command(self, form: dict[str, str]) -> dict[str, Any]:
        return await self._deliver("slash_commands", dict(form))


_event_ids = itertools.count(1)


def new_event_id() -> str:
    return f"Ev{next(_event_ids):08d}"


class SlackUser:
    """One person in the workspace, acting through Slack's client; ``settle`` waits for the app."""

    def __init__(
        self,
        web: FakeSlackWebApi,
        delivery: Delivery,
        user_id: str,
        name: str,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self.web = web
        self.delivery = delivery
        self.id = user_id
        self.name = name
        self.settle = settle
        self.dm = web.dm_of(user_id)
        web.add_user(user_id, name)
        self._ticked: dict[tuple[str, int, str, str], set[str]] = {}
        self._clock = itertools.count(1)

    # --- payloads as Slack builds them

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    def envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or new_event_id(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def dm_message(self, typed: str) -> dict[str, Any]:
        ts = self._ts()
        return {
            "client_msg_id": str(uuid.uuid4()),
            "type": "message",
            "text": slack_text(typed),
            "user": self.id,
            "ts": ts,
            "team": TEAM_ID,
            "channel": self.dm,
            "event_ts": ts,
            "channel_type": "im",
        }

    def _interaction(self, container: dict[str, Any], action: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "user": {"id": self.id, "username": self.name, "name": self.name, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": f"{next(self._clock)}.{TEAM_ID}.{uuid.uuid4().hex}",
            "team": {"id": TEAM_ID, "domain": "example"},
            "enterprise": None,
            "is_enterprise_install": False,
            "response_url": f"https://hooks.slack.com/actions/{TEAM_ID}/1/{uuid.uuid4().hex}",
            "actions": [{**action, "action_ts": self._ts()}],
            **extra,
        }

    def _message_interaction(self, message: Message, action: dict[str, Any]) -> dict[str, Any]:
        container = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": self.dm,
            "is_ephemeral": False,
        }
        values: dict[str, dict[str, Any]] = {}
        for block, element in _elements(message):
            if element["type"] == "checkboxes":
                ticked = self._ticks(message, block, element)
                values.setdefault(block["block_id"], {})[element["action_id"]] = {
                    "type": "checkboxes",
                    "selected_options": [o for o in element["options"] if o["value"] in ticked],
                }
        return self._interaction(
            container,
            action,
            channel={"id": self.dm, "name": "directmessage"},
            message=message.payload(),
            state={"values": values},
        )

    def _ticks(self, message: Message, block: dict[str, Any], element: dict[str, Any]) -> set[str]:
        """What the client shows ticked: the message's initial options until the person clicks; an
        update of the message renders it afresh."""
        key = (message.ts, message.edits, block["block_id"], element["action_id"])
        if key not in self._ticked:
            self._ticked[key] = {o["value"] for o in element.get("initial_options", [])}
        return self._ticked[key]

    # --- what the person does

    async def say(self, typed: str, *, event_id: str | None = None, retry: int = 0) -> dict[str, Any]:
        ack = await self.delivery.event(self.envelope(self.dm_message(typed), event_id), retry)
        await self.settle()
        return ack

    async def press(self, label: str) -> Message:
        """Press the button labelled ``label`` on the newest message in the DM that has one."""
        message, payload = self.press_payload(label)
        await self.delivery.interaction(payload)
        await self.settle()
        return message

    def press_payload(self, label: str) -> tuple[Message, dict[str, Any]]:
        """The message with the button labelled ``label``, and the interaction a press on it sends
        (to send later, or twice, as a slow client would)."""
        message = self.web.last_message(self.dm, lambda m: _button(m, label) is not None)
        block, button = _button(message, label)  # type: ignore[misc]
        action = {
            "action_id": button["action_id"],
            "block_id": block["block_id"],
            "text": button["text"],
            "value": button["value"],
            "type": "button",
        }
        return message, self._message_interaction(message, action)

    async def tick(self, label: str) -> Message:
        """Tick (or untick) the checkbox option ``label`` on the newest message with checkboxes."""
        message = self.web.last_message(self.dm, lambda m: _checkbox(m, label) is not None)
        block, element = _checkbox(message, label)  # type: ignore[misc]
        ticked = self._ticks(message, block, element)
        value = next(o["value"] for o in element["options"] if o["text"]["text"] == label)
        ticked ^= {value}
        action = {
            "type": "checkboxes",
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "selected_options": [o for o in element["options"] if o["value"] in ticked],
        }
        await self.delivery.interaction(self._message_interaction(message, action))
        await self.settle()
        return message

    async def slash(self, command: str, text: str = "", channel: str = "C0GENERAL") -> dict[str, Any]:
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "general",
            "user_id": self.id,
            "user_name": self.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"https://hooks.slack.com/commands/{TEAM_ID}/1/{uuid.uuid4().hex}",
            "trigger_id": f"{next(self._clock)}.{TEAM_ID}.{uuid.uuid4().hex}",
        }
        ack = await self.delivery.command(form)
        await self.settle()
        return ack

    async def open_home(self) -> dict[str, Any]:
        event = {
            "type": "app_home_opened",
            "user": self.id,
            "channel": self.dm,
            "tab": "home",
            "event_ts": self._ts(),
        }
        await self.delivery.event(self.envelope(event))
        await self.settle()
        return self.web.views[self.id]

    async def press_home(self, label: str) -> None:
        view = self.web.views[self.id]
        button = next(
            b["accessory"]
            for b in view["blocks"]
            if b.get("accessory", {}).get("text", {}).get("text") == label
        )
        action = {
            **{k: button[k] for k in ("action_id", "text", "value")},
            "block_id": "home",
            "type": "button",
        }
        container = {"type": "view", "view_id": f"V{self.id}"}
        await self.delivery.interaction(self._interaction(container, action, view={"type": "home", **view}))
        await self.settle()

    async def upload(self, name: str, content: bytes, *, event_id: str | None = None) -> str:
        """Share a file in the DM: Slack stores it and sends a ``message`` of subtype ``file_share``
        (the file's name, no download address) and ``file_shared`` (its id), as two events."""
        file_id = self.web.add_file(self.id, name, content)
        ts = self._ts()
        message = {
            "type": "message",
            "subtype": "file_share",
            "user": self.id,
            "text": "",
            "files": [{"id": file_id, "name": name, "title": name, "size": len(content)}],
            "ts": ts,
            "channel": self.dm,
            "channel_type": "im",
            "event_ts": ts,
        }
        await self.delivery.event(self.envelope(message, f"{event_id}-message" if event_id else None))
        event = {
            "type": "file_shared",
            "channel_id": self.dm,
            "file_id": file_id,
            "user_id": self.id,
            "file": {"id": file_id},
            "event_ts": self._ts(),
        }
        await self.delivery.event(self.envelope(event, event_id))
        await self.settle()
        return file_id

    async def mention(self, channel: str) -> None:
        ts = self._ts()
        event = {
            "type": "app_mention",
            "user": self.id,
            "text": f"<@{BOT_USER_ID}> hello",
            "ts": ts,
            "team": TEAM_ID,
            "channel": channel,
            "event_ts": ts,
        }
        await self.delivery.event(self.envelope(event))
        await self.settle()

    # --- what the person sees

    def last_text(self) -> str:
        return self.web.history(self.dm)[-1].text

    def ephemerals(self) -> list[str]:
        return [text for _, user, text in self.web.ephemerals if user == self.id]


def _elements(message: Message) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(b, e) for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def _button(message: Message, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    return next(
        ((b, e) for b, e in _elements(message) if e["type"] == "button" and e["text"]["text"] == label), None
    )


def _checkbox(message: Message, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    return next(
        (
            (b, e)
            for b, e in _elements(message)
            if e["type"] == "checkboxes" and any(o["text"]["text"] == label for o in e["options"])
        ),
        None,
    )
