"""The web server's commands as subprocesses: `surveybot results`, several uvicorn workers, a busy port."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
SURVEYBOT = [sys.executable, "-m", "adapters.cli"]

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(mongodb_test_uri: str, redis_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MONGODB_URI": mongodb_test_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "e2e-web-secret",
        "SURVEYBOT_CONFIG": str(ROOT / "config.yaml"),
        "SURVEYBOT_LOG_FORMAT": "json",
        "COLUMNS": "200",
    }
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ADMIN_API_TOKEN"):
        env.pop(name, None)
    return env


def surveybot(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SURVEYBOT, *args], input=stdin, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
        return port


def test_results_command_prints_the_summary_and_writes_csv_and_charts(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert surveybot(env, "load", "surveys/ice-cream.yaml").returncode == 0
    for user, answers in (("ann", "2\nNo\n"), ("bob", "2\nyes\n=cmd|' /C calc'!A0\n"), ("cid", "1\n")):
        chat = surveybot(env, "chat", "ice-cream", "--user-id", user, "--name", user.title(), stdin=answers)
        assert chat.returncode == 0, chat.stderr
    out = surveybot(
        env, "results", "ice-cream", "--csv", str(tmp_path / "r.csv"), "--charts", str(tmp_path / "c")
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Ice cream preferences (ice-cream, version 1)",
        "Started 3, completed 2 (67%), in progress 1",
        "",
        "1. Which flavour of ice cream do you prefer?",
        "   3 answers: Vanilla 1 (33%); Chocolate 2 (67%); Strawberry 0 (0%)",
        "",
        "2. Would you like to provide feedback on why you chose ‹flavour›?",
        "   2 answers, 1 stopped here: Yes 1 (50%); No 1 (50%)",
        "",
        "3. What makes ‹flavour› your favourite? A sentence or two is plenty.",
        "   1 answer",
    ]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    assert [(r["respondent.name"], r["flavour"], r["wants_feedback"], r["why"]) for r in rows] == [
        ("Ann", "chocolate", "no", ""),
        ("Bob", "chocolate", "yes", "'=cmd|' /C calc'!A0"),
        ("Cid", "vanilla", "", ""),
    ]
    charts = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert charts == ["flavour.png", "wants_feedback.png"]
    with Image.open(tmp_path / "c" / "flavour.png") as chart:
        assert chart.size == (800, 450)

    missing = surveybot(env, "results", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (1, "surveybot: no survey 'nope'")


def test_run_refuses_a_busy_port(env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        refused = surveybot({**env, "SURVEYBOT_PORT": str(port)}, "run")
    assert refused.returncode == 3
    assert f"the web server cannot listen on 127.0.0.1:{port}: Address already in use" in refused.stderr


async def test_several_workers_share_the_conversations(env: dict[str, str], tmp_path: Path) -> None:
    """`uvicorn adapters.web.asgi:create --factory --workers 2`: a respondent whose every message may
    reach another worker goes through the survey, and /metrics adds up both workers."""
    assert surveybot(env, "load", "surveys/ice-cream.yaml").returncode == 0
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    log = (tmp_path / "workers.log").open("w")
    workers = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "uvicorn", "adapters.web.asgi:create", "--factory", "--workers", "2"],
        *["--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                assert workers.returncode is None, (tmp_path / "workers.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "workers.log").read_text()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            issued = await client.post("/chat/respondent")  # any worker issues, every worker accepts
            respondent = issued.json()["respondent"]
            said = []
            for text in ("Chocolate", "yes", "Creamy."):  # one connection per message: any worker may answer
                async with connect(
                    f"ws://127.0.0.1:{port}/ws/surveys/ice-cream?respondent={respondent}"
                ) as ws:
                    await ws.recv()  # the reply to connecting: welcome back, and the question
                    await ws.send(json.dumps({"type": "text", "text": text}))
                    said += [message["text"] for message in json.loads(await ws.recv())["messages"]]
            assert said[-1] == "Thank you for your time, friend! Your response has been recorded."
            metrics = (await client.get("/metrics")).text
        saved = [line for line in metrics.splitlines() if line.startswith("surveybot_answers_saved_total{")]
        assert saved == ['surveybot_answers_saved_total{platform="web"} 3.0'], metrics
        assert 'surveybot_messages_total{platform="web"} 6.0' in metrics
    finally:
        workers.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(workers.wait(), 30) == 0, (tmp_path / "workers.log").read_text()
        log.close()


def test_listening_is_said_once_the_port_accepts(env: dict[str, str]) -> None:
    """`make run` (and operators) wait for this line, then connect: the connection must not be refused."""
    port = free_port()
    run = subprocess.Popen(
        [*SURVEYBOT, "run"],
        env={**env, "SURVEYBOT_PORT": str(port)},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert run.stdout is not None
        seen: list[str] = []
        for line in run.stdout:
            seen.append(line)
            if "web server listening on" in line:
                break
        else:
            pytest.fail("".join(seen))
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted at once, not refused
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(30) == 0
        if run.stdout is not None:
            run.stdout.close()
