"""Webhooks through the served product (``adapters.runner.running``: the web app with its webhook
deliverer) on the real stores: secrets and deliveries in the admin API, a failed delivery retried."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import App, open_app
from adapters.config import Config, load_config
from adapters.runner import WebServer, listen, running, uvicorn_config
from adapters.webhooks import signing_secret, verify, webhook_key
from bot.messages import Incoming
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "webhooks-admin-token-0123456789"
SECRET = "webhooks-http-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.down()


@pytest.fixture
def config(mongodb_test_uri: str, redis_url: str) -> Config:
    environ = {
        "MONGODB_URI": mongodb_test_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": SECRET,
        "ADMIN_API_TOKEN": TOKEN,
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
    }
    config = load_config(ROOT / "config.yaml", environ=environ)
    hooks = config.webhooks.model_copy(
        update={"timeout_seconds": 1, "lease_seconds": 3, "max_attempts": 2, "backoff_seconds": 0.2}
    )
    return config.model_copy(update={"webhooks": hooks})


@pytest.fixture
def served(config: Config) -> Iterator[str]:
    """``surveybot run``'s web app and webhook deliverer, in a thread with its own event loop."""
    sock = listen("127.0.0.1", 0)
    servers: list[WebServer] = []
    failures: list[BaseException] = []

    async def main() -> None:
        async with running(config) as web:
            server = WebServer(uvicorn_config(web, config))
            servers.append(server)
            await server.serve(sockets=[sock])

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, name="webhooks-server")
    thread.start()
    deadline = time.monotonic() + 15
    while not (servers and servers[0].started):
        assert not failures and thread.is_alive() and time.monotonic() < deadline, failures
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    servers[0].should_exit = True
    thread.join(15)
    sock.close()
    assert not thread.is_alive() and not failures, failures


@pytest.fixture
async def respondents(config: Config, tmp_path: Path) -> AsyncIterator[App]:
    """Another process's engine on the same stores."""
    app = await open_app(config, tmp_path, alias=f"hooks-{uuid.uuid4().hex[:6]}")
    yield app
    await app.aclose()


async def wait_for(check: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_failed_delivery_is_listed_and_retried_through_the_admin_api(
    served: str, receiver: Receiver, respondents: App
) -> None:
    survey = f"""\
id: pulse
title: Team pulse
settings:
  webhooks:
    - url: {receiver.url}
      events: [response.completed]
questions:
  - {{id: mood, type: rating, text: "How was your week?", min: 1, max: 5}}
"""
    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        assert (await admin.post("/api/surveys", content=survey)).status_code == 201
        [hook] = (await admin.get("/api/surveys/pulse/webhooks")).json()
        assert hook == {
            "url": receiver.url,
            "events": ["response.completed"],
            "secret": signing_secret(webhook_key(SECRET.encode()), receiver.url),
        }

        for text in ("/start pulse", "4"):
            await respondents.engine.handle(Incoming("test", "ada", "Ada", "ada", text, update_id=text))

        async def failed() -> list[dict[str, object]]:
            listed: list[dict[str, object]] = (
                await admin.get("/api/webhooks/deliveries", params={"status": "failed"})
            ).json()
            return listed

        await wait_for(failed)  # the receiver is down: two attempts, then failed for good
        [delivery] = await failed()
        assert delivery["attempts"] == 2 and "ConnectError" in str(delivery["last_error"])
        assert delivery["event"] == "response.completed" and delivery["survey_id"] == "pulse"

        receiver.up()
        assert (await admin.post("/api/webhooks/deliveries/nope/retry")).status_code == 404
        retried = await admin.post(f"/api/webhooks/deliveries/{delivery['id']}/retry")
        assert retried.json() == {"id": delivery["id"], "status": "pending"}

        async def delivered() -> bool:
            done = (await admin.get("/api/webhooks/deliveries", params={"status": "delivered"})).json()
            return len(done) == 1

        await wait_for(delivered)
        assert (await admin.post(f"/api/webhooks/deliveries/{delivery['id']}/retry")).status_code == 404
        async with httpx.AsyncClient(base_url=served) as stranger:
            assert (await stranger.get("/api/webhooks/deliveries")).status_code == 401

    [(event_id, body, header)] = receiver.got
    assert event_id == delivery["event_id"]
    assert verify(hook["secret"], header, body)
    event = json.loads(body)
    assert event["response"]["answers"] == {"mood": 4}
    assert event["response"]["respondent"]["user_id"] == "ada"
