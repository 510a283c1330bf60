"""The security suite: the attacks of issue 10, and property-based fuzzing with Hypothesis.

Fuzzing runs a bounded, derandomised number of examples in ``make test`` (profile ``ci``); set
``HYPOTHESIS_PROFILE=nightly`` for a long run with fresh random examples. The counts of each fuzz test
(cases, loaded, refused, crashed) are printed in the terminal summary.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.security.tally import FUZZ_COUNTS

settings.register_profile(
    "ci",
    max_examples=300,
    derandomize=True,
    deadline=None,  # shared, noisy machines: time is measured in bench/, not here
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "nightly",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FUZZ_COUNTS:
        terminalreporter.section("fuzzing")
        for name, counts in FUZZ_COUNTS.items():
            parts = ", ".join(f"{key} {value}" for key, value in sorted(counts.items()) if key != "cases")
            terminalreporter.write_line(f"{name}: {counts['cases']} cases: {parts}")
