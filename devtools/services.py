"""Development only: the embedded MongoDB-protocol server (SecantusDB) and Redis, run as separate
processes and tracked by PID. Not part of the product package: production runs real MongoDB and Redis.

``EmbeddedServices(root)`` is what ``python -m devtools services start|stop|status`` (``make run``,
``make services-up``), the test session, the fault suite and the benchmark use.
Persistent mode keeps data, PID files and logs under ``root/var`` and survives the command that started
it; non-persistent mode (tests) uses free loopback ports, ``:memory:`` storage and a temporary directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from bot.errors import SurveyBotError

LOOPBACK = "127.0.0.1"
DATABASE = "surveybot"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 25
SECANTUSD_ENV = "SECANTUSD"
SECANTUS_VERSION = "0.7.0b3"
INSTALL_HINT = "run `make install`"

SECANTUS = "secantus"
REDIS = "redis"

# Variables of our own virtualenv that must not leak into the servers' Python or shell.
_ENV_NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


class ServiceError(SurveyBotError):
    """An embedded service could not be found, started, reached or stopped."""


class ServiceNotInstalled(ServiceError):
    """The server program is missing; the message says what to run."""


class ServiceExited(ServiceError):
    """A server we started exited before it answered (its log tail is in the message)."""


@dataclass
class ServiceProcess:
    """One server process on ``127.0.0.1:port``, started by us or found through its PID file."""

    name: str
    pid: int
    port: int
    log_path: Path
    pid_file: Path | None = None
    argv: tuple[str, ...] = ()
    log_offset: int = 0
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, self.log_offset, lines)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; remove the PID file once it is gone."""
        if self.alive():
            _signal(self.pid, signal.SIGTERM)
            if not self._wait_gone(timeout):
                _signal(self.pid, signal.SIGKILL, whole_group=True)
                if not self._wait_gone(5.0):
                    raise ServiceError(f"{self.name} (pid {self.pid}) survived SIGKILL")
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def _wait_gone(self, timeout: float) -> bool:
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        try:
            psutil.Process(self.pid).wait(timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            return not pid_alive(self.pid)  # a zombie someone else has yet to reap is gone
        return True


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    running: bool
    answering: bool

    def __str__(self) -> str:
        if self.running:
            state = "up" if self.answering else "running, not answering"
        else:
            state = "down, but another process answers on its port" if self.answering else "down"
        pid = f"pid {self.pid}" if self.pid is not None else "-"
        return f"{self.name:<9} {self.address:<16} {pid:<11} {state}"


# --- locating the programs -------------------------------------------------------------------------


def find_secantusd(root: Path) -> Path:
    """``$SECANTUSD`` if set, else ``root/.venv-secantus/bin/secantusd-py``."""
    override = os.environ.get(SECANTUSD_ENV)
    path = Path(override) if override else root / ".venv-secantus" / "bin" / "secantusd-py"
    if not (path.is_file() and os.access(path, os.X_OK)):
        origin = f"${SECANTUSD_ENV} points to {path}" if override else f"{path}"
        raise ServiceNotInstalled(
            f"SecantusDB is not installed: {origin} is missing or not executable. {INSTALL_HINT} "
            f"(it creates .venv-secantus with `pip install SecantusDB=={SECANTUS_VERSION}`)."
        )
    return path


def find_redis_server() -> Path:
    """``redis-server`` on PATH, else ``/usr/bin/redis-server``."""
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    fallback = Path("/usr/bin/redis-server")
    if fallback.is_file() and os.access(fallback, os.X_OK):
        return fallback
    raise ServiceNotInstalled(
        f"redis-server is not installed (not on PATH, not {fallback}). {INSTALL_HINT} "
        "(it runs `apt-get install -y redis-server`)."
    )


# --- ports and probes ------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel's pick for port 0)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (all bound at once, then released)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def ping_redis(port: int, timeout: float = 1.0) -> None:
    """Raise ``OSError`` unless Redis on ``port`` answers PING with PONG."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(256)
            if not chunk:
                break
            reply += chunk
    if reply != b"+PONG\r\n":
        raise OSError(f"redis answered {reply!r} to PING")


def ping_mongodb(port: int, timeout: float = 1.0) -> None:
    """Raise unless the MongoDB-protocol server on ``port`` answers ``ping``."""
    import pymongo  # only when needed: no driver work at import time

    millis = int(timeout * 1000)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        LOOPBACK,
        port,
        directConnection=True,
        serverSelectionTimeoutMS=millis,
        connectTimeoutMS=millis,
        socketTimeoutMS=millis,
    )
    with client:
        client.admin.command("ping")


def answers(name: str, port: int) -> bool:
    try:
        _PROBES[name](port, 1.0)
    except Exception:
        return False
    return True


_PROBES: dict[str, Callable[[int, float], None]] = {SECANTUS: ping_mongodb, REDIS: ping_redis}


# --- processes -------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaps it if it is an exited child of ours)."""
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _is_our_server(pid: int, name: str, port: int) -> bool:
    """Whether ``pid``'s command line names the service and its port: a recycled PID is not ours.

    Redis retitles itself ``redis-server 127.0.0.1:PORT``; secantusd-py keeps ``... --port PORT``.
    A command line we may not read is trusted.
    """
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return name in cmdline and str(port) in cmdline


def _signal(pid: int, sig: signal.Signals, whole_group: bool = False) -> None:
    try:
        # We start every server as a session leader: its group is ours to kill only then.
        if whole_group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise ServiceError(f"not allowed to send {sig.name} to pid {pid}: {exc}") from exc


def parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the thread that started it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def log_tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - 64 * 1024))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def spawn(
    name: str,
    argv: Sequence[str],
    port: int,
    log_path: Path,
    *,
    cwd: Path,
    pid_file: Path | None = None,
    env: dict[str, str] | None = None,
    die_with_parent: bool = False,
    inherit_env: bool = True,
) -> ServiceProcess:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log_path``; write the PID file.

    The child gets our environment (less our virtualenv's variables) updated with ``env``, or exactly
    ``env`` when ``inherit_env`` is False."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in _ENV_NOT_INHERITED} if inherit_env else {}
    child_env.update(env or {})
    with log_path.open("ab") as log:
        offset = log.tell()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=child_env,
            start_new_session=True,
            preexec_fn=parent_death_signal() if die_with_parent else None,
        )
    process = ServiceProcess(name, popen.pid, port, log_path, pid_file, tuple(argv), offset, popen)
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{popen.pid}\n")
    return process


def wait_until_ready(process: ServiceProcess, timeout: float = READY_TIMEOUT) -> None:
    """Poll until the server accepts a TCP connection and answers its ping; raise with the log tail if not.

    A process we started that does not get ready is stopped before the error is raised.
    """
    probe = _PROBES[process.name]
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while process.alive():
        if port_accepts(process.port, timeout=0.25):
            try:
                probe(process.port, 1.0)
            except Exception as exc:
                last_error = exc
            else:
                return
        if time.monotonic() >= deadline:
            cause = f" (last probe error: {last_error})" if last_error is not None else ""
            error = ServiceError(
                _failure(process, f"did not answer on {process.address} within {timeout:.0f}s{cause}")
            )
            break
        time.sleep(0.1)
    else:
        code = process.exit_code()
        how = f"exited with code {code}" if code is not None else "is no longer running"
        error = ServiceExited(_failure(process, f"{how} before accepting connections on {process.address}"))
    if process.popen is not None:  # ours: do not leave it (or its PID file) behind
        with contextlib.suppress(ServiceError):
            process.stop(timeout=5.0)
    raise error


def _failure(process: ServiceProcess, what: str) -> str:
    command = f"\ncommand: {shlex.join(process.argv)}" if process.argv else ""
    return (
        f"{process.name} (pid {process.pid}) {what}.{command}\n"
        f"last lines of {process.log_path}:\n{process.log_tail()}"
    )


def start_secantus(
    executable: Path,
    port: int,
    storage: str,
    *,
    run_dir: Path,
    log_path: Path,
    pid_file: Path | None = None,
    temp_dir: Path | None = None,
    die_with_parent: bool = False,
    timeout: float = READY_TIMEOUT,
) -> ServiceProcess:
    """Start ``secantusd-py`` on ``127.0.0.1:port`` and wait until it answers ``ping``.

    ``storage`` is a directory or ``":memory:"``; ``temp_dir`` becomes its TMPDIR, so even a killed
    ``:memory:`` server leaves its scratch files where we clean up.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    # An explicit, empty config file stops secantusd-py from picking up ./, ~/.secantus or /etc/secantus.
    config = run_dir / "secantusd.toml"
    config.write_text("# Empty on purpose: every setting is passed on the command line.\n")
    argv = [
        str(executable),
        "--config",
        str(config),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--storage-path",
        storage,
    ]
    env = {"TMPDIR": str(temp_dir)} if temp_dir is not None else None
    process = spawn(
        SECANTUS,
        argv,
        port,
        log_path,
        cwd=run_dir,
        pid_file=pid_file,
        env=env,
        die_with_parent=die_with_parent,
    )
    wait_until_ready(process, timeout)
    return process


def start_redis(
    executable: Path,
    port: int,
    data_dir: Path,
    *,
    log_path: Path,
    pid_file: Path | None = None,
    die_with_parent: bool = False,
    timeout: float = READY_TIMEOUT,
) -> ServiceProcess:
    """Start ``redis-server`` on ``127.0.0.1:port`` without persistence and wait until it answers PING."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(executable),
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        str(log_path),
    ]
    process = spawn(
        REDIS, argv, port, log_path, cwd=data_dir, pid_file=pid_file, die_with_parent=die_with_parent
    )
    wait_until_ready(process, timeout)
    return process


# --- the pair the product needs ----------------------------------------------------------------------


class EmbeddedServices:
    """SecantusDB and Redis for development (``persistent=True``) or a test session (``persistent=False``).

    Persistent: SecantusDB data in ``root/var/secantus-data``, PID files in ``root/var/run``, logs in
    ``root/var/log``, on ``mongo_port`` and ``redis_port``; ``start()`` reuses servers that are already
    up, and ``stop()`` works from any process. Non-persistent: free ports picked at ``start()`` (the
    port arguments are ignored), ``:memory:`` storage, everything in a temporary directory removed by
    ``stop()``.

    ``die_with_parent`` (default: ``not persistent``) makes the servers get SIGTERM when the thread
    that started them dies (Linux), so even a killed test run leaves no server behind; call ``start()``
    from a thread that outlives the servers.
    """

    def __init__(
        self,
        root: Path,
        mongo_port: int = 27117,
        redis_port: int = 6479,
        persistent: bool = True,
        *,
        ready_timeout: float = READY_TIMEOUT,
        die_with_parent: bool | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.persistent = persistent
        self.die_with_parent = not persistent if die_with_parent is None else die_with_parent
        self.ready_timeout = ready_timeout
        self._ports: dict[str, int | None] = {
            SECANTUS: mongo_port if persistent else None,
            REDIS: redis_port if persistent else None,
        }
        self._processes: dict[str, ServiceProcess] = {}
        self._temp_dir: Path | None = None

    def __enter__(self) -> EmbeddedServices:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # where things live

    @property
    def var_dir(self) -> Path:
        if self.persistent:
            return self.root / "var"
        if self._temp_dir is None:
            raise ServiceError("non-persistent services are not started")
        return self._temp_dir

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def secantus_data_dir(self) -> Path:
        return self.var_dir / "secantus-data"

    @property
    def redis_data_dir(self) -> Path:
        return self.var_dir / "redis-data"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @property
    def mongo_port(self) -> int:
        return self._port(SECANTUS)

    @property
    def redis_port(self) -> int:
        return self._port(REDIS)

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://{LOOPBACK}:{self.mongo_port}/{DATABASE}"

    @property
    def redis_url(self) -> str:
        return f"redis://{LOOPBACK}:{self.redis_port}/0"

    def _port(self, name: str) -> int:
        port = self._ports[name]
        if port is None:
            raise ServiceError("non-persistent services pick their ports at start(); call start() first")
        return port

    # lifecycle

    def start(self) -> None:
        """Start both servers (or reuse running ones) and return once both answer."""
        secantusd = find_secantusd(self.root)
        redis_server = find_redis_server()
        if not self.persistent and self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="surveybot-services-"))
            mongo_port, redis_port = free_ports(2)
            self._ports = {SECANTUS: mongo_port, REDIS: redis_port}
        started: list[str] = []
        try:
            for name, program in ((SECANTUS, secantusd), (REDIS, redis_server)):
                if name in self._processes and self._processes[name].alive():
                    continue
                reused = self._running_from_pid_file(name)
                if reused is not None:
                    wait_until_ready(reused, self.ready_timeout)
                    self._processes[name] = reused
                    continue
                self._refuse_busy_port(name)
                self._processes[name] = self._launch(name, program)
                started.append(name)
        except BaseException:
            # Undo what this call started; servers that were already running stay as they were.
            for name in started:
                with contextlib.suppress(ServiceError):
                    self._processes.pop(name).stop(timeout=5.0)
            if not self.persistent:
                self._discard_temp_dir()
            raise

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL) and remove their PID files; idempotent."""
        failures: list[str] = []
        for name in (REDIS, SECANTUS):
            process = self._processes.pop(name, None)
            if process is None and self.persistent:
                process = self._running_from_pid_file(name)
            if process is None:
                continue
            try:
                process.stop()
            except ServiceError as exc:
                failures.append(str(exc))
        if not self.persistent:
            self._discard_temp_dir()
        if failures:
            raise ServiceError("; ".join(failures))

    def status(self) -> list[ServiceStatus]:
        """One line per server: its address, PID, whether it runs and whether it answers its ping."""
        result: list[ServiceStatus] = []
        for name in (SECANTUS, REDIS):
            port = self._ports[name]
            process = self._processes.get(name)
            if process is None and (self.persistent or self._temp_dir is not None):
                process = self._running_from_pid_file(name)
            running = process is not None and process.alive()
            result.append(
                ServiceStatus(
                    name=name,
                    address=f"{LOOPBACK}:{port}" if port is not None else "-",
                    pid=process.pid if process is not None and running else None,
                    running=running,
                    answering=port is not None and answers(name, port),
                )
            )
        return result

    # helpers

    def _launch(self, name: str, program: Path) -> ServiceProcess:
        attempts = 1 if self.persistent else 3
        for attempt in range(1, attempts + 1):
            try:
                return self._launch_once(name, program)
            except ServiceExited:
                if attempt == attempts:
                    raise
                # Someone may have bound the port between our pick and the server's: pick another.
                self._ports[name] = next(p for p in free_ports(3) if p not in self._ports.values())
        raise AssertionError("unreachable")

    def _launch_once(self, name: str, program: Path) -> ServiceProcess:
        if name == SECANTUS:
            return start_secantus(
                program,
                self.mongo_port,
                str(self.secantus_data_dir) if self.persistent else ":memory:",
                run_dir=self.run_dir,
                log_path=self.log_file(name),
                pid_file=self.pid_file(name),
                temp_dir=None if self.persistent else self._scratch_dir(),
                die_with_parent=self.die_with_parent,
                timeout=self.ready_timeout,
            )
        return start_redis(
            program,
            self.redis_port,
            self.redis_data_dir,
            log_path=self.log_file(name),
            pid_file=self.pid_file(name),
            die_with_parent=self.die_with_parent,
            timeout=self.ready_timeout,
        )

    def _scratch_dir(self) -> Path:
        scratch = self.var_dir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def _running_from_pid_file(self, name: str) -> ServiceProcess | None:
        """The live server recorded in ``name``'s PID file; a stale PID file is removed."""
        pid_file = self.pid_file(name)
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        port = self._port(name)
        if pid_alive(pid) and _is_our_server(pid, name, port):
            return ServiceProcess(name, pid, port, self.log_file(name), pid_file)
        pid_file.unlink(missing_ok=True)
        return None

    def _refuse_busy_port(self, name: str) -> None:
        port = self._port(name)
        if port_accepts(port):
            raise ServiceError(
                f"{LOOPBACK}:{port} is already in use by a process that {self.pid_file(name)} does not "
                f"name; stop it, or start the embedded {name} on another port."
            )

    def _discard_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
            self._ports = {SECANTUS: None, REDIS: None}
