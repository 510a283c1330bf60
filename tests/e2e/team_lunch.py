"""The survey of the language and linking end-to-end tests (``team-lunch.yaml``), in English, German and
Spanish, and what MongoDB holds for the answers every test gives, in whichever language: choice ids, a
boolean, a number."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.browser import ROOT, SURVEYBOT

SURVEY_ID = "team-lunch"
SURVEY_FILE = Path(__file__).resolve().parent / "team-lunch.yaml"
ANSWERS = {"dish": "soup", "dessert": True, "guests": 2, "seat": "terrace"}


def load_team_lunch(env: dict[str, str]) -> None:
    """``surveybot load`` the survey into the stores ``env`` names."""
    loaded = subprocess.run(
        [*SURVEYBOT, "load", str(SURVEY_FILE)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
