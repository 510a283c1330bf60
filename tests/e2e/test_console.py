"""The console adapter driven as a subprocess: the real `surveybot` command, real stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURVEYBOT = [sys.executable, "-m", "adapters.cli"]

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongodb_test_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "e2e-secret",
        "SURVEYBOT_CONFIG": str(ROOT / "config.yaml"),
        "COLUMNS": "200",
    }


def surveybot(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SURVEYBOT, *args], input=stdin, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_seed_conversation_in_the_terminal(env: dict[str, str]) -> None:
    loaded = surveybot(env, "load", "surveys/")
    assert loaded.returncode == 0, loaded.stderr
    assert "stored ice-cream version 1" in loaded.stdout

    chat = surveybot(
        env, "chat", "ice-cream", "--user-id", "john", "--name", "John Doe", stdin="2\nNo, thank you.\n"
    )
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.splitlines()
    expected = [
        "Hello John Doe! We are interested to know which flavour of ice cream you prefer.",
        "Which flavour of ice cream do you prefer?",
        "  1. Vanilla",
        "  2. Chocolate",
        "  3. Strawberry",
        "Please reply with the number corresponding to your choice.",
        "Great choice! Chocolate is a classic favorite.",
        "Would you like to provide feedback on why you chose Chocolate?",
        "Please reply yes or no.",
        "Thank you for your time, John Doe! Your response has been recorded.",
    ]
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions), chat.stdout

    again = surveybot(env, "chat", "ice-cream", "--user-id", "john", "--name", "John Doe")
    assert "You have already completed “Ice cream preferences”. Thank you!" in again.stdout

    listing = surveybot(env, "surveys")
    row = next(line for line in listing.stdout.splitlines() if "ice-cream" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:7] == ["ice-cream", "Ice cream preferences", "1", "0", "1", ""], listing.stdout


def test_end_of_input_pauses_and_the_next_run_resumes(env: dict[str, str]) -> None:
    assert surveybot(env, "load", "surveys/ice-cream.yaml").returncode == 0
    first = surveybot(env, "chat", "ice-cream", "--user-id", "ann", "--name", "Ann", stdin="strawberry\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith("Run the same command to continue.)")
    second = surveybot(env, "chat", "--user-id", "ann", "--name", "Ann", stdin="yes\nSo fresh!\n")
    assert "Welcome back!" in second.stdout
    assert "What makes Strawberry your favourite?" in second.stdout
    assert "Thank you for your time, Ann!" in second.stdout


def test_validate_reports_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: broken\ntitle: Broken\nquestions:\n  - id: a\n    type: rating\n    text: Rate\n"
        "    min: 5\n    max: 1\n",
        encoding="utf-8",
    )
    result = surveybot(env, "validate", str(broken), "surveys/ice-cream.yaml")
    assert result.returncode == 1
    assert f"{broken}:7: question 'a':" in result.stderr
    assert surveybot(env, "validate", "surveys/").returncode == 0


def test_undecodable_bytes_and_huge_numbers_are_re_asked_not_fatal(env: dict[str, str]) -> None:
    """Invalid UTF-8 on the console and a 5,000-digit answer to a choice crashed the console (issue 10)."""
    assert surveybot(env, "load", "surveys/").returncode == 0
    result = subprocess.run(
        [*SURVEYBOT, "chat", "ice-cream", "--user-id", "bytes-user", "--name", "B"],
        input=b"caf\xe9 \xff\n" + b"9" * 5000 + b"\n2\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = result.stdout.decode()
    assert out.count("Please reply with the number corresponding to your choice.") >= 2
    assert "Great choice! Chocolate is a classic favorite." in out
    assert b"Traceback" not in result.stderr
