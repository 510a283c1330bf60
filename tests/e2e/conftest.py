"""Fixtures of the end-to-end tests: `surveybot run` with the web chat and the browser (tests/e2e/browser.py
has their helpers), and the Telegram emulator (tests/e2e/telegram_emulator)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SURVEYBOT, TOKEN, Web, free_port
from tests.e2e.telegram_emulator import Emulator, running_emulator


@pytest.fixture
def web(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> Iterator[Web]:
    """`surveybot run` with the example surveys loaded, on a free port; stopped with SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        "MONGODB_URI": mongodb_test_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "browser-secret",
        "SURVEYBOT_CONFIG": str(ROOT / "config.yaml"),
        "SURVEYBOT_PORT": str(port),
        "SURVEYBOT_LOG_FORMAT": "json",
        "ADMIN_API_TOKEN": TOKEN,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    loaded = subprocess.run(
        [*SURVEYBOT, "load", "surveys/"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
    log = tmp_path / "surveybot-run.log"
    with log.open("w") as output:
        server = subprocess.Popen([*SURVEYBOT, "run"], env=env, cwd=ROOT, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"surveybot run exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"surveybot run did not answer:\n{log.read_text()}"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Web(url, log)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    assert code == 0, f"surveybot run did not stop cleanly ({code}):\n{log.read_text()}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package; "
            "`make install` installs it (apt-get install chromium)."
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The Telegram Bot API emulator, shared by the session (each bot has a token of its own)."""
    with running_emulator(tmp_path_factory.mktemp("telegram") / "emulator.log") as running:
        yield running
