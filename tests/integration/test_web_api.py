"""The web server over real HTTP and websockets, on the real stores (SecantusDB + Redis).

Each test starts uvicorn on a free loopback port in a thread of its own (its own event loop, as another
process would have) and talks to it with httpx and the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adapters.bootstrap import open_app
from adapters.config import load_config
from adapters.runner import WebServer, listen, uvicorn_config
from adapters.web import identity
from adapters.web.app import create_web_app
from adapters.web.asgi import WorkerApp
from bot.responses import respondent_key
from tests.integration.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token-of-24-characters"
SECRET = "web-api-secret"


def web_id() -> str:
    """A web chat respondent id as the server issues them (signed under the test server's secret)."""
    return identity.issue(identity.web_key(SECRET.encode()))


AUTH = {"Authorization": f"Bearer {TOKEN}"}

COFFEE = """\
id: coffee
title: Coffee survey
welcome: "Hello {respondent.name}!"
goodbye: "Thanks, {respondent.name}. Bye!"
questions:
  - id: drink
    type: single_choice
    text: What do you drink?
    choices: [Espresso, Latte, Tea]
  - id: extras
    type: multi_choice
    text: Extras?
    required: false
    choices: [Sugar, Milk, Cinnamon]
  - id: cups
    type: number
    text: Cups a day?
    integer: true
  - id: score
    type: nps
    text: Would you recommend us?
  - id: happy
    type: yes_no
    text: Happy?
  - id: comment
    type: text
    text: Anything else?
    required: false
"""

BROKEN = """\
id: coffee
title: Coffee survey
questions:
  - id: drink
    type: single_choice
    text: What do you drink?
    choices: [Espresso]
  - id: cups
    type: number
    text: Cups a day, {later}?
    min: 5
    max: 1
"""


@dataclass
class Server:
    url: str
    ws: str

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """Starts web servers; ``environ`` entries override the defaults (the stores, the admin token)."""
    stops: list[Callable[[], None]] = []

    def start(mongo_timeout_ms: int | None = None, **environ: str) -> Server:
        env = {
            "MONGODB_URI": mongodb_test_uri,
            "REDIS_URL": redis_url,
            "SURVEYBOT_SECRET": SECRET,
            "ADMIN_API_TOKEN": TOKEN,
            **environ,
        }
        config = load_config(ROOT / "config.yaml", environ={k: v for k, v in env.items() if v})
        if mongo_timeout_ms is not None:
            mongodb = config.mongodb.model_copy(update={"timeout_ms": mongo_timeout_ms})
            config = config.model_copy(update={"mongodb": mongodb})
        sock = listen("127.0.0.1", 0)  # as `surveybot run` binds it
        port = sock.getsockname()[1]
        servers: list[WebServer] = []
        failures: list[BaseException] = []

        async def main() -> None:
            app = await open_app(config, state_dir=tmp_path, alias=f"web-{uuid.uuid4().hex[:8]}")
            try:
                server = WebServer(uvicorn_config(create_web_app(app), config))
                servers.append(server)
                await server.serve(sockets=[sock])
            finally:
                await app.aclose()

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as error:  # reported by the test that waits for the server
                failures.append(error)

        thread = threading.Thread(target=run, name=f"web-{port}")
        thread.start()
        deadline = time.monotonic() + 15
        while not (servers and servers[0].started):
            assert not failures, failures
            assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.01)

        def stop() -> None:
            servers[0].should_exit = True
            thread.join(15)
            sock.close()
            assert not thread.is_alive() and not failures, failures

        stops.append(stop)
        return Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def server(start_server: StartServer) -> Server:
    return start_server()


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as client:
        yield client


# --- a websocket respondent ---------------------------------------------------------------------------


class Respondent:
    """One browser tab: each frame sent gets one frame back."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames = 0
        self.shown: dict[str, dict[str, Any]] = {}
        """The messages on screen by id, edits applied."""

    async def turn(self) -> list[dict[str, Any]]:
        """The messages of the next reply (an ``error`` frame is returned as the only item)."""
        frame = json.loads(await asyncio.wait_for(self.connection.recv(), 10))
        if frame["type"] == "error":
            return [frame]
        assert frame["type"] == "reply", frame
        messages: list[dict[str, Any]] = frame["messages"]
        for message in messages:
            self.shown[message["id"]] = message
        return messages

    async def send(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        self.frames += 1
        await self.connection.send(json.dumps({"id": str(self.frames), **frame}))
        return await self.turn()

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send({"type": "text", "text": text})

    def question(self) -> dict[str, Any]:
        """The last question on screen; toggling a choice replaces it with a ``selection`` edit."""
        return [m for m in self.shown.values() if m["kind"] in ("question", "selection")][-1]

    async def press(self, label: str) -> list[dict[str, Any]]:
        """Press the button ``label`` of the last question shown."""
        question = self.question()
        button = next(b for b in question["choices"] + question["actions"] if b["label"] == label)
        return await self.send({"type": "button", "value": button["value"], "message_id": question["id"]})


@contextlib.asynccontextmanager
async def respondent(
    server: Server, survey_id: str, user: str, name: str = ""
) -> AsyncIterator[tuple[Respondent, list[dict[str, Any]]]]:
    url = f"{server.ws}/ws/surveys/{survey_id}?respondent={user}&name={quote(name)}"
    async with connect(url) as connection:
        who = Respondent(connection)
        yield who, await who.turn()


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """The texts of the messages that show up as new ones (not a question losing its buttons)."""
    return [m["text"] for m in messages if m["kind"] != "retired"]


async def upload(admin: httpx.AsyncClient, text: str, filename: str = "coffee.yaml") -> httpx.Response:
    return await admin.post(
        "/api/surveys",
        params={"filename": filename},
        content=text,
        headers={"Content-Type": "application/yaml"},
    )


async def take_coffee(server: Server) -> dict[str, str]:
    """Three respondents: two finish (Ann by buttons, Bob by typing), Cid stops at the NPS question."""
    users = {name: web_id() for name in ("ann", "bob", "cid")}
    async with respondent(server, "coffee", users["ann"], "Ann") as (ann, hello):
        assert texts(hello) == ["Hello Ann!", "What do you drink?"]
        out = await ann.press("Latte")
        assert out[0]["kind"] == "answered" and out[0]["text"] == "What do you drink?\n✓ Latte"
        assert out[0]["id"] == out[0]["edit_of"] == hello[1]["id"]
        await ann.press("Sugar")
        out = await ann.press("Cinnamon")
        assert [(c["label"], c["selected"]) for c in out[0]["choices"]] == [
            ("Sugar", True),
            ("Milk", False),
            ("Cinnamon", True),
        ]
        assert out[0]["kind"] == "selection"
        await ann.press("Done")
        await ann.say("2")
        await ann.press("9")
        await ann.press("Yes")
        out = await ann.say("=1+1")
        assert texts(out) == ["Thanks, Ann. Bye!"]
    async with respondent(server, "coffee", users["bob"], "@Bob") as (bob, _):
        for typed in ("espresso", "/skip", "0", "3", "no"):
            await bob.say(typed)
        assert texts(await bob.say("/skip")) == ["Thanks, @Bob. Bye!"]
    async with respondent(server, "coffee", users["cid"], "Cid") as (cid, _):
        await cid.press("Tea")
        out = await cid.say("/back")
        assert texts(out) == ["What do you drink?"]
        await cid.say("Espresso")
        await cid.press("Milk")
        await cid.press("Done")
        out = await cid.say("4")
        assert texts(out) == ["Would you recommend us?"]
    return users


# --- tests --------------------------------------------------------------------------------------------


async def test_upload_take_over_the_websocket_and_export_every_value(
    server: Server, admin: httpx.AsyncClient
) -> None:
    created = await upload(admin, COFFEE)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "id": "coffee",
        "title": "Coffee survey",
        "version": 1,
        "stored": True,
        "warnings": [],
    }
    again = await upload(admin, COFFEE)
    assert (again.status_code, again.json()["stored"]) == (200, False)

    users = await take_coffee(server)

    listed = (await admin.get("/api/surveys/coffee/responses")).json()
    assert [r["respondent"]["user_id"] for r in listed] == [users["ann"], users["bob"], users["cid"]]
    ann, bob, cid = listed
    assert ann["status"] == bob["status"] == "completed" and cid["status"] == "in_progress"
    assert ann["answers"]["extras"]["value"] == ["sugar", "cinnamon"]
    assert cid["path"] == ["drink", "extras", "cups"]
    assert (await admin.get(f"/api/responses/{bob['id']}")).json() == bob
    assert (await admin.get("/api/responses/nope")).status_code == 404
    completed = (await admin.get("/api/surveys/coffee/responses", params={"status": "completed"})).json()
    assert [r["id"] for r in completed] == [ann["id"], bob["id"]]
    since = (await admin.get("/api/surveys/coffee/responses", params={"since": cid["started_at"]})).json()
    assert [r["id"] for r in since] == [cid["id"]]
    assert (await admin.get("/api/surveys/coffee/responses", params={"status": "lost"})).status_code == 422

    exported = await admin.get("/api/surveys/coffee/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == 'attachment; filename="coffee-responses.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))

    def meta(response: dict[str, Any], name: str) -> dict[str, str]:
        return {
            "response.id": response["id"],
            "response.version": "1",
            "response.status": response["status"],
            "response.started_at": _iso(response["started_at"]),
            "response.completed_at": _iso(response["completed_at"]) if response["completed_at"] else "",
            "response.language": "",
            "respondent.platform": "web",
            "respondent.key": respondent_key(SECRET.encode(), "web", response["respondent"]["user_id"]),
            "respondent.user_id": response["respondent"]["user_id"],
            "respondent.name": name,
        }

    assert rows == [
        meta(ann, "Ann")
        | {
            "drink": "latte",
            "extras": "sugar;cinnamon",
            "cups": "2",
            "score": "9",
            "happy": "yes",
            "comment": "'=1+1",
        },
        meta(bob, "'@Bob")
        | {
            "drink": "espresso",
            "extras": "",
            "cups": "0",
            "score": "3",
            "happy": "no",
            "comment": "",
        },
        meta(cid, "Cid")
        | {
            "drink": "espresso",
            "extras": "milk",
            "cups": "4",
            "score": "",
            "happy": "",
            "comment": "",
        },
    ]

    as_json = await admin.get("/api/surveys/coffee/export.json", params={"status": "completed"})
    assert as_json.headers["content-type"] == "application/json"
    objects = as_json.json()
    assert [o["response.id"] for o in objects] == [ann["id"], bob["id"]]
    assert {k: objects[0][k] for k in ("drink", "extras", "cups", "score", "happy", "comment")} == {
        "drink": "latte",
        "extras": ["sugar", "cinnamon"],
        "cups": 2,
        "score": 9,
        "happy": True,
        "comment": "=1+1",
    }
    assert (objects[1]["extras"], objects[1]["comment"], objects[1]["respondent.name"]) == (
        None,
        None,
        "@Bob",
    )


def _iso(api_time: str) -> str:
    """The API's ISO time (``…Z``) as the CSV writes it (``…+00:00``, milliseconds)."""
    whole, _, fraction = api_time.removesuffix("Z").partition(".")
    return f"{whole}.{(fraction or '0').ljust(3, '0')[:3]}+00:00"


async def test_results_match_hand_computed_numbers(server: Server, admin: httpx.AsyncClient) -> None:
    assert (await upload(admin, COFFEE)).status_code == 201
    await take_coffee(server)
    summary = (await admin.get("/api/surveys/coffee/results")).json()
    assert {k: summary[k] for k in ("started", "completed", "in_progress")} == {
        "started": 3,
        "completed": 2,
        "in_progress": 1,
    }
    assert summary["completion_rate"] == pytest.approx(2 / 3)
    q = {item["id"]: item for item in summary["questions"]}
    assert [(c["value"], c["count"]) for c in q["drink"]["counts"]] == [
        ("espresso", 2),
        ("latte", 1),
        ("tea", 0),
    ]
    assert (q["extras"]["answered"], q["extras"]["skipped"]) == (2, 1)
    assert [c["count"] for c in q["extras"]["counts"]] == [1, 1, 1]
    assert (q["cups"]["mean"], q["cups"]["median"]) == (2, 2)
    assert [(c["value"], c["count"]) for c in q["cups"]["counts"]] == [("0", 1), ("2", 1), ("4", 1)]
    score = q["score"]
    assert (score["answered"], score["reached"], score["dropped"]) == (2, 3, 1)
    assert score["drop_off_rate"] == pytest.approx(1 / 3)
    assert (score["nps"], score["promoters"], score["passives"], score["detractors"]) == (0, 1, 0, 1)
    assert (score["mean"], score["median"]) == (6, 6)
    assert [c["count"] for c in q["happy"]["counts"]] == [1, 1]
    assert (q["comment"]["answered"], q["comment"]["skipped"], q["comment"]["counts"]) == (1, 1, [])

    text = (await admin.get("/api/surveys/coffee/results.txt")).text
    assert text.startswith("Coffee survey (coffee, version 1)\nStarted 3, completed 2 (67%), in progress 1\n")
    assert "2 answers, 1 stopped here: NPS +0 (1 promoter, 1 detractor), mean 6, median 6" in text

    charts = (await admin.get("/api/surveys/coffee/charts")).json()
    assert [c["name"] for c in charts] == ["drink", "extras", "cups", "score", "happy"]
    png = await admin.get(charts[3]["url"])
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (800, 450)
    assert (await admin.get("/api/surveys/coffee/charts/comment.png")).status_code == 404
    assert (await admin.get("/api/surveys/nope/results")).status_code == 404


async def test_admin_api_refuses_without_the_right_token(server: Server, start_server: StartServer) -> None:
    for token in (None, "wrong-token"):
        async with server.client(token) as client:
            for method, path in [
                ("GET", "/api/surveys"),
                ("POST", "/api/surveys"),
                ("GET", "/api/responses/x"),
            ]:
                refused = await client.request(method, path, content=COFFEE)
                assert refused.status_code == 401, (token, path)
                assert refused.headers["www-authenticate"].startswith("Bearer")
    async with server.client("Basic abc") as client:
        assert (await client.get("/api/surveys")).status_code == 401
    async with server.client() as client:
        assert (await client.get("/api/surveys")).json() == []
        assert (await client.get("/chat/surveys")).json() == []

    without = start_server(ADMIN_API_TOKEN="")
    async with without.client() as client:
        assert (await client.get("/api/surveys")).status_code == 404, "no token configured: the API is off"
        assert (await upload(client, COFFEE)).status_code in (404, 405)
        assert (await client.get("/healthz")).status_code == 200


async def test_an_upload_over_the_limit_gets_the_chats_refusal(admin: httpx.AsyncClient) -> None:
    refused = await upload(admin, COFFEE + "#" * (1024 * 1024), filename="big.yaml")
    assert refused.status_code == 413
    too_large = "“big.yaml” is larger than 1024 KB, too large for a survey; not loaded."
    assert refused.json() == {"detail": too_large}


async def test_a_broken_survey_is_refused_with_every_problem(admin: httpx.AsyncClient) -> None:
    refused = await upload(admin, BROKEN, filename="surveys/coffee.yaml")
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "“surveys/coffee.yaml” was not loaded: 3 problems; nothing was stored.",
        "problems": [
            "surveys/coffee.yaml:7: question 'drink': needs at least two choices, not 1",
            "surveys/coffee.yaml:10: question 'cups': text: placeholder {later} names unknown question "
            "'later'",
            "surveys/coffee.yaml:11: question 'cups': min (5) is above max (1)",
        ],
    }
    not_utf8 = await admin.post("/api/surveys", content=b"id: x\n\xff\n")
    assert not_utf8.json()["problems"] == ["upload.yaml:2: the file is not UTF-8 text (byte 0xff)"]
    assert (await admin.get("/api/surveys")).json() == []


async def test_uploads_say_what_check_warns_of_and_a_stored_survey_can_be_checked(
    admin: httpx.AsyncClient,
) -> None:
    clean = await upload(admin, COFFEE)
    mistyped = COFFEE.replace(
        "    text: Happy?\n", "    text: Happy?\n    next:\n      - {if: \"happy == 'yes'\", goto: end}\n"
    )
    warned = await upload(admin, mistyped)

    assert clean.status_code == 201 and clean.json()["warnings"] == []
    assert warned.status_code == 201 and warned.json()["warnings"] == [
        "coffee.yaml:26: question 'happy': `happy == 'yes'` compares 'happy' (yes_no, stored as a boolean) "
        "with 'yes': the comparison never holds as written [type-mismatch]"
    ]
    newest = (await admin.get("/api/surveys/coffee/check")).json()
    first = (await admin.get("/api/surveys/coffee/check", params={"version": 1})).json()
    assert (newest["version"], first["version"]) == (2, 1)
    assert [w["code"] for w in newest["warnings"]] == ["type-mismatch"] and first["warnings"] == []
    assert first["paths"] == {
        "count": 1,
        "more": False,
        "sampled": False,
        "shortest": 6,
        "longest": 6,
        "states": first["paths"]["states"],
    }
    assert (await admin.get("/api/surveys/nope/check")).status_code == 404


async def test_versions_archive_and_get(server: Server, admin: httpx.AsyncClient) -> None:
    assert (await upload(admin, COFFEE)).status_code == 201
    second = await upload(admin, COFFEE.replace("title: Coffee survey", "title: Coffee, again"))
    assert second.json()["version"] == 2
    conflict = await upload(
        admin, COFFEE.replace("id: coffee", "id: coffee\nversion: 1").replace("Tea", "Mate")
    )
    assert conflict.status_code == 409
    newest = (await admin.get("/api/surveys/coffee")).json()
    first = (await admin.get("/api/surveys/coffee", params={"version": 1})).json()
    assert (newest["version"], newest["title"], first["version"], first["title"]) == (
        2,
        "Coffee, again",
        1,
        "Coffee survey",
    )
    assert first["source"] == COFFEE
    assert [c["id"] for c in first["questions"][0]["choices"]] == ["espresso", "latte", "tea"]
    assert (await admin.get("/api/surveys/coffee", params={"version": 3})).status_code == 404

    user = web_id()
    async with respondent(server, "coffee", user) as (_, hello):
        assert texts(hello)[-1] == "What do you drink?"
    archived = await admin.post("/api/surveys/coffee/archive")
    assert archived.json() == {"id": "coffee", "archived": True}
    assert (await admin.get("/chat/surveys")).json() == []
    async with respondent(server, "coffee", web_id()) as (_, hello):
        assert texts(hello) == [
            "There is no survey called “coffee”.\nThere are no surveys to take right now."
        ]
    async with respondent(server, "coffee", user) as (_, hello):
        assert texts(hello)[-1] == "What do you drink?", "a response in progress can still be finished"
    listed = (await admin.get("/api/surveys")).json()
    assert [(s["id"], s["archived"], s["in_progress"]) for s in listed] == [("coffee", True, 1)]
    assert len((await admin.get("/api/surveys/coffee/responses")).json()) == 1, "its data stays"
    assert (await admin.post("/api/surveys/coffee/unarchive")).json()["archived"] is False
    assert (await admin.get("/chat/surveys")).json() == [{"id": "coffee", "title": "Coffee, again"}]
    assert (await admin.post("/api/surveys/nope/archive")).status_code == 404


async def test_a_reconnect_resumes_where_the_respondent_left_off(
    server: Server, admin: httpx.AsyncClient
) -> None:
    assert (await upload(admin, COFFEE)).status_code == 201
    user = web_id()
    async with respondent(server, "coffee", user, "Dee") as (dee, _):
        await dee.press("Tea")
    async with respondent(server, "coffee", user, "Dee") as (dee, hello):
        assert texts(hello) == ["Welcome back! Let's continue “Coffee survey” where you left off.", "Extras?"]
        resent = {"type": "text", "text": "2", "id": "same"}
        first = await dee.send(resent)
        assert texts(first)[-1] == "Cups a day?"
        await dee.connection.send(json.dumps(resent))
        assert await dee.turn() == [], "a frame sent again with its id is answered once: an empty reply"
        out = await dee.say("lots")
        assert [m["kind"] for m in out] == ["retired", "error", "question"], (
            "the earlier copy loses its buttons"
        )
        assert texts(out)[-1] == "Cups a day?"


async def test_bad_frames_and_respondent_ids(server: Server) -> None:
    other_deployment = identity.issue(identity.web_key(b"another secret"))
    for made_up in ("short", "0123456789abcdef0123", other_deployment):
        async with connect(f"{server.ws}/ws/surveys/coffee?respondent={made_up}") as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason.startswith("respondent: not an id this server issued")
    async with respondent(server, "coffee", web_id()) as (who, hello):
        assert texts(hello) == [
            "There is no survey called “coffee”.\nThere are no surveys to take right now."
        ]
        await who.connection.send("{not json")
        [error] = await who.turn()
        assert error["type"] == "error" and error["error"].startswith("bad frame: ")
        assert error == {"type": "error", "error": error["error"]}
        await who.connection.send(b"\x00binary")
        assert (await who.turn())[0]["error"] == "frames are JSON text"
        assert texts(await who.say("/help"))[0].startswith("I run surveys.")


async def test_chat_page_docs_health_and_metrics(server: Server, admin: httpx.AsyncClient) -> None:
    async with server.client(None) as client:
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="/static/chat.js"' in page.text
        assert (await client.get("/static/chat.js")).status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "mongodb": "ok", "redis": "ok"})
        assert ready.headers["x-correlation-id"]
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        schema = (await client.get("/openapi.json")).json()
        upload_op = schema["paths"]["/api/surveys"]["post"]
        assert set(upload_op["requestBody"]["content"]["application/yaml"]["examples"]) == {"valid", "broken"}
        assert "AdminToken" in schema["components"]["securitySchemes"]

        assert (await upload(admin, COFFEE)).status_code == 201
        before = _metric((await client.get("/metrics")).text, 'surveybot_answers_saved_total{platform="web"}')
        async with respondent(server, "coffee", web_id()) as (who, _):
            await who.press("Latte")
            await who.say("7")  # invalid: not a choice of extras
        metrics = (await client.get("/metrics")).text
    assert _metric(metrics, 'surveybot_answers_saved_total{platform="web"}') == before + 1
    assert _metric(metrics, 'surveybot_answers_invalid_total{platform="web"}') >= 1
    assert _metric(metrics, 'surveybot_messages_total{platform="web"}') >= 3
    assert _metric(metrics, 'surveybot_handling_seconds_count{platform="web"}') >= 3
    assert "# TYPE surveybot_surveys_completed_total counter" in metrics


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_readyz_names_the_store_that_is_down(
    start_server: StartServer, mongodb_test_uri: str, redis_url: str
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    no_redis = start_server(REDIS_URL=f"redis://127.0.0.1:{dead_port}/0")
    async with no_redis.client(None) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert (body["status"], body["mongodb"]) == ("unavailable", "ok")
    assert body["redis"].startswith("unreachable: ")

    target = urlsplit(mongodb_test_uri)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 27017)
    via_proxy = f"mongodb://127.0.0.1:{proxy.port}{target.path}?directConnection=true"
    no_mongo = start_server(MONGODB_URI=via_proxy, mongo_timeout_ms=500)
    async with no_mongo.client() as client:
        assert (await client.get("/readyz")).status_code == 200
        proxy.cut()
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert (ready.json()["mongodb"].startswith("unreachable"), ready.json()["redis"]) == (True, "ok")
        down = await client.get("/api/surveys")
        assert (down.status_code, down.json()) == (
            503,
            {"detail": "MongoDB or Redis is unavailable; try again soon"},
        )


async def test_websocket_answer_latency(server: Server, admin: httpx.AsyncClient) -> None:
    """Not a benchmark (the figures are in the report): a bound that catches a blocked event loop."""
    assert (await upload(admin, COFFEE)).status_code == 201
    timings = []
    for _ in range(5):
        async with respondent(server, "coffee", web_id()) as (who, _):
            for step in ("Latte", "Done", "2"):
                started = time.perf_counter()
                await (who.say(step) if step.isdigit() else who.press(step))
                timings.append(time.perf_counter() - started)
    timings.sort()
    assert timings[len(timings) // 2] < 0.25, timings


async def test_accepted_connections_do_without_nagle() -> None:
    """`surveybot run` binds its socket itself: asyncio sets TCP_NODELAY on the connections it accepts
    only when the socket says IPPROTO_TCP. Without it, a response written in two parts (headers, then a
    streamed body) waits ~40 ms for the client's delayed ACK."""
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            nodelay.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    sock = listen("127.0.0.1", 0)
    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(nodelay, 5) == 1
        writer.close()


async def test_a_worker_that_cannot_reach_mongodb_fails_its_startup(redis_url: str) -> None:
    """`uvicorn adapters.web.asgi:create --factory`: the stores are opened in each worker's lifespan."""
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    environ = {
        "MONGODB_URI": f"mongodb://127.0.0.1:{dead_port}/x",
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "s",
    }
    config = load_config(ROOT / "config.yaml", environ=environ)
    config = config.model_copy(update={"mongodb": config.mongodb.model_copy(update={"timeout_ms": 200})})
    worker = WorkerApp(config)

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def no_body() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/healthz", "headers": [], "query_string": b""}
    await worker(scope, no_body, send)
    assert sent[0]["status"] == 503, "not started yet"

    sent.clear()
    events = [{"type": "lifespan.startup"}]

    async def lifespan_events() -> Any:
        return events.pop(0)

    await worker({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan_events, send)
    [failed] = sent
    assert failed["type"] == "lifespan.startup.failed"
    assert failed["message"].startswith("surveybot: MongoDB")
