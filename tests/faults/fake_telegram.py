"""A fake Telegram Bot API on 127.0.0.1 for the fault-injection tests.

It answers what ``surveybot run`` calls in webhook mode (getMe, setWebhook, deleteWebhook, setMyCommands,
sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery) with valid Bot API JSON, and
records every call, so that a test knows what each Telegram user was told. It runs in threads of its
own (``http.server``), so it keeps answering while the test's event loop is busy, and a bot process can
start up against it at any time. Any other method is recorded and refused (see :attr:`FakeBotApi.unknown`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 123456
BOT_TOKEN = f"{BOT_ID}:TEST-faults-injection-token"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Faults",
    "username": "faults_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_TRUE_METHODS = frozenset({"setWebhook", "deleteWebhook", "setMyCommands", "answerCallbackQuery"})
_JSON_FIELDS = frozenset({"reply_markup", "commands", "allowed_updates", "scope", "link_preview_options"})


@dataclass(frozen=True)
class ApiCall:
    """One Bot API call as the fake received it; ``message_id`` is that of the message sent or edited."""

    seq: int
    at: float
    method: str
    params: dict[str, Any]
    chat_id: int | None
    message_id: int | None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or "")

    def button_data(self) -> list[str]:
        """The ``callback_data`` of every inline button of the call's keyboard, row by row."""
        markup = self.params.get("reply_markup")
        if not isinstance(markup, dict):
            return []
        return [
            str(button.get("callback_data"))
            for row in markup.get("inline_keyboard") or []
            for button in row
            if button.get("callback_data") is not None
        ]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class FakeBotApi:
    """The fake Bot API under ``url``: methods live at ``{url}/bot{token}/{method}`` as on Telegram."""

    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._by_chat: dict[int, list[ApiCall]] = {}
        self._next_message_id = 1000
        self._callback_chats: dict[str, int] = {}
        self.hold = threading.Event()
        """While set, every sendMessage waits (the bot's request stays unanswered) until it is cleared."""
        self.held = 0
        """sendMessage requests waiting now."""
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bot-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(10)
        self._server.server_close()

    def expect_callback(self, callback_query_id: str, chat_id: int) -> None:
        """Say which chat a callback query belongs to: ``answerCallbackQuery`` names only the query."""
        with self._lock:
            self._callback_chats[callback_query_id] = chat_id

    # what the tests read

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def count(self, method: str) -> int:
        return len(self.calls(method))

    def chat_calls(self, chat_id: int, start: int = 0) -> list[ApiCall]:
        """The calls about ``chat_id`` (its ``chat_id`` parameter, or the chat of the callback query
        answered), from the ``start``-th on."""
        with self._lock:
            return list(self._by_chat.get(chat_id, ())[start:])

    @property
    def unknown(self) -> list[ApiCall]:
        """Calls the fake does not know: a sign that the harness misses something the bot does."""
        known = {
            "getMe",
            "getChat",
            "sendMessage",
            "editMessageText",
            "editMessageReplyMarkup",
            *_TRUE_METHODS,
        }
        return [c for c in self.calls() if c.method not in known]

    # answering

    def respond(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :].split("?", 1)[0]
        params = self._params(content_type, body)
        if method == "sendMessage" and self.hold.is_set():
            with self._lock:
                self.held += 1
            deadline = time.monotonic() + 60
            while self.hold.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            with self._lock:
                self.held -= 1
        with self._lock:
            chat_id = _int(params.get("chat_id"))
            if chat_id is None and method == "answerCallbackQuery":
                chat_id = self._callback_chats.get(str(params.get("callback_query_id")))
            status, payload, message_id = self._answer(method, params, chat_id)
            call = ApiCall(len(self._calls), time.monotonic(), method, params, chat_id, message_id)
            self._calls.append(call)
            if chat_id is not None:
                self._by_chat.setdefault(chat_id, []).append(call)
        return status, payload

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if "json" in content_type:
            loaded = json.loads(body)
            return dict(loaded) if isinstance(loaded, dict) else {}
        params: dict[str, Any] = dict(parse_qsl(body.decode(), keep_blank_values=True))
        for name in _JSON_FIELDS & params.keys():
            with contextlib.suppress(ValueError):
                params[name] = json.loads(params[name])
        return params

    def _answer(
        self, method: str, params: dict[str, Any], chat_id: int | None
    ) -> tuple[int, dict[str, Any], int | None]:
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}, None
        if method == "getChat" and chat_id is not None:
            chat = {
                "id": chat_id,
                "type": "private",
                "first_name": f"Person{chat_id}",
                "accent_color_id": 0,
                "max_reaction_count": 11,
            }
            return 200, {"ok": True, "result": chat}, None
        if method in _TRUE_METHODS:
            return 200, {"ok": True, "result": True}, None
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup") and chat_id is not None:
            if method == "sendMessage":
                self._next_message_id += 1
                message_id = self._next_message_id
            else:
                message_id = _int(params.get("message_id")) or 0
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Respondent"},
                "from": BOT_USER,
            }
            if method != "editMessageReplyMarkup":
                message["text"] = str(params.get("text") or "")
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                message["reply_markup"] = markup
            return 200, {"ok": True, "result": message}, message_id
        return (
            400,
            {"ok": False, "error_code": 400, "description": f"Bad Request: fake has no {method}"},
            None,
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.server.api.respond(self.path, self.headers.get("Content-Type", ""), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every call is recorded instead."""
