"""Fault-injection tests: real SecantusDB, redis-server and ``surveybot run`` processes, per test.

Every test gets a :class:`~tests.faults.harness.Cluster` of its own (``cluster``), stopped at the end
whatever happened. The figures of each test (answers per second, latency, time to the first "try again"
after a fault, time to recover) are printed in the terminal summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import FIGURES, Cluster

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: injects process faults (kill -9, SIGSTOP, FLUSHALL) into real stores and bots"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault-injection figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Stores, fake Bot API, the faults survey loaded, and one ``surveybot run``; all stopped afterwards."""
    world = Cluster(tmp_path, request.node.name)
    try:
        world.start()
        yield world
    finally:
        world.stop()
