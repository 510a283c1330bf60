"""Slack's Web API as the adapter uses it, served on a loopback port (slack-bolt's own tests do the same
with ``tests/mock_web_api_server``).

It records every call, keeps the state a test needs to play the Slack client (the messages in each DM
as last posted or updated, ephemeral messages, Home views, files), and refuses what Slack refuses: a
wrong token (``invalid_auth``), a method whose scope the app manifest does not grant
(``missing_scope``), blocks that break Block Kit's limits (``invalid_blocks``), an update of a message
that is not there (``message_not_found``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

TEAM_ID = "T0001"
APP_ID = "A0SURVEY1"
BOT_USER_ID = "U0BOTUSER"
BOT_ID = "B0SURVEY1"
MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yaml"

METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,  # app-level token with connections:write
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "views.publish": None,
    "users.info": "users:read",
    "conversations.members": "channels:read",
    "usergroups.users.list": "usergroups:read",
    "conversations.open": "im:write",
    "files.info": "files:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
"""Each Web API method the fake serves, and the bot scope Slack requires for it."""


def manifest_scopes() -> frozenset[str]:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None = None


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    edits: int = 0

    def payload(self) -> dict[str, Any]:
        """The message as Slack puts it into a ``block_actions`` payload."""
        return {
            "type": "message",
            "subtype": "bot_message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }


@dataclass
class StoredFile:
    id: str
    name: str
    content: bytes
    user: str
    title: str = ""
    channels: list[str] = field(default_factory=list)


class BlockKitError(Exception):
    pass


def check_blocks(blocks: Any, max_blocks: int) -> None:
    """Slack's Block Kit rules for the blocks the adapter sends."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= max_blocks:
        raise BlockKitError(f"{len(blocks)} blocks; at most {max_blocks}")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        raise BlockKitError("duplicate block_id")
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if not 0 < len(block["text"]["text"]) <= 3000:
                raise BlockKitError("section text must be 1 to 3000 characters")
            if "accessory" in block:
                _check_element(block["accessory"])
        elif kind == "header":
            if len(block["text"]["text"]) > 150:
                raise BlockKitError("header text over 150 characters")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                raise BlockKitError("context holds 1 to 10 elements")
        elif kind == "actions":
            elements = block["elements"]
            if not 0 < len(elements) <= 25:
                raise BlockKitError("actions holds 1 to 25 elements")
            ids = [e["action_id"] for e in elements]
            if len(ids) != len(set(ids)):
                raise BlockKitError("duplicate action_id in a block")
            for element in elements:
                _check_element(element)
        else:
            raise BlockKitError(f"unknown block type {kind!r}")


def _check_element(element: dict[str, Any]) -> None:
    if element["type"] == "button":
        if not 0 < len(element["text"]["text"]) <= 75 or len(element.get("value", "")) > 2000:
            raise BlockKitError("button text 1 to 75, value up to 2000 characters")
    elif element["type"] == "checkboxes":
        options = element["options"]
        if not 0 < len(options) <= 10:
            raise BlockKitError("checkboxes hold 1 to 10 options")
        if any(len(o["text"]["text"]) > 75 or len(o["value"]) > 150 for o in options):
            raise BlockKitError("option text up to 75, value up to 150 characters")
        initial = element.get("initial_options")
        if initial is not None and (not initial or any(o not in options for o in initial)):
            raise BlockKitError("initial_options must be non-empty and among the options")
    else:
        raise BlockKitError(f"unexpected element {element['type']!r}")


class SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class FakeSlackWebApi:
    """The Web API at ``{url}/api/``; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self, bot_token: str, app_token: str | None = None, scopes: frozenset[str] | None = None
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.scopes = manifest_scopes() if scopes is None else scopes
        self.socket_mode_url: str | None = None
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[tuple[str, str, str]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self._clock = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.delays: dict[str, float] = {}
        """Seconds a method takes to answer, to show that the app acknowledges before it works."""
        self.rate_limited: dict[str, int] = {}
        """Calls of each method still to answer 429 ``ratelimited`` with ``Retry-After: retry_after``."""
        self.retry_after = 1
        self.members: dict[str, list[str]] = {}
        """Channel id → its members (conversations.members, paged)."""
        self.usergroups: dict[str, list[str]] = {}

    # --- running

    async def start(self) -> str:
        application = web.Application()
        application.router.add_route("*", "/api/{method}", self._api)
        application.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        application.router.add_post("/upload/v1/{file_id}", self._upload)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.api_url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests set up and read

    def add_user(
        self,
        user_id: str,
        display_name: str,
        real_name: str = "",
        tz: str | None = None,
        locale: str | None = None,
    ) -> None:
        """``locale`` (``en-US``): the language the person set in Slack, sent when asked for."""
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": display_name.lower().replace(" ", "."),
            "real_name": real_name or display_name,
            "is_bot": False,
            "profile": {"display_name": display_name, "real_name": real_name or display_name},
            **({"tz": tz} if tz else {}),
            **({"locale": locale} if locale else {}),
        }

    def add_file(self, user: str, name: str, content: bytes) -> str:
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = StoredFile(file_id, name, content, user)
        return file_id

    def join(self, channel: str) -> None:
        """The app is a member of ``channel`` (it may post there)."""
        self.messages.setdefault(channel, [])

    @staticmethod
    def dm_of(user: str) -> str:
        return "D" + user[1:]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def history(self, channel: str) -> list[Message]:
        return self.messages.get(channel, [])

    def last_message(self, channel: str, having: Callable[[Message], bool] = lambda m: True) -> Message:
        found = [m for m in self.history(channel) if having(m)]
        if not found:
            raise AssertionError(f"no such message in {channel}: {[m.text for m in self.history(channel)]}")
        return found[-1]

    def texts(self, channel: str) -> list[str]:
        return [m.text for m in self.history(channel)]

    # --- the HTTP side

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        await asyncio.sleep(self.delays.get(method, 0))
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            self.calls.append(Call(method, args, ok=False, error="ratelimited"))
            headers = {"Retry-After": str(self.retry_after)}
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        try:
            result = self._dispatch(method, token, args)
        except SlackError as exc:
            self.calls.append(Call(method, args, ok=False, error=exc.error))
            return web.json_response({"ok": False, "error": exc.error})
        self.calls.append(Call(method, args, ok=True))
        return web.json_response({"ok": True, **result})

    def _dispatch(self, method: str, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if method not in METHOD_SCOPES:
            raise SlackError("unknown_method")
        if method == "apps.connections.open":
            if token != self.app_token or self.socket_mode_url is None:
                raise SlackError("invalid_auth")
            return {"url": self.socket_mode_url}
        if token != self.bot_token:
            raise SlackError("invalid_auth")
        scope = METHOD_SCOPES[method]
        if scope is not None and scope not in self.scopes:
            raise SlackError("missing_scope")
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, "_" + method.replace(".", "_"))
        return handler(args)

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    @staticmethod
    def _json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _channel(self, args: dict[str, Any], key: str = "channel") -> str:
        channel = str(args.get(key, ""))
        known = {self.dm_of(u) for u in self.users} | set(self.messages)
        if channel not in known:
            raise SlackError("channel_not_found")
        return channel

    def _blocks(self, args: dict[str, Any], max_blocks: int = 50) -> list[dict[str, Any]]:
        blocks = self._json(args.get("blocks") or [])
        if blocks:
            try:
                check_blocks(blocks, max_blocks)
            except (BlockKitError, KeyError, TypeError) as exc:
                raise SlackError(f"invalid_blocks: {exc}") from exc
        return list(blocks)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "surveybot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        blocks = self._blocks(args)
        text = str(args.get("text") or "")
        if not text and not blocks:
            raise SlackError("no_text")
        if len(text) > 40_000:
            raise SlackError("msg_too_long")
        message = Message(self._ts(), text, blocks)
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message.ts, "message": message.payload()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = next((m for m in self.history(channel) if m.ts == args.get("ts")), None)
        if message is None:
            raise SlackError("message_not_found")
        message.blocks = self._blocks(args)
        message.text = str(args.get("text") or "")
        message.edits += 1
        return {"channel": channel, "ts": message.ts, "text": message.text}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, user = str(args.get("channel", "")), str(args.get("user", ""))
        if user not in self.users:
            raise SlackError("user_not_found")
        self.ephemerals.append((channel, user, str(args.get("text") or "")))
        return {"message_ts": self._ts()}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id", ""))
        view = self._json(args.get("view"))
        if user not in self.users:
            raise SlackError("user_not_found")
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        self._blocks({"blocks": view.get("blocks")}, max_blocks=100)
        self.views[user] = view
        return {"view": {"id": f"V{user}", **view}}

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self.members:
            raise SlackError("channel_not_found")
        start, size = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        page = self.members[channel][start : start + size]
        following = start + size if start + size < len(self.members[channel]) else None
        return {"members": page, "response_metadata": {"next_cursor": str(following) if following else ""}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": self.usergroups[group]}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        if str(args.get("include_locale", "")).lower() not in ("1", "true"):
            user = {k: v for k, v in user.items() if k != "locale"}  # Slack sends it only when asked
        return {"user": user}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("users", ""))
        if user not in self.users:
            raise SlackError("user_not_found")
        return {"channel": {"id": self.dm_of(user)}}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(args.get("file", "")))
        if stored is None:
            raise SlackError("file_not_found")
        private = f"{self.url}/files-pri/{TEAM_ID}-{stored.id}/download/{stored.name}"
        return {
            "file": {
                "id": stored.id,
                "name": stored.name,
                "title": stored.name,
                "user": stored.user,
                "size": len(stored.content),
                "mimetype": "application/x-yaml",
                "url_private": private,
                "url_private_download": private,
            }
        }

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = StoredFile(file_id, str(args.get("filename", "")), b"", BOT_USER_ID)
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, "channel_id")
        done = []
        for item in self._json(args.get("files") or []):
            stored = self.files.get(item["id"])
            if stored is None or not stored.content:
                raise SlackError("file_not_found")
            stored.title = item.get("title", stored.name)
            stored.channels.append(channel)
            done.append({"id": stored.id, "title": stored.title, "name": stored.name})
        return {"files": done}

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["team_file"].removeprefix(f"{TEAM_ID}-")
        stored = self.files.get(file_id)
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}" or stored is None:
            # Slack answers a download without the right token with its sign-in page.
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        self.calls.append(Call("download", {"file": file_id}, ok=True))
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404)
        stored.content = await request.read()
        self.calls.append(Call("upload", {"file": stored.id, "bytes": len(stored.content)}, ok=True))
        return web.Response(text=f"OK - {len(stored.content)}")
