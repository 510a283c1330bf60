from __future__ import annotations

import os
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devtools.services import (
    LOOPBACK,
    SECANTUSD_ENV,
    EmbeddedServices,
    ServiceError,
    ServiceExited,
    ServiceNotInstalled,
    find_secantusd,
    free_port,
)

if TYPE_CHECKING:
    import redis
    from pymongo import MongoClient
    from pymongo.database import Database

PROJECT_ROOT = Path(__file__).resolve().parents[2]

MakeServices = Callable[..., EmbeddedServices]


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


def mongo_client(uri: str) -> MongoClient[dict[str, Any]]:
    import pymongo

    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)


def pids(services: EmbeddedServices) -> dict[str, int]:
    found = {status.name: status.pid for status in services.status()}
    assert all(pid is not None for pid in found.values()), found
    return {name: pid for name, pid in found.items() if pid is not None}


@pytest.fixture
def make_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeServices]:
    """EmbeddedServices rooted in tmp_path, using the project's secantusd-py; all stopped at the end."""
    monkeypatch.setenv(SECANTUSD_ENV, str(find_secantusd(PROJECT_ROOT)))
    made: list[EmbeddedServices] = []

    def make(**kwargs: Any) -> EmbeddedServices:
        services = EmbeddedServices(tmp_path, die_with_parent=True, **kwargs)
        made.append(services)
        return services

    yield make
    for services in made:
        services.stop()


def test_mongodb_server_answers_and_stores(mongo_db: Database[dict[str, Any]]) -> None:
    assert mongo_db.client.admin.command("ping")["ok"] == 1.0
    mongo_db.things.insert_one({"_id": "a", "n": 1})
    assert mongo_db.things.find_one({"_id": "a"}) == {"_id": "a", "n": 1}


def test_redis_server_answers_and_stores(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    assert redis_client.ping() is True
    try:
        redis_client.set(key, "value", ex=60)
        assert redis_client.get(key) == b"value"
    finally:
        redis_client.delete(key)


def test_mongodb_test_uri_names_the_test_database(mongodb_test_uri: str, mongo_db_name: str) -> None:
    assert mongodb_test_uri.split("?")[0].endswith(f"/{mongo_db_name}")


def test_persistent_services_keep_data_across_restart_and_stop_for_real(
    make_services: MakeServices, tmp_path: Path
) -> None:
    mongo_port, redis_port = free_port(), free_port()
    services = make_services(mongo_port=mongo_port, redis_port=redis_port, persistent=True)
    services.start()
    assert services.mongodb_uri == f"mongodb://{LOOPBACK}:{mongo_port}/surveybot"
    assert services.redis_url == f"redis://{LOOPBACK}:{redis_port}/0"
    first = pids(services)
    with mongo_client(services.mongodb_uri) as client:
        client.surveybot.kept.insert_one({"_id": "doc", "answer": 42})

    services.stop()
    assert all(process_gone(pid) for pid in first.values()), first
    assert not list((tmp_path / "var" / "run").glob("*.pid"))
    assert [status.running for status in services.status()] == [False, False]

    services.start()
    second = pids(services)
    assert set(second.values()).isdisjoint(first.values())
    with mongo_client(services.mongodb_uri) as client:
        assert client.surveybot.kept.find_one({"_id": "doc"}) == {"_id": "doc", "answer": 42}
    assert (tmp_path / "var" / "secantus-data").is_dir()
    assert (tmp_path / "var" / "log" / "secantus.log").is_file()
    assert (tmp_path / "var" / "log" / "redis.log").is_file()

    # Another process (here: another instance) finds the servers by their PID files, reuses and stops them.
    other = make_services(mongo_port=mongo_port, redis_port=redis_port, persistent=True)
    other.start()
    assert pids(other) == second
    other.stop()
    assert all(process_gone(pid) for pid in second.values()), {p: proc_state(p) for p in second.values()}
    assert not list((tmp_path / "var" / "run").glob("*.pid"))


def test_test_mode_services_use_free_ports_and_leave_nothing_behind(make_services: MakeServices) -> None:
    services = make_services(persistent=False)
    with pytest.raises(ServiceError, match="start"):
        _ = services.mongodb_uri
    services.start()
    temp_dir = services.var_dir
    running = pids(services)
    assert services.mongo_port != 27117
    assert services.redis_port != 6479
    assert all(status.answering for status in services.status())

    services.stop()
    assert all(process_gone(pid) for pid in running.values()), running
    assert not temp_dir.exists()


def test_missing_secantusd_says_to_run_make_install(
    make_services: MakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECANTUSD_ENV, str(tmp_path / "nowhere" / "secantusd-py"))
    services = make_services(persistent=False)
    with pytest.raises(ServiceNotInstalled, match="run `make install`"):
        services.start()


def test_a_server_that_exits_at_once_is_reported_with_its_log(
    make_services: MakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "secantusd-py"
    broken.write_text("#!/bin/sh\necho 'storage is on fire' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(SECANTUSD_ENV, str(broken))
    services = make_services(persistent=True, mongo_port=free_port(), redis_port=free_port())

    with pytest.raises(ServiceExited, match="exited with code 3") as raised:
        services.start()

    assert "storage is on fire" in str(raised.value)
    assert not list((tmp_path / "var" / "run").glob("*.pid"))


def test_test_mode_tries_other_ports_when_a_server_exits_at_start(
    make_services: MakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = find_secantusd(PROJECT_ROOT)
    tried = tmp_path / "tried-once"
    flaky = tmp_path / "secantusd-py"
    flaky.write_text(
        f"#!/bin/sh\nif [ ! -e '{tried}' ]; then touch '{tried}'; echo 'address in use' >&2; exit 1; fi\n"
        f"exec '{real}' \"$@\"\n"
    )
    flaky.chmod(flaky.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(SECANTUSD_ENV, str(flaky))
    services = make_services(persistent=False)

    services.start()

    assert tried.exists()
    assert all(status.answering for status in services.status())


def test_a_port_taken_by_someone_else_is_refused(make_services: MakeServices) -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        services = make_services(persistent=True, mongo_port=port, redis_port=free_port())
        with pytest.raises(ServiceError, match="already in use"):
            services.start()
    assert [status.running for status in services.status()] == [False, False]


def test_devtools_command_starts_reports_and_stops_the_stores(tmp_path: Path) -> None:
    """What `make services-up` / `make services-down` run: `python -m devtools services ...`."""
    import subprocess
    import sys

    mongo_port, redis_port = free_port(), free_port()
    config = f"embedded:\n  mongo_port: {mongo_port}\n  redis_port: {redis_port}\n"
    (tmp_path / "config.yaml").write_text(config)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL", "SURVEYBOT_CONFIG")},
        SECANTUSD_ENV: str(find_secantusd(PROJECT_ROOT)),
        "PYTHONPATH": str(PROJECT_ROOT),
    }

    def devtools(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "devtools", "services", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    try:
        started = devtools("start")
        assert started.returncode == 0, started.stderr
        assert [line.split()[-1] for line in started.stdout.splitlines()] == ["up", "up"]
        assert f"{LOOPBACK}:{mongo_port}" in started.stdout
        assert (tmp_path / "var" / "run" / "secantus.pid").is_file()
    finally:
        stopped = devtools("stop")
    assert stopped.returncode == 0, stopped.stderr
    status = devtools("status")
    assert [line.split()[-1] for line in status.stdout.splitlines()] == ["down", "down"]
