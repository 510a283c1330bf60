"""How long hostile input stalls the web server's event loop (issue 10), printed as figures.

    .venv/bin/python bench/stalls.py

Serves the real web application (web chat, admin API, Slack's and Telegram's endpoints) with uvicorn in
this process over in-memory stores, measures the event loop's lag every 5 ms, and runs each attack from
client threads: a 300 MB body streamed, and declared, to /slack/events; the ReDoS survey and the
100,000,000-button rating uploaded; answers against a pattern that backtracks for seconds (put in the
store directly, as an older release might have stored it, since the loader refuses it now). For each it
prints the worst and the 99th-percentile lag, the attack's own duration and the server's memory growth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
from pydantic import SecretStr
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.bootstrap import App  # noqa: E402
from adapters.config import Config, SlackSettings, WebSettings  # noqa: E402
from adapters.runner import WebServer, uvicorn_config  # noqa: E402
from adapters.slack import SlackBot  # noqa: E402
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore  # noqa: E402
from adapters.web import identity  # noqa: E402
from adapters.web.app import create_web_app  # noqa: E402
from bot.catalog import SurveyCache, publish  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.loader import load_text  # noqa: E402

ADMIN = "bench-admin-token-0123456789abcdef"
NAMES = """\
id: names
title: Names
questions:
  - id: name
    type: text
    text: Your full name?
    max_length: 4000
    pattern: "[a-z ]+"
"""
REDOS = NAMES.replace('"[a-z ]+"', '"([A-Za-z]+ ?)*"').replace("id: names", "id: redos")
HUGE_RATING = """\
id: huge
title: Huge
questions:
  - {id: r, type: rating, text: Rate, min: 1, max: 100000000}
"""
SLOW_PATTERN = "(.*){1,20}[bc]"  # seconds of backtracking in the regex module on 4,000 letters


class LoopLag:
    """Samples how late a 5 ms sleep wakes up: the event loop's stall."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.samples.append(max(0.0, loop.time() - before - 0.005))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def take(self) -> list[float]:
        taken, self.samples = self.samples, []
        return taken


def post_streamed(url: str) -> str:
    def body() -> Iterator[bytes]:
        for _ in range(300 * 16):
            yield b"x" * (64 * 1024)

    try:
        got = httpx.post(url, content=body(), timeout=60)
        return f"HTTP {got.status_code}"
    except httpx.HTTPError as error:
        return f"closed ({type(error).__name__})"


def post_declared(url: str) -> str:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n" + b"x" * 65536
        )
        return s.recv(200).split(b"\r\n")[0].decode()


def upload(url: str, text: str) -> str:
    got = httpx.post(
        f"{url}/api/surveys",
        params={"filename": "attack.yaml"},
        content=text,
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/yaml"},
        timeout=60,
    )
    return f"HTTP {got.status_code}: {got.json().get('problems', [''])[0][:70]}"


def slow_answers(url: str, key: bytes, count: int) -> str:
    def one(index: int) -> str:
        respondent = identity.sign(key, f"{index:024x}")
        with connect(f"ws{url[4:]}/ws/surveys/slow?respondent={respondent}") as ws:
            ws.recv()
            started = time.perf_counter()
            ws.send(json.dumps({"type": "text", "text": "a" * 4000, "id": "x"}))
            messages = json.loads(ws.recv())["messages"]
            said = next((m["text"] for m in messages if m["kind"] == "error"), messages[-1]["text"])
            return f"{time.perf_counter() - started:.2f} s: {said[:40]}"

    threads: list[str] = []
    workers = [threading.Thread(target=lambda i=i: threads.append(one(i))) for i in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return "; ".join(sorted(set(t.split(": ", 1)[1] for t in threads))) + f" ({count} at once)"


async def main() -> None:
    logging.disable(logging.WARNING)  # the re-asked answers are logged as warnings: not figures
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    await publish(surveys, load_text(NAMES, "names.yaml"))
    slow = load_text(NAMES.replace("id: names", "id: slow"), "slow.yaml")
    question = dataclasses.replace(slow.questions[0], pattern=SLOW_PATTERN)
    await surveys.add(dataclasses.replace(slow, questions=(question,), version=1))
    cache = SurveyCache(surveys, newest_ttl=0)
    config = Config(
        slack=SlackSettings(
            api_url="http://127.0.0.1:9/api/",
            bot_token=SecretStr("xoxb-bench"),
            signing_secret=SecretStr("bench-signing-secret"),
        ),
        admin_api_token=SecretStr(ADMIN),
        web=WebSettings(port=8000),
    )
    app = App(config, surveys, responses, sessions, cache, Engine(cache, responses, sessions, b"k"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server_config = uvicorn_config(create_web_app(app, [SlackBot(app).platform()]), config)
    server_config.lifespan = "off"
    server = WebServer(server_config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    await server.accepting.wait()

    def idle() -> str:
        time.sleep(2)
        return "-"

    lag, process = LoopLag(), psutil.Process()
    lag.start()

    attacks: list[tuple[str, Callable[[], str]]] = [
        ("idle, 2 s", idle),
        ("300 MB streamed to /slack/events, unsigned", lambda: post_streamed(f"{url}/slack/events")),
        ("300 MB declared to /slack/events", lambda: post_declared(url)),
        ("ReDoS survey uploaded (([A-Za-z]+ ?)*)", lambda: upload(url, REDOS)),
        ("rating max 100,000,000 uploaded", lambda: upload(url, HUGE_RATING)),
        ("4,000-letter answers to a slow stored pattern", lambda: slow_answers(url, app.web_key, 4)),
    ]
    print(f"{'attack':<48} {'took':>7} {'worst lag':>10} {'p99 lag':>8} {'RSS +':>8}  outcome")
    for name, attack in attacks:
        lag.take()
        rss = process.memory_info().rss
        started = time.perf_counter()
        outcome = await asyncio.to_thread(attack)
        took = time.perf_counter() - started
        await asyncio.sleep(0.05)
        samples = lag.take() or [0.0]
        worst = max(samples)
        p99 = statistics.quantiles(samples, n=100)[98] if len(samples) >= 100 else worst
        grown = (process.memory_info().rss - rss) / 2**20
        print(f"{name:<48} {took:6.2f}s {worst * 1000:8.1f}ms {p99 * 1000:6.1f}ms {grown:6.1f}MB  {outcome}")
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
