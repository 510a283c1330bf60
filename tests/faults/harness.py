"""The fault-injection harness: real processes, real clients, and the counts that decide a test.

- :class:`Cluster` is one test's world: its own SecantusDB (on-disk storage in the test's tmp dir, so a
  kill -9 and a restart on the same port keep the data), its own redis-server, the fake Telegram Bot API
  of :mod:`tests.faults.fake_telegram`, the survey of ``faults-survey.yaml`` loaded with ``surveybot load``,
  and ``surveybot run`` (web chat and Telegram webhook), which may be killed and started again. Faults are
  signals sent by PID: SIGKILL, SIGSTOP/SIGCONT; and Redis FLUSHALL. :meth:`Cluster.stop` stops every
  process it started, whatever happened.
- :class:`WebRespondent` (the websocket protocol of docs/web.md) and :class:`TelegramRespondent` (updates
  POSTed to ``/telegram/webhook``; what the bot said is read from the fake Bot API) answer every question
  with values derived from their index, and count what they were told (see :class:`Outcome`).
- :class:`Run` drives respondents, marks the faults, checks what MongoDB holds (:meth:`Run.verdict`) and
  adds one line of figures per test to :data:`FIGURES`, which ``conftest.py`` prints in the summary.

``FAULTS_PRODUCT_ROOT`` names another checkout of surveybot to run as the bot (``python -m adapters.cli``
with that directory as working directory, e.g. a ``git archive HEAD`` copy); by default it is this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pymongo
import redis
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from adapters.bootstrap import App, open_app
from adapters.config import load_config
from adapters.telegram import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from adapters.web import identity
from devtools.services import (
    ServiceError,
    ServiceProcess,
    find_redis_server,
    find_secantusd,
    free_ports,
    parent_death_signal,
    spawn,
    start_redis,
    start_secantus,
)
from tests.faults.fake_telegram import BOT_TOKEN, BOT_USER, ApiCall, FakeBotApi

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SURVEY_FILE = HERE / "faults-survey.yaml"
PRODUCT_ROOT_OVERRIDE = os.environ.get("FAULTS_PRODUCT_ROOT")
PRODUCT_ROOT = Path(PRODUCT_ROOT_OVERRIDE or ROOT).resolve()
VENV_BIN = ROOT / ".venv" / "bin"

SEND_QUESTION_ID = True
"""Send ``question_id`` (the id of the question being answered, from the last question shown) in text
frames. A server that does not know the field refuses the frame with an error frame."""

SECRET = "faults-fixed-respondent-secret-0123456789abcdef"
REDELIVER_PAUSE = 0.4
"""Seconds a respondent waits after a "try again" (or no reply at all) before delivering the same again."""
REPLY_TIMEOUT = 30.0
"""Seconds a respondent waits for the reply to one frame or webhook POST before counting it as lost."""
BOT_START_TIMEOUT = 40.0

FIGURES: list[str] = []
"""One line of figures per test, printed by ``conftest.py`` in the terminal summary."""

# What the bot says on its own behalf, to tell apart on Telegram (the web chat marks them with a kind).
ALREADY_ANSWERED = "This question was already answered."
RESUMING_PREFIX = "Welcome back!"
COMPLETED_PREFIX = "You have already completed"


class HarnessError(Exception):
    """The harness itself could not do its part (a process did not start, a request was refused)."""


# --------------------------------------------------------------------------- the survey and the answers


@dataclass(frozen=True)
class QuestionSpec:
    id: str
    type: str
    text: str


_SURVEY: dict[str, Any] = yaml.safe_load(SURVEY_FILE.read_text(encoding="utf-8"))
SURVEY_ID: str = _SURVEY["id"]
WELCOME: str = _SURVEY["welcome"]
GOODBYE: str = _SURVEY["goodbye"]
QUESTIONS: tuple[QuestionSpec, ...] = tuple(
    QuestionSpec(str(q["id"]), str(q["type"]), str(q["text"])) for q in _SURVEY["questions"]
)
ORDER: dict[str, int] = {q.id: i for i, q in enumerate(QUESTIONS)}

Value = str | int | float | bool


@dataclass(frozen=True)
class Planned:
    """What respondent ``index`` answers to one question: a button (by position) or a text, and the value
    MongoDB must then hold."""

    qid: str
    button: int | None
    text: str | None
    stored: Value


def plan(index: int) -> dict[str, Planned]:
    """The answers of respondent ``index``: different respondents answer differently, checkably."""
    colours = ["red", "green", "blue", "yellow"]
    answers = [
        Planned("colour", index % 4, None, colours[index % 4]),
        Planned("count", None, str(7 * index + 3), 7 * index + 3),
        Planned("motto", None, f"motto {index}: keep going", f"motto {index}: keep going"),
        Planned("tea", index % 2, None, index % 2 == 0),
        Planned("stars", index % 5, None, 1 + index % 5),
        Planned("weight", None, f"{index}.5", index + 0.5),
    ]
    assert [a.qid for a in answers] == [q.id for q in QUESTIONS], "faults-survey.yaml and plan() disagree"
    return {a.qid: a for a in answers}


def same_value(stored: Any, expected: Value) -> bool:
    """Equal and of the same kind (``True == 1`` is not an equal answer here)."""
    if isinstance(expected, bool) or isinstance(stored, bool):
        return type(stored) is type(expected) and stored == expected
    if isinstance(expected, int | float):
        return isinstance(stored, int | float) and float(stored) == float(expected)
    return isinstance(stored, str) and stored == expected


# --------------------------------------------------------------------------- processes

# Every process is started from this one long-lived thread: the servers get SIGTERM when the thread that
# started them dies (PR_SET_PDEATHSIG), so a killed test run leaves no process behind either.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults-spawner")


def on_spawner(call: Callable[[], T]) -> T:
    return _SPAWNER.submit(call).result()


def spawn_process(
    name: str, argv: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path
) -> ServiceProcess:
    """Start ``argv`` in its own session with exactly ``env``, output appended to ``log_path``; it gets
    SIGTERM when the thread that started it goes."""
    return spawn(name, argv, 0, log_path, cwd=cwd, env=env, die_with_parent=True, inherit_env=False)


def kill_hard(process: ServiceProcess) -> None:
    """SIGKILL by PID (stopped or not) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    if process.popen is not None:
        process.popen.wait(10)


_GUARD = """
import os, signal, sys
pid = int(sys.argv[1])
def bye(*_):
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
while True:
    signal.pause()
"""
"""A watchdog for a SIGSTOPped server: should the test process die (PR_SET_PDEATHSIG sends SIGTERM), it
continues and kills the server, which could not act on its own SIGTERM while stopped."""


def worker_env(
    stores: Stores, database: str, workdir: Path, settings: dict[str, dict[str, Any]], **extra: str
) -> dict[str, str]:
    """The environment of ``surveybot run`` workers on ``stores`` (database ``database``), with a
    config.yaml of their own: the project's, each section updated with ``settings``."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    for section, values in settings.items():
        config[section].update(values)
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    return {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(workdir),
        "SURVEYBOT_CONFIG": str(config_file),
        "MONGODB_URI": f"mongodb://127.0.0.1:{stores.mongo_port}/{database}",
        "REDIS_URL": f"redis://127.0.0.1:{stores.redis_port}/0",
        "SURVEYBOT_SECRET": SECRET,
        "SURVEYBOT_HOST": "127.0.0.1",
        "SURVEYBOT_LOG_FORMAT": "json",
        **extra,
    }


def start_worker(env: dict[str, str], log_path: Path, webhook: bool = False) -> ServiceProcess:
    """Start one more ``surveybot run`` with ``env`` on a port of its own (the Telegram webhook on it
    too, when ``webhook``) and return once its ``/readyz`` says ready."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    own = {**env, "SURVEYBOT_PORT": str(port), **({"TELEGRAM_WEBHOOK_URL": url} if webhook else {})}
    argv = [str(VENV_BIN / "surveybot"), "run"]
    worker = on_spawner(lambda: spawn_process("surveybot", argv, own, log_path, PRODUCT_ROOT))
    deadline = time.monotonic() + BOT_START_TIMEOUT
    with httpx.Client(timeout=2) as http:
        while True:
            if not worker.alive():
                raise HarnessError(f"surveybot run exited with {worker.exit_code()}:\n{worker.log_tail(40)}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{url}/readyz").status_code == 200:
                    return worker
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"surveybot run not ready in {BOT_START_TIMEOUT:.0f} s:\n{worker.log_tail(40)}"
                )
            time.sleep(0.05)


class Workers:
    """``surveybot run`` workers on ``env``, started one after another (from threads too), each logging
    to ``worker-N.log`` in ``workdir``, and stopped together."""

    def __init__(self, env: dict[str, str], workdir: Path, webhook: bool = False) -> None:
        self.env, self.workdir, self.webhook = env, workdir, webhook
        self.started: list[ServiceProcess] = []
        self._numbers = itertools.count(1)

    def start(self) -> ServiceProcess:
        log_path = self.workdir / f"worker-{next(self._numbers)}.log"
        worker = start_worker(self.env, log_path, webhook=self.webhook)
        self.started.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.started:
            with contextlib.suppress(Exception):
                worker.stop(timeout=10)


async def open_side_app(env: dict[str, str], workdir: Path) -> App:
    """The product's App in the test's own process, on the workers' config and stores: a process beside
    them (to publish surveys, store campaigns, take surveys). The caller closes it."""
    environ = {k: v for k, v in env.items() if k != "SURVEYBOT_CONFIG"}
    config = load_config(Path(env["SURVEYBOT_CONFIG"]), environ=environ)
    return await open_app(config, workdir / "state", alias=f"faults-{uuid.uuid4().hex[:6]}")


class Stores:
    """This test's SecantusDB (on disk) and redis-server, each on a loopback port kept across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.mongo_port, self.redis_port = free_ports(2)
        self.processes: dict[str, ServiceProcess] = {}
        self._guards: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.processes["mongo"] = on_spawner(self._start_mongo)
        self.processes["redis"] = on_spawner(self._start_redis)

    def _start_mongo(self) -> ServiceProcess:
        scratch = self.workdir / "secantus-tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return start_secantus(
            find_secantusd(ROOT),
            self.mongo_port,
            str(self.workdir / "secantus-data"),
            run_dir=self.workdir / "secantus-run",
            log_path=self.workdir / "secantus.log",
            temp_dir=scratch,
            die_with_parent=True,
        )

    def _start_redis(self) -> ServiceProcess:
        return start_redis(
            find_redis_server(),
            self.redis_port,
            self.workdir / "redis-data",
            log_path=self.workdir / "redis.log",
            die_with_parent=True,
        )

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def pause(self, name: str) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing until :meth:`resume`."""
        pid = self.pid(name)
        self._guards[name] = on_spawner(
            lambda: subprocess.Popen(
                [str(VENV_BIN / "python"), "-I", "-S", "-c", _GUARD, str(pid)],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
            )
        )
        os.kill(pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGCONT)
        self._unguard(name)

    def _unguard(self, name: str) -> None:
        guard = self._guards.pop(name, None)
        if guard is not None:
            guard.kill()
            guard.wait(10)

    def kill(self, name: str) -> None:
        kill_hard(self.processes[name])
        self._unguard(name)

    async def restart_mongo(self) -> None:
        """Start SecantusDB again on the same port and storage (after :meth:`kill`)."""
        self.processes["mongo"] = await asyncio.to_thread(on_spawner, self._start_mongo)

    def flushall(self) -> None:
        with self.redis_client() as client:
            client.flushall()

    def redis_client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5)

    def mongo_client(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(
            "127.0.0.1", self.mongo_port, directConnection=True, serverSelectionTimeoutMS=10_000
        )

    def stop(self) -> list[str]:
        """Stop both (a paused one is continued first, so that it can take SIGTERM); return failures."""
        failures: list[str] = []
        for name in ("redis", "mongo"):
            process = self.processes.pop(name, None)
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                try:
                    process.stop(timeout=10)
                except ServiceError as error:
                    failures.append(str(error))
            self._unguard(name)
        return failures


class Cluster:
    """One test's stores, fake Bot API and ``surveybot run`` process (started again after a kill)."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.stores = Stores(workdir)
        self.telegram = FakeBotApi(BOT_TOKEN)
        (self.web_port,) = free_ports(1)
        self.database = "faults_" + re.sub(r"[^a-z0-9]+", "_", name.lower())[:40]
        self.bots: list[ServiceProcess] = []
        self._webhook_secret = webhook_secret(BOT_TOKEN)

    # addresses

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.stores.mongo_port}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.stores.redis_port}/0"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def webhook_url(self) -> str:
        return self.web_url + WEBHOOK_PATH

    @property
    def webhook_headers(self) -> dict[str, str]:
        return {SECRET_HEADER: self._webhook_secret}

    @property
    def bot(self) -> ServiceProcess:
        return self.bots[-1]

    def env(self) -> dict[str, str]:
        dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "MONGODB_URI", "REDIS_URL")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in dropped
            and not k.startswith(("SURVEYBOT_", "TELEGRAM_", "SLACK_", "ADMIN_API", "PROMETHEUS_"))
        }
        env.update(
            MONGODB_URI=self.mongodb_uri,
            REDIS_URL=self.redis_url,
            SURVEYBOT_SECRET=SECRET,
            SURVEYBOT_HOST="127.0.0.1",
            SURVEYBOT_PORT=str(self.web_port),
            SURVEYBOT_LOG_FORMAT="json",
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_WEBHOOK_URL=self.web_url,
            TELEGRAM_API_BASE_URL=self.telegram.url,
        )
        return env

    def command(self, *args: str) -> list[str]:
        if PRODUCT_ROOT_OVERRIDE is None:
            return [str(VENV_BIN / "surveybot"), *args]
        # The console script imports the editable install (this checkout); -m imports the working directory's.
        return [str(VENV_BIN / "python"), "-m", "adapters.cli", *args]

    # lifecycle

    def start(self) -> None:
        self.stores.start()
        self.telegram.start()
        loaded = subprocess.run(
            self.command("load", str(SURVEY_FILE)),
            env=self.env(),
            cwd=PRODUCT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if loaded.returncode != 0:
            raise HarnessError(f"surveybot load failed ({loaded.returncode}):\n{loaded.stderr[-3000:]}")
        self.start_bot()

    def start_bot(self) -> ServiceProcess:
        """Start ``surveybot run`` and return once /readyz says ready and it has set its webhook."""
        webhooks = self.telegram.count("setWebhook")
        log_path = self.workdir / f"bot-{len(self.bots) + 1}.log"
        bot = on_spawner(
            lambda: spawn_process("surveybot", self.command("run"), self.env(), log_path, PRODUCT_ROOT)
        )
        self.bots.append(bot)
        deadline = time.monotonic() + BOT_START_TIMEOUT
        with httpx.Client(timeout=2) as http:
            while True:
                if not bot.alive():
                    raise HarnessError(f"surveybot run exited with {bot.exit_code()}:\n{bot.log_tail(40)}")
                with contextlib.suppress(httpx.HTTPError):
                    ready = http.get(f"{self.web_url}/readyz").status_code == 200
                    if ready and self.telegram.count("setWebhook") > webhooks:
                        return bot
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"surveybot run not ready in {BOT_START_TIMEOUT:.0f} s:\n{bot.log_tail(40)}"
                    )
                time.sleep(0.05)

    async def restart_bot(self) -> None:
        await asyncio.to_thread(self.start_bot)

    def kill_bot(self) -> None:
        """kill -9 of the running bot process."""
        kill_hard(self.bot)

    def stop(self) -> None:
        failures: list[str] = []
        for bot in self.bots:
            try:
                bot.stop(timeout=10)
            except ServiceError as error:
                failures.append(str(error))
        self.telegram.stop()
        failures += self.stores.stop()
        if failures:
            raise HarnessError("; ".join(failures))
        for data in ("secantus-data", "secantus-tmp", "redis-data"):  # ~10 MB each run; the logs stay
            shutil.rmtree(self.workdir / data, ignore_errors=True)

    def bot_logs(self) -> str:
        return ", ".join(str(b.log_path) for b in self.bots)


# --------------------------------------------------------------------------- what a respondent is told


@dataclass(frozen=True)
class Shown:
    """A question as shown: its id, the id of its message, and the values of its choice buttons."""

    qid: str
    message_id: str
    choices: tuple[str, ...]
    text: str = ""


@dataclass
class Reply:
    """What one frame or update got back, sorted by what matters to the respondent."""

    questions: list[Shown] = field(default_factory=list)
    finished: bool = False
    """The goodbye, or "You have already completed …"."""
    errors: list[str] = field(default_factory=list)
    """Error messages ("Sorry, we could not save that just now. Please try again in a moment.")."""
    notices: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.questions or self.finished or self.errors or self.notices or self.infos)

    @property
    def last(self) -> Shown | None:
        return self.questions[-1] if self.questions else None


def web_reply(raw: str | bytes) -> Reply:
    frame = json.loads(raw)
    reply = Reply()
    if frame.get("type") == "error":
        reply.errors.append(f"error frame: {frame.get('error')}")
        return reply
    if frame.get("type") != "reply":
        raise HarnessError(f"unexpected frame {frame!r}")
    for message in frame.get("messages", []):
        kind, text = message.get("kind"), str(message.get("text") or "")
        if kind == "question":
            choices = tuple(str(c["value"]) for c in message.get("choices", []))
            reply.questions.append(Shown(str(message["question_id"]), str(message["id"]), choices, text))
        elif kind == "error":
            reply.errors.append(text)
        elif kind == "notice":
            reply.notices.append(text)
        elif text == GOODBYE or text.startswith(COMPLETED_PREFIX):
            reply.finished = True
        elif kind in ("info", "answered", "selection"):
            reply.infos.append(text)
        else:
            reply.errors.append(f"{kind}: {text}")
    return reply


def question_of(text: str) -> QuestionSpec | None:
    """The survey question a Telegram message asks (typed questions get a hint after a blank line)."""
    for question in QUESTIONS:
        if text == question.text or text.startswith(question.text + "\n"):
            return question
    return None


def telegram_reply(calls: Iterable[ApiCall]) -> Reply:
    reply = Reply()
    for call in calls:
        text = call.text
        if call.method == "sendMessage":
            question = question_of(text)
            if question is not None:
                choices = tuple(d for d in call.button_data() if not d.startswith("/"))
                reply.questions.append(Shown(question.id, str(call.message_id), choices, text))
            elif text == GOODBYE or text.startswith(COMPLETED_PREFIX):
                reply.finished = True
            elif text == ALREADY_ANSWERED:
                reply.notices.append(text)
            elif text == WELCOME or text.startswith(RESUMING_PREFIX):
                reply.infos.append(text)
            else:
                reply.errors.append(text)
        elif call.method == "answerCallbackQuery" and text:
            (reply.notices if "already answered" in text else reply.errors).append(text)
    return reply


class Outcome(enum.Enum):
    """What the reply to an answer means to the respondent."""

    ACK = "acknowledged"  # the next question (another question_id), or the goodbye
    TRY_AGAIN = "try_again"  # an error message: deliver the same again
    NO_REPLY = "no_reply"  # connection refused or lost, 5xx, timeout: deliver the same again
    DROPPED = "dropped"  # an empty reply
    NOTICE_ONLY = "notice_only"  # only "This question was already answered.", the question unchanged
    REASKED = "reasked"  # the same question again, without an error
    REGRESSED = "regressed"  # an earlier question, answered already
    OTHER = "other"


def classify(reply: Reply | None, asked: str) -> Outcome:
    if reply is None:
        return Outcome.NO_REPLY
    shown = reply.last
    if reply.finished or (shown is not None and ORDER[shown.qid] > ORDER[asked]):
        return Outcome.ACK
    if shown is not None and ORDER[shown.qid] < ORDER[asked]:
        return Outcome.REGRESSED  # even with an error: the answer was taken for an earlier question
    if reply.errors:
        return Outcome.TRY_AGAIN
    if shown is not None:
        return Outcome.REASKED
    if reply.empty:
        return Outcome.DROPPED
    if reply.notices:
        return Outcome.NOTICE_ONLY
    return Outcome.OTHER


PROBLEMS = (
    Outcome.DROPPED.value,
    Outcome.NOTICE_ONLY.value,
    Outcome.REASKED.value,
    Outcome.REGRESSED.value,
    Outcome.OTHER.value,
)


@dataclass(frozen=True)
class Delivery:
    """One answer as sent: a web frame or a Telegram update; a redelivery sends the very same."""

    qid: str
    payload: dict[str, Any]


class Gate:
    """Respondents wait here (before a given answer) until the test opens it."""

    def __init__(self, name: str, expected: int) -> None:
        self.name = name
        self.expected = expected
        self.arrived = 0
        self.all_arrived = asyncio.Event()
        self.opened = asyncio.Event()

    async def pass_through(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_arrived.set()
        await self.opened.wait()

    async def wait_all(self, within: float, run: Run) -> None:
        __tracebackhide__ = True
        try:
            await asyncio.wait_for(self.all_arrived.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"only {self.arrived} of {self.expected} respondents reached gate '{self.name}' within "
                f"{within:.0f} s; {run.summary_counts()}"
            ) from None

    def open(self) -> None:
        self.opened.set()


@dataclass
class Tally:
    acked: dict[str, Value] = field(default_factory=dict)
    by_resume: set[str] = field(default_factory=set)
    told: Counter[str] = field(default_factory=Counter)
    """Per question: replies to a delivery of its answer that told the next step."""
    sent: Counter[str] = field(default_factory=Counter)
    """Per question: deliveries of its answer (the first, and every redelivery of the same)."""
    counts: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    """What went wrong, one line each (the first few)."""
    retries: list[str] = field(default_factory=list)
    """The first few "try again" replies, for the record."""
    finished: bool = False
    stuck: bool = False


class Respondent:
    """A respondent that goes through the whole survey over some transport (see the two subclasses)."""

    platform = ""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.user_id = ""
        self.plan = plan(index)
        self.tally = Tally()
        self.gates: dict[int, Gate] = {}
        """Before its answer number ``k`` (0-based), the respondent passes ``gates[k]``."""
        self.replay_after: set[str] = set()
        """Names of gates after which the last acknowledged delivery is sent once more."""
        self.passed: set[str] = set()
        self.pace = 0.0
        self.last_acked: Delivery | None = None

    def __str__(self) -> str:
        return f"{self.platform}#{self.index}"

    # transport (the subclasses)

    async def open(self) -> Reply | None:
        raise NotImplementedError

    async def resume(self) -> Reply | None:
        raise NotImplementedError

    async def deliver(self, delivery: Delivery) -> Reply | None:
        raise NotImplementedError

    def answer(self, shown: Shown) -> Delivery:
        raise NotImplementedError

    async def close(self) -> None:
        """Release the transport."""

    # the conversation

    def note(self, outcome: str, detail: str) -> None:
        self.tally.counts[outcome] += 1
        at = self.run.now()
        self.run.events.append((at, outcome, str(self)))
        lines = self.tally.retries if outcome == Outcome.TRY_AGAIN.value else self.tally.details
        if len(lines) < 10:
            lines.append(f"{self} at {at:.2f}s: {outcome}: {detail}")

    def ack(self, qid: str, by_resume: bool = False) -> None:
        self.tally.acked[qid] = self.plan[qid].stored
        self.run.events.append((self.run.now(), "ack", str(self)))
        if by_resume:
            self.tally.by_resume.add(qid)
        elif self.run.on_ack is not None:
            self.run.on_ack(self, qid)

    async def drive(self, limit: float, delay: float = 0.0) -> None:
        """Take the survey after ``delay`` seconds; give up (stuck) ``limit`` seconds after starting."""
        await asyncio.sleep(delay)
        try:
            async with asyncio.timeout(limit):
                await self._converse()
        except TimeoutError:
            self.tally.stuck = True
            self.note(
                "stuck", f"not finished {limit:.0f} s after it started; acknowledged {list(self.tally.acked)}"
            )
        finally:
            await self.close()

    async def _converse(self) -> None:
        current = await self._resume_until_shown(None, first=True)
        while current is not None:
            answered = len(self.tally.acked)
            gate = self.gates.get(answered)
            if gate is not None and gate.name not in self.passed:
                self.passed.add(gate.name)
                await gate.pass_through()
                if gate.name in self.replay_after:
                    current = await self._replay(current)
                    if current is None:
                        break
            if self.pace:
                await asyncio.sleep(self.pace)
            current = await self._answer(current)
        self.tally.finished = True

    async def _answer(self, current: Shown) -> Shown | None:
        """Answer ``current`` until acknowledged; return the question shown next (None: finished)."""
        delivery = self.answer(current)
        sent = time.monotonic()
        while True:
            self.tally.sent[current.qid] += 1
            reply = await self.deliver(delivery)
            outcome = classify(reply, current.qid)
            if outcome is Outcome.ACK:
                assert reply is not None
                self.ack(current.qid)
                self.tally.told[current.qid] += 1
                self.run.latencies.append(time.monotonic() - sent)
                self.last_acked = delivery
                return None if reply.finished else reply.last
            if outcome in (Outcome.TRY_AGAIN, Outcome.NO_REPLY):
                if outcome is Outcome.TRY_AGAIN:
                    assert reply is not None
                    self.note(outcome.value, f"{current.qid}: {reply.errors[0]}")
                else:
                    self.tally.counts[outcome.value] += 1
                await asyncio.sleep(REDELIVER_PAUSE)
                continue
            assert reply is not None
            self.note(outcome.value, f"answer to {current.qid}: {describe(reply)}")
            if outcome is Outcome.REGRESSED and reply.last is not None:
                return reply.last
            if outcome is Outcome.REASKED and reply.last is not None:
                return reply.last  # answered anew, with a new frame id / update id
            return await self._resume_until_shown(current)

    async def _resume_until_shown(self, pending: Shown | None, first: bool = False) -> Shown | None:
        """Open (or resume) the conversation until it shows a question; ``pending``'s answer counts as
        acknowledged if the survey has moved past it."""
        while True:
            reply = await (self.open() if first else self.resume())
            if not first:
                self.tally.counts["resumes"] += 1
            if reply is None or (reply.last is None and not reply.finished):
                if reply is not None and reply.errors:
                    self.note(
                        Outcome.TRY_AGAIN.value, f"{'opening' if first else 'resuming'}: {reply.errors[0]}"
                    )
                elif reply is not None:
                    self.note(Outcome.OTHER.value, f"{'opening' if first else 'resuming'}: {describe(reply)}")
                await asyncio.sleep(REDELIVER_PAUSE)
                continue
            if reply.finished:
                if pending is not None:
                    self.ack(pending.qid, by_resume=True)
                return None
            shown = reply.last
            assert shown is not None
            if pending is not None and ORDER[shown.qid] > ORDER[pending.qid]:
                self.ack(pending.qid, by_resume=True)
            elif pending is not None and ORDER[shown.qid] < ORDER[pending.qid]:
                self.note(Outcome.REGRESSED.value, f"resumed at {shown.qid}, before {pending.qid}")
            return shown

    async def _replay(self, current: Shown) -> Shown | None:
        """Send the last acknowledged delivery once more (same frame id / update id)."""
        if self.last_acked is None:
            return current
        replayed = self.last_acked
        reply = await self.deliver(replayed)
        self.tally.counts["replays"] += 1
        if reply is None:
            return current
        if reply.finished:
            self.note("moved", f"resent {replayed.qid} finished the survey at {current.qid}")
            return None
        shown = reply.last
        if shown is not None and shown.qid != current.qid:
            self.note("moved", f"resent {replayed.qid} moved the survey from {current.qid} to {shown.qid}")
            return shown
        return current


def describe(reply: Reply) -> str:
    if reply.empty:
        return "empty reply"
    parts = [f"question {q.qid}" for q in reply.questions]
    parts += [f"error {e!r}" for e in reply.errors] + [f"notice {n!r}" for n in reply.notices]
    return ", ".join(parts) or f"infos {reply.infos!r}"


class WebRespondent(Respondent):
    """The web chat over ``ws://…/ws/surveys/{id}?respondent=ID&name=NAME``: one frame, one reply."""

    platform = "web"

    def __init__(self, run: Run, index: int) -> None:
        super().__init__(run, index)
        # Signed as the bots sign them (the harness knows the secret): ids are not minted over HTTP,
        # whose per-address limit 200 respondents on one loopback address would pass.
        self.user_id = identity.sign(identity.web_key(SECRET.encode()), f"{index:024x}")
        self.url = (
            f"ws://127.0.0.1:{run.cluster.web_port}/ws/surveys/{SURVEY_ID}"
            f"?respondent={self.user_id}&name={quote(f'Web {index}')}"
        )
        self.ws: ClientConnection | None = None
        self.frames = 0

    async def _connect(self) -> Reply | None:
        await self.close()
        try:
            self.ws = await connect(self.url, open_timeout=5, ping_interval=None, close_timeout=1)
        except (OSError, TimeoutError, WebSocketException):
            return None
        return await self._receive()

    async def _receive(self) -> Reply | None:
        assert self.ws is not None
        try:
            raw = await asyncio.wait_for(self.ws.recv(), REPLY_TIMEOUT)
        except (ConnectionClosed, TimeoutError, OSError):
            await self.close()
            return None
        return web_reply(raw)

    async def open(self) -> Reply | None:
        return await self._connect()

    async def resume(self) -> Reply | None:
        return await self._connect()

    async def deliver(self, delivery: Delivery) -> Reply | None:
        if self.ws is None and await self._connect() is None:  # what connecting says is not the reply
            return None
        assert self.ws is not None
        try:
            await self.ws.send(json.dumps(delivery.payload))
        except (ConnectionClosed, OSError):
            await self.close()
            return None
        return await self._receive()

    def answer(self, shown: Shown) -> Delivery:
        self.frames += 1
        planned = self.plan[shown.qid]
        frame_id = f"f{self.frames}"
        if planned.button is not None:
            value = shown.choices[planned.button]
            payload: dict[str, Any] = {
                "type": "button",
                "value": value,
                "message_id": shown.message_id,
                "id": frame_id,
            }
        else:
            payload = {"type": "text", "text": planned.text, "id": frame_id}
            if SEND_QUESTION_ID:
                payload["question_id"] = shown.qid
        return Delivery(shown.qid, payload)

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


class TelegramRespondent(Respondent):
    """A Telegram user in a private chat: updates POSTed to the webhook, replies read from the fake API."""

    platform = "telegram"

    def __init__(self, run: Run, index: int) -> None:
        super().__init__(run, index)
        self.tg_id = 7_000_000 + index
        self.user_id = str(self.tg_id)
        self.cursor = 0
        self.messages = 0

    @property
    def user(self) -> dict[str, Any]:
        return {"id": self.tg_id, "is_bot": False, "first_name": "Tele", "last_name": f"User {self.index}"}

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.tg_id, "type": "private", "first_name": "Tele", "last_name": f"User {self.index}"}

    def _message(self, text: str) -> dict[str, Any]:
        self.messages += 1
        message: dict[str, Any] = {
            "message_id": self.messages,
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.run.next_update_id(), "message": message}

    def _callback(self, shown: Shown, data: str) -> dict[str, Any]:
        update_id = self.run.next_update_id()
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq-{update_id}",
                "from": self.user,
                "chat_instance": f"ci-{self.tg_id}",
                "data": data,
                "message": {
                    "message_id": int(shown.message_id),
                    "date": int(time.time()),
                    "chat": self.chat,
                    "from": BOT_USER,
                    "text": shown.text,
                },
            },
        }

    async def _post(self, update: dict[str, Any]) -> Reply | None:
        cluster = self.run.cluster
        if "callback_query" in update:
            cluster.telegram.expect_callback(update["callback_query"]["id"], self.tg_id)
        try:
            response = await self.run.http.post(
                cluster.webhook_url, json=update, headers=cluster.webhook_headers
            )
        except httpx.TransportError:
            return None
        if response.status_code >= 500:
            return None
        if response.status_code != 200:
            raise HarnessError(f"the webhook answered {response.status_code}: {response.text[:200]}")
        calls = cluster.telegram.chat_calls(self.tg_id, self.cursor)
        self.cursor += len(calls)
        return telegram_reply(calls)

    async def open(self) -> Reply | None:
        return await self._post(self._message(f"/start {SURVEY_ID}"))

    async def resume(self) -> Reply | None:
        return await self._post(self._message(f"/start {SURVEY_ID}"))

    async def deliver(self, delivery: Delivery) -> Reply | None:
        return await self._post(delivery.payload)

    def answer(self, shown: Shown) -> Delivery:
        planned = self.plan[shown.qid]
        if planned.button is not None:
            return Delivery(shown.qid, self._callback(shown, shown.choices[planned.button]))
        assert planned.text is not None
        return Delivery(shown.qid, self._message(planned.text))


# --------------------------------------------------------------------------- one test's run


@dataclass
class Fault:
    label: str
    start: float
    end: float | None = None


@dataclass
class Verdict:
    counts: dict[str, int]
    details: list[str]

    def problems(self, allowed: Iterable[str] = ()) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v and k not in set(allowed)}


INFORMATIONAL = frozenset({"try_again", "no_reply", "resumes", "replays", "acked_by_resume"})
"""Counts that are reported but are not failures by themselves."""


class Run:
    """The respondents of one test, its faults, its figures and its verdict."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.t0 = time.monotonic()
        self.respondents: list[Respondent] = []
        self.faults: list[Fault] = []
        self.events: list[tuple[float, str, str]] = []
        """(seconds since the start, what happened: "ack" or an outcome, the respondent)"""
        self.latencies: list[float] = []
        self.http = httpx.AsyncClient(timeout=REPLY_TIMEOUT, limits=httpx.Limits(max_connections=200))
        self.tasks: list[asyncio.Task[None]] = []
        self._update_ids = 100_000
        self.first_answer: float | None = None
        self.on_ack: Callable[[Respondent, str], None] | None = None
        """Called (synchronously) at each answer acknowledged in reply to its delivery."""
        self.extra_figures: list[str] = []

    async def __aenter__(self) -> Run:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for respondent in self.respondents:
            await respondent.close()
        await self.http.aclose()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def next_update_id(self) -> int:
        self._update_ids += 1
        return self._update_ids

    def add(self, web: int = 0, telegram: int = 0, pace: float = 0.0) -> list[Respondent]:
        added: list[Respondent] = [WebRespondent(self, i) for i in range(web)]
        added += [TelegramRespondent(self, i) for i in range(telegram)]
        for respondent in added:
            respondent.pace = pace
        self.respondents += added
        return added

    def start(self, timeout: float, ramp: float = 0.0) -> None:
        """Let every respondent go, spread evenly over ``ramp`` seconds; each gives up (and counts as
        stuck) ``timeout`` s after it started."""
        self.first_answer = self.now()
        count = len(self.respondents)
        self.tasks = [
            asyncio.create_task(r.drive(timeout, delay=ramp * i / count))
            for i, r in enumerate(self.respondents)
        ]

    async def finish(self) -> None:
        await asyncio.gather(*self.tasks)

    @property
    def acked(self) -> int:
        return sum(len(r.tally.acked) for r in self.respondents)

    async def wait_acked(self, count: int, within: float) -> None:
        __tracebackhide__ = True
        deadline = time.monotonic() + within
        while self.acked < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {self.acked} of {count} answers acknowledged in {within:.0f} s; "
                    f"{self.summary_counts()}"
                )
            await asyncio.sleep(0.01)

    def fault(self, label: str) -> Fault:
        fault = Fault(label, self.now())
        self.faults.append(fault)
        return fault

    def end(self, fault: Fault) -> None:
        fault.end = self.now()

    def summary_counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for respondent in self.respondents:
            total.update(respondent.tally.counts)
        return dict(sorted(total.items()))

    # the verdict

    def stored(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """The responses in MongoDB by (platform, user id)."""
        with self.cluster.stores.mongo_client() as client:
            docs = list(client[self.cluster.database]["responses"].find({"survey_id": SURVEY_ID}))
        by_user: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for doc in docs:
            who = doc.get("respondent", {})
            by_user.setdefault((str(who.get("platform")), str(who.get("user_id"))), []).append(doc)
        return by_user

    def lost_now(self) -> tuple[int, list[str]]:
        """Acknowledged answers that MongoDB does not hold (now), with one line about each."""
        stored = self.stored()
        lost: list[str] = []
        for respondent in self.respondents:
            answers: dict[str, Any] = {}
            for doc in stored.get((respondent.platform, respondent.user_id), []):
                answers.update(doc.get("answers", {}))
            lost += [
                f"{respondent}: acknowledged {qid}={value!r} is not stored"
                for qid, value in respondent.tally.acked.items()
                if qid not in answers or not same_value(answers[qid].get("value"), value)
            ]
        return len(lost), lost

    def verdict(self, extra: dict[str, int] | None = None, notes: Sequence[str] = ()) -> Verdict:
        """The respondents' counts plus what MongoDB holds, with a line about each problem."""
        counts: Counter[str] = Counter(
            {k: 0 for k in ("lost", "wrong", "doubled", "missing", "extra", "not_completed", "stuck")}
        )
        counts.update({k: 0 for k in PROBLEMS})
        counts.update(extra or {})
        details = list(notes)
        retries: list[str] = []
        for respondent in self.respondents:
            counts.update(respondent.tally.counts)
            counts["acked_by_resume"] += len(respondent.tally.by_resume)
            details += respondent.tally.details[:3]
            retries += respondent.tally.retries[:2]
        by_user = self.stored()
        for respondent in self.respondents:
            found = by_user.pop((respondent.platform, respondent.user_id), [])
            if not found:
                counts["missing"] += 1
                details.append(f"{respondent}: no response stored")
                continue
            if len(found) > 1:
                counts["extra"] += len(found) - 1
                details.append(f"{respondent}: {len(found)} responses")
            doc = found[0]
            if doc.get("status") != "completed":
                counts["not_completed"] += 1
                details.append(f"{respondent}: response {doc.get('status')}, path {doc.get('path')}")
            path = [str(q) for q in doc.get("path", [])]
            doubled = len(path) - len(set(path))
            if doubled:
                counts["doubled"] += doubled
                details.append(f"{respondent}: path {path}")
            stored = doc.get("answers", {})
            for qid, value in respondent.tally.acked.items():
                if qid not in stored:
                    counts["lost"] += 1
                    details.append(f"{respondent}: acknowledged {qid}={value!r} is not stored")
            for qid, answer in stored.items():
                expected = respondent.plan[qid].stored if qid in respondent.plan else None
                if expected is None or not same_value(answer.get("value"), expected):
                    counts["wrong"] += 1
                    details.append(f"{respondent}: {qid} stored {answer.get('value')!r}, sent {expected!r}")
        if by_user:
            counts["extra"] += sum(len(v) for v in by_user.values())
            details.append(f"responses of unknown respondents: {sorted(by_user)}")
        details += [f"(try again) {line}" for line in retries[:4]]
        verdict = Verdict(dict(counts), details)
        return verdict

    def assert_clean(self, verdict: Verdict, allowed: Iterable[str] = INFORMATIONAL) -> None:
        """Add this run's figures to :data:`FIGURES`, then fail on any count not ``allowed``."""
        __tracebackhide__ = True
        allowed = frozenset(allowed)
        problems = verdict.problems(allowed)
        FIGURES.append(self.figures(verdict, problems))
        shown = "\n  ".join(verdict.details[:25])
        assert problems == {}, f"{self.name}: {problems}\n  {shown}\n(bot logs: {self.cluster.bot_logs()})"

    # figures

    def figures(self, verdict: Verdict, problems: dict[str, int]) -> str:
        """Throughput, latency (first send to acknowledgement, redeliveries included), and per fault: the
        first "try again" after it began, the last one, and the recovery (every respondent that was still
        answering had an answer acknowledged again)."""
        web = sum(1 for r in self.respondents if r.platform == "web")
        acks = [(t, who) for t, kind, who in self.events if kind == "ack"]
        errors = [t for t, kind, _ in self.events if kind == Outcome.TRY_AGAIN.value]
        parts = [f"{len(self.respondents)} respondents ({web} web, {len(self.respondents) - web} telegram)"]
        if acks and self.first_answer is not None:
            span = max(acks[-1][0] - self.first_answer, 1e-6)
            parts.append(f"{len(acks)} answers in {span:.1f}s = {len(acks) / span:.1f}/s")
        if self.latencies:
            ordered = sorted(self.latencies)
            p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
            parts.append(
                f"latency p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                f"max {ordered[-1] * 1000:.0f} ms"
            )
        parts.append(f"try-again {len(errors)}")
        for fault in self.faults:
            end = fault.end if fault.end is not None else fault.start
            text = f"{fault.label} ({end - fault.start:.1f}s)"
            during = [t for t in errors if t >= fault.start]
            if during:
                text += f": first try-again +{during[0] - fault.start:.2f}s after it began"
                text += f", last {during[-1] - end:+.2f}s after it ended"
            done_before = {
                str(r)
                for r in self.respondents
                if sum(1 for t, who in acks if who == str(r) and t < fault.start) == len(QUESTIONS)
            }
            waiting = {str(r) for r in self.respondents} - done_before
            first_after = {who: t for t, who in reversed(acks) if t >= end}
            if waiting and waiting <= first_after.keys():
                text += f", recovered {max(first_after[w] for w in waiting) - end:+.2f}s after it ended"
            elif waiting:
                text += f", {len(waiting - first_after.keys())} respondents never acknowledged again"
            parts.append(text)
        parts.append(f"PROBLEMS {problems}" if problems else "no problems")
        others = {k: v for k, v in verdict.counts.items() if v and k not in problems and k != "try_again"}
        if others:
            parts.append(f"also {others}")
        parts += self.extra_figures
        return f"{self.name}: " + " · ".join(parts)
