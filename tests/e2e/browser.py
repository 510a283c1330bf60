"""What the browser tests share: `surveybot run` as a subprocess on the test's stores, Debian's Chromium
driven by Playwright (its fixtures are in conftest.py), and the web chat's page driven like a person."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

ROOT = Path(__file__).resolve().parents[2]
SURVEYBOT = [sys.executable, "-m", "adapters.cli"]
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium stalls on a machine without internet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-admin-token-of-24-characters"


@dataclass
class Web:
    url: str
    log: Path

    def api(self, path: str) -> Any:
        reply = httpx.get(self.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        reply.raise_for_status()
        return reply.json()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
        return port


def question(page: Page) -> Locator:
    """The last question on screen (a toggled multi-choice question is shown as a ``selection``)."""
    return page.locator("#messages li[data-kind=question], #messages li[data-kind=selection]").last


def answered(page: Page) -> None:
    """Wait until the bot has replied to everything sent (the page marks the list busy until then)."""
    expect(page.locator("#messages")).not_to_have_attribute("aria-busy", "true")


def press(page: Page, label: str) -> None:
    question(page).get_by_role("button", name=label, exact=True).click()
    answered(page)


def type_answer(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")
    answered(page)


def bot_said(page: Page) -> Locator:
    return page.locator("#messages li.bot .text")


def start(page: Page, web: Web, survey_id: str, name: str) -> None:
    page.goto(web.url + "/")
    page.fill("#name", name)
    page.locator(f'#surveys button[data-survey="{survey_id}"]').click()
    expect(page.locator("#status")).to_have_text("Connected")
    answered(page)
