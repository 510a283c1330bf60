"""Telegram for the end-to-end tests: the npm package telegram-test-api as the Bot API (started through
``launcher.js`` beside this file, which fixes what python-telegram-bot cannot parse), a user acting through
the emulator's client routes and reading what the bot sent, and the real ``surveybot run`` (long polling
or webhook, with the web server beside it) as a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pymongo
import pytest

ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = Path(__file__).resolve().parent / "launcher.js"
SURVEYBOT = [sys.executable, "-m", "adapters.cli"]
WAIT_S = 15.0

T = TypeVar("T")
Message = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float = WAIT_S, log: Path | None = None
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8")[-4000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.02)


# --------------------------------------------------------------------------- the emulator


@dataclass
class Emulator:
    url: str
    http: httpx.Client

    def post(self, route: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"{self.url}{route}", json=body)
        response.raise_for_status()
        return response.json()["result"]


@contextlib.contextmanager
def running_emulator(log: Path) -> Iterator[Emulator]:
    """telegram-test-api behind our launcher, on a free loopback port, until the block ends."""
    if not (ROOT / "node_modules" / "telegram-test-api").is_dir():
        pytest.fail("telegram-test-api is not installed: run `make npm-deps` (make test does)")
    with log.open("w") as errors:
        process = subprocess.Popen(
            ["node", str(LAUNCHER), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("listening on http://"), f"{first}\n{log.read_text()}"
        with httpx.Client(timeout=10) as http:
            yield Emulator(first.removeprefix("listening on "), http)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class User:
    """The Telegram user in a private chat with one bot (``token``)."""

    emulator: Emulator
    token: str
    id: int
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    language_code: str | None = None
    """What the user's Telegram app is set to (IETF tag, e.g. ``de``); sent as Telegram sends it."""
    seen: int = 0
    """How many of the bot's messages the test has looked at."""
    presses: int = 0

    @property
    def sender(self) -> dict[str, Any]:
        sender = {"id": self.id, "is_bot": False, "first_name": self.first_name, "last_name": self.last_name}
        return sender if self.language_code is None else {**sender, "language_code": self.language_code}

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name, "last_name": self.last_name}

    def message(self, **fields: Any) -> dict[str, Any]:
        return {
            "botToken": self.token,
            "from": self.sender,
            "chat": self.chat,
            "date": int(time.time()),
            **fields,
        }

    def say(self, text: str) -> None:
        if text.startswith("/"):
            command = text.split()[0]
            entities = [{"offset": 0, "length": len(command), "type": "bot_command"}]
            self.emulator.post("/sendCommand", self.message(text=text, entities=entities))
        else:
            self.emulator.post("/sendMessage", self.message(text=text))

    def send_document(self, name: str, content: str) -> None:
        file = self.emulator.post("/uploadFile", {"token": self.token, "content": content})
        document = {**file, "file_name": name, "mime_type": "application/x-yaml"}
        self.emulator.post("/sendMessage", self.message(document=document))

    def press(self, message: Message, label: str) -> None:
        self.press_data(message, button_data(message, label))

    def press_data(self, message: Message, data: str) -> None:
        self.presses += 1
        shown = {k: message[k] for k in ("message_id", "date", "chat", "text") if k in message}
        self.emulator.post(
            "/sendCallback", {"botToken": self.token, "from": self.sender, "message": shown, "data": data}
        )

    def messages(self) -> list[Message]:
        result: list[Message] = self.emulator.post("/botMessages", {"token": self.token, "chatId": self.id})
        return result

    def expect(self, *texts: str, log: Path | None = None) -> list[Message]:
        """Wait for new bot messages holding ``texts`` in this order, the last one last; return them all."""

        def arrived() -> list[Message] | None:
            new = self.messages()[self.seen :]
            shown = [m.get("text") or m.get("caption") or "" for m in new]
            if not new or texts[-1] not in shown[-1]:
                return None
            at = 0
            for text in texts:
                at = next((i for i in range(at, len(shown)) if text in shown[i]), -1) + 1
                if at == 0:
                    return None
            return new

        new = wait_until(f"bot messages {texts}", arrived, log=log)
        self.seen += len(new)
        return new

    def edited(self, message: Message, check: Callable[[Message], bool], log: Path | None = None) -> Message:
        def current() -> Message | None:
            now = next(m for m in self.messages() if m["message_id"] == message["message_id"])
            return now if check(now) else None

        return wait_until(f"an edit of message {message['message_id']}", current, log=log)

    def callback_answers(self) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = self.emulator.post("/callbackAnswers", {"token": self.token})
        return answers


def button_data(message: Message, label: str) -> str:
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            if button["text"] in (label, f"✓ {label}"):
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} in {message}")


def keyboard(message: Message) -> list[list[str]]:
    return [[b["text"] for b in row] for row in message.get("reply_markup", {}).get("inline_keyboard", [])]


def showing(label: str) -> Callable[[Message], bool]:
    return lambda message: any(label in row for row in keyboard(message))


# --------------------------------------------------------------------------- the bot process


@dataclass
class Bot:
    """``surveybot run`` with a Telegram token of its own, in polling or webhook mode."""

    emulator: Emulator
    env: dict[str, str]
    logs: Path
    webhook: bool
    token: str = field(init=False)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def __post_init__(self) -> None:
        self.token = f"{random.randint(10**8, 10**9)}:e2e-token"

    @property
    def log(self) -> Path:
        return self.logs / f"bot-{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        env = {
            **self.env,
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_API_BASE_URL": self.emulator.url,
            "SURVEYBOT_HOST": "127.0.0.1",
            "SURVEYBOT_PORT": str(self.port),
        }
        if self.webhook:
            env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{self.port}"
        with self.log.open("w") as log:
            self.process = subprocess.Popen([*SURVEYBOT, "run"], env=env, cwd=ROOT, stdout=log, stderr=log)
        wait_until(
            "the command menu",
            lambda: self.alive() and self.emulator.post("/commands", self.body),
            log=self.log,
        )
        if self.webhook:
            wait_until(
                "the webhook", lambda: self.alive() and self.api("getWebhookInfo")["url"], log=self.log
            )
        wait_until("the web server", lambda: self.alive() and self.healthy(), log=self.log)

    @property
    def body(self) -> dict[str, str]:
        return {"token": self.token}

    def alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"surveybot run exited with {self.process.returncode}\n{self.log.read_text()}"
            )
        return True

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def api(self, method: str) -> Any:
        return self.emulator.post(f"/bot{self.token}/{method}", {})

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)
        self.process = None

    def user(self, user_id: int | None = None, language_code: str | None = None) -> User:
        return User(
            self.emulator, self.token, user_id or random.randint(10**6, 10**7), language_code=language_code
        )


def surveybot_env(mongodb_uri: str, redis_url: str, config: Path) -> dict[str, str]:
    """The environment of ``surveybot load`` and ``run`` on the test's stores (no platform of the
    developer's own environment: each test names its own)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
        "MONGODB_URI": mongodb_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "e2e-secret",
        "SURVEYBOT_CONFIG": str(config),
        "SURVEYBOT_LOG_LEVEL": "INFO",
    }


def stored_responses(mongodb_uri: str, survey_id: str) -> list[dict[str, Any]]:
    """The survey's responses in MongoDB (``mongodb_uri`` names the database), oldest first."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_uri)
    with client:
        return list(
            client.get_default_database()["responses"].find({"survey_id": survey_id}).sort("started_at")
        )
