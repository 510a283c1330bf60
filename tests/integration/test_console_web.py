"""The operators' web console (/console) on the real stores: the app `surveybot run` serves, called in
process through httpx's ASGI transport; respondents answer through the engine on the same stores."""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from markupsafe import escape
from PIL import Image

from adapters.bootstrap import App, open_app
from adapters.campaigns import Person
from adapters.check import check_survey
from adapters.config import load_config
from adapters.survey_admin import AdminReply
from adapters.web.app import create_web_app
from adapters.web.console import COOKIE
from bot.campaigns import Audience
from bot.engine import Engine
from bot.messages import Incoming
from tests.campaign_files import store_due_now
from tests.integration.test_web_api import BROKEN, COFFEE

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "console-admin-token-of-24-chars"


@dataclass
class Console:
    app: App
    transport: httpx.ASGITransport
    web: httpx.AsyncClient
    """A browser: keeps the cookies it is given."""

    def browser(self, base_url: str = "http://testserver") -> httpx.AsyncClient:
        """Another browser on the same server (no cookies)."""
        return httpx.AsyncClient(transport=self.transport, base_url=base_url)


OpenConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def open_console(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> AsyncIterator[OpenConsole]:
    """Opens the web app on the test's stores as a worker would (the same stores for each one opened);
    ``token`` is its ADMIN_API_TOKEN (None: not set)."""
    secret = f"console-{uuid.uuid4().hex}"  # rate-limit counters of this test's own
    opened: list[tuple[App, httpx.AsyncClient]] = []

    async def open_(token: str | None = TOKEN) -> Console:
        environ = {"MONGODB_URI": mongodb_test_uri, "REDIS_URL": redis_url, "SURVEYBOT_SECRET": secret}
        if token:
            environ["ADMIN_API_TOKEN"] = token
        config = load_config(ROOT / "config.yaml", environ=environ)
        app = await open_app(config, state_dir=tmp_path, alias=f"console-{uuid.uuid4().hex[:8]}")
        transport = httpx.ASGITransport(create_web_app(app))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append((app, client))
        return Console(app, transport, client)

    yield open_
    for app, client in opened:
        await client.aclose()
        await app.aclose()


@pytest.fixture
async def console(open_console: OpenConsole) -> Console:
    return await open_console()


async def sign_in(web: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    return await web.post("/console/sign-in", data={"token": token})


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found, "the page has a form with a CSRF token"
    return found[1]


async def upload(web: httpx.AsyncClient, text: str, name: str = "coffee.yaml") -> httpx.Response:
    form = await web.get("/console/upload")
    return await web.post(
        "/console/upload",
        data={"csrf": csrf(form)},
        files={"survey": (name, text.encode(), "application/yaml")},
    )


async def respond(
    app: App, survey_id: str, user: str, answers: list[str], name: str = "", at: datetime | None = None
) -> None:
    """``user`` starts ``survey_id`` (at ``at``: the engine's clock) and types ``answers``."""
    clock = (lambda: at) if at is not None else (lambda: datetime.now(UTC))
    engine = Engine(app.cache, app.responses, app.sessions, b"console-test", clock=clock)
    for text in [f"/start {survey_id}", *answers]:
        await engine.handle(Incoming(platform="web", user_id=user, user_name=name, chat_id=user, text=text))


GET_PAGES = [
    "/console",
    "/console/surveys",
    "/console/surveys/coffee",
    "/console/surveys/coffee/source",
    "/console/surveys/coffee/responses",
    "/console/surveys/coffee/export.csv",
    "/console/surveys/coffee/export.json",
    "/console/surveys/coffee/charts/drink.png",
    "/console/upload",
    "/console/campaigns",
    "/console/campaigns/any",
]


async def test_every_page_needs_a_session(console: Console) -> None:
    await load_coffee(console)
    for path in GET_PAGES:
        reply = await console.web.get(path)
        assert (reply.status_code, reply.headers.get("location")) == (303, "/console/sign-in"), path
    for path in ("/console/surveys/coffee/archive", "/console/sign-out", "/console/upload"):
        reply = await console.web.post(path, data={"csrf": "0" * 64})
        assert (reply.status_code, reply.headers.get("location")) == (303, "/console/sign-in"), path
    assert await console.app.surveys.list_newest() != [], "the archive was not applied"
    page = await console.web.get("/console/sign-in")
    assert page.status_code == 200 and 'name="token" type="password"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text


async def load_coffee(console: Console) -> None:
    """Store the coffee survey as `surveybot load` would."""
    from bot.catalog import publish_upload

    await publish_upload(console.app.surveys, console.app.cache, COFFEE.encode(), "coffee.yaml")


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_clears_it(console: Console) -> None:
    wrong = await sign_in(console.web, "not-the-token-but-as-long-as-it")
    assert wrong.status_code == 401 and "That is not the admin token." in wrong.text
    assert "set-cookie" not in wrong.headers

    right = await sign_in(console.web)
    assert (right.status_code, right.headers["location"]) == (303, "/console/surveys")
    cookie = right.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert flags == {"httponly", "max-age", "path", "samesite"}, cookie
    assert "Path=/console" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert TOKEN not in cookie
    assert (await console.web.get("/console/surveys")).status_code == 200
    assert (await console.web.get("/console/sign-in")).headers["location"] == "/console/surveys"

    surveys = await console.web.get("/console/surveys")
    out = await console.web.post("/console/sign-out", data={"csrf": csrf(surveys)})
    assert (out.status_code, out.headers["location"]) == (303, "/console/sign-in")
    assert "Max-Age=0" in out.headers["set-cookie"] and "Path=/console" in out.headers["set-cookie"]
    assert (await console.web.get("/console/surveys")).status_code == 303

    async with console.browser("https://testserver") as https:
        secure = await sign_in(https)
        assert "; Secure" in secure.headers["set-cookie"], "over https the cookie is Secure"


async def test_wrong_tokens_are_limited_like_the_apis_and_the_right_one_always_works(
    console: Console,
) -> None:
    statuses = [
        (await sign_in(console.web, f"wrong-{n:02}-token-of-24-characters")).status_code for n in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    limited = await sign_in(console.web, "yet-another-wrong-token-24-chars")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    api = await console.web.get("/api/surveys", headers={"Authorization": "Bearer wrong"})
    assert api.status_code == 429, "the API and the console share one budget of wrong tokens"
    assert (await sign_in(console.web)).status_code == 303


async def test_a_new_admin_token_ends_every_session(console: Console, open_console: OpenConsole) -> None:
    await sign_in(console.web)
    cookies = {"Cookie": f"{COOKIE}={console.web.cookies[COOKIE]}"}
    same_token = await open_console(TOKEN)  # another worker
    other_token = await open_console("the-new-token-of-24-characters")
    assert (await same_token.web.get("/console/surveys", headers=cookies)).status_code == 200
    moved = await other_token.web.get("/console/surveys", headers=cookies)
    assert (moved.status_code, moved.headers["location"]) == (303, "/console/sign-in")


async def test_without_an_admin_token_there_is_no_console(open_console: OpenConsole) -> None:
    off = await open_console(None)
    for path in ("/console", "/console/sign-in", "/console/surveys"):
        assert (await off.web.get(path)).status_code == 404
    assert (await off.web.post("/console/sign-in", data={"token": TOKEN})).status_code == 404


async def test_forms_need_the_sessions_csrf_token(console: Console, open_console: OpenConsole) -> None:
    await load_coffee(console)
    await sign_in(console.web)
    page = await console.web.get("/console/surveys/coffee")
    token = csrf(page)
    other = await open_console()
    await sign_in(other.web)
    others_token = csrf(await other.web.get("/console/surveys"))
    assert others_token != token

    for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": others_token}):
        refused = await console.web.post("/console/surveys/coffee/archive", data=data)
        assert refused.status_code == 403 and "reload the page" in refused.text, data
    cross_site = await console.web.post(
        "/console/surveys/coffee/archive", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert "offered to respondents" in (await console.web.get("/console/surveys/coffee")).text
    assert [s.id for s in await console.app.surveys.list_newest()] == ["coffee"]

    done = await console.web.post("/console/surveys/coffee/archive", data={"csrf": token})
    assert (done.status_code, done.headers["location"]) == (303, "/console/surveys/coffee")
    assert await console.app.surveys.list_newest() == []
    assert "archived: not offered" in (await console.web.get("/console/surveys/coffee")).text
    assert re.search(r"<td>archived</td>", (await console.web.get("/console/surveys")).text)
    await console.web.post("/console/surveys/coffee/unarchive", data={"csrf": token})
    assert [s.id for s in await console.app.surveys.list_newest()] == ["coffee"]
    upload_refused = await console.web.post("/console/upload", files={"survey": ("c.yaml", COFFEE.encode())})
    assert upload_refused.status_code == 403


def note_under(page: str, line: int) -> list[str]:
    """The notes shown right under line ``line`` of an annotated file on ``page`` (unescaped)."""
    found = re.search(
        rf'<tr id="L{line}"[^>]*>.*?</tr>\s*((?:<tr class="note" data-line="{line}">.*?</tr>\s*)+)',
        page,
        re.S,
    )
    assert found, f"no note under line {line}"
    return [html.unescape(n) for n in re.findall(r"<td>(.*?)</td>", found[1], re.S)]


def code_at(page: str, line: int) -> str:
    found = re.search(rf'<tr id="L{line}"[^>]*>.*?<code>(.*?)</code>', page, re.S)
    assert found
    return html.unescape(found[1])


async def test_a_refused_upload_shows_each_problem_under_its_line(console: Console) -> None:
    await sign_in(console.web)
    refused = await upload(console.web, BROKEN, "coffee.yaml")
    assert refused.status_code == 422
    api = await console.web.post(
        "/api/surveys?filename=coffee.yaml", content=BROKEN, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    problems = api.json()["problems"]
    assert len(problems) >= 3, problems
    assert html.unescape(refused.text).count("was not loaded: ") == 1
    for problem in problems:  # the same problems the API reports, each under the line it names
        line = int(problem.split(":")[1])
        assert problem in note_under(refused.text, line), problem
    assert code_at(refused.text, 7) == "    choices: [Espresso]"
    assert any("needs at least two choices" in n for n in note_under(refused.text, 7))
    assert await console.app.surveys.list_newest() == [], "nothing was stored"

    not_yaml = await upload(console.web, COFFEE, "coffee.txt")
    assert not_yaml.status_code == 400 and "is not one, so I left it alone" in html.unescape(not_yaml.text)
    assert (await upload(console.web, COFFEE)).headers["location"] == "/console/surveys/coffee?loaded=stored"
    conflict = await upload(console.web, COFFEE.replace("Coffee survey", "Tea survey") + "version: 1\n")
    assert conflict.status_code == 409 and "already stored with different content" in conflict.text


async def test_upload_check_results_and_charts(console: Console) -> None:
    await sign_in(console.web)
    stored = await upload(console.web, COFFEE)
    page = await console.web.get(stored.headers["location"])
    assert "Stored as version 1." in page.text
    again = await console.web.get((await upload(console.web, COFFEE)).headers["location"])
    assert "Unchanged: the same content is stored already as version 1." in again.text
    await upload(console.web, COFFEE.replace("Anything else?", "Anything more?"))

    for n, (drink, cups, score) in enumerate([("1", "2", "9"), ("2", "3", "10"), ("2", "1", "3")]):
        await respond(console.app, "coffee", f"u{n}", [drink, "skip", cups, score, "yes", "skip"])
    await respond(console.app, "coffee", "u9", ["3"])

    page = await console.web.get("/console/surveys/coffee")
    assert page.status_code == 200
    report = check_survey(await console.app.surveys.get("coffee"))
    paths = re.search(r'<p id="paths">\s*(\d+) path', page.text)
    assert paths and int(paths[1]) == report.paths.count, "the check report is shown"
    for finding in report.findings:
        assert str(escape(finding.message)) in page.text
    versions = re.findall(r'source\?version=(\d+)">source', page.text)
    assert versions == ["2", "1"]
    assert re.search(r"<th>Started</th><td[^>]*>4</td>", page.text)
    assert re.search(r"<th>Completion rate</th><td[^>]*>75 %</td>", page.text)
    charts = re.findall(r'<img class="chart" src="([^"]+)"', page.text)
    api = await console.web.get("/api/surveys/coffee/charts", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [c.rsplit("/", 1)[1] for c in charts] == [c["url"].rsplit("/", 1)[1] for c in api.json()]
    assert len(charts) == 4  # drink, cups, score, happy: extras was skipped, comment is free text
    for src in charts:
        png = await console.web.get(src)
        assert png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size == (800, 450)
        same = await console.web.get(
            src.replace("/console/", "/api/"), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert png.content == same.content, "the console shows the API's chart"
    assert (await console.web.get("/console/surveys/coffee/charts/comment.png")).status_code == 404
    assert (await console.web.get("/console/surveys/nope")).status_code == 404

    source = await console.web.get("/console/surveys/coffee/source?version=1")
    assert code_at(source.text, 1) == "id: coffee" and "Anything else?" in source.text
    assert (await console.web.get("/console/surveys/coffee/source?version=7")).status_code == 404


async def test_responses_filters_paging_and_exports(console: Console) -> None:
    await sign_in(console.web)
    await upload(
        console.web, "id: pager\ntitle: Pager\nquestions:\n  - id: said\n    type: text\n    text: Say?\n"
    )
    day = datetime(2025, 5, 1, 12, tzinfo=UTC)
    for n in range(30):  # 10 a day on May 1st, 2nd and 3rd; every third one left in progress
        await respond(
            console.app,
            "pager",
            f"p{n:02}",
            [] if n % 3 == 0 else [f"answer {n:02}"],
            at=day + timedelta(days=n // 10, minutes=n),
        )

    first = await console.web.get("/console/surveys/pager/responses")
    assert "30 responses, newest first." in first.text
    rows = re.findall(r'<tr data-response="[^"]+">(.*?)</tr>', first.text, re.S)
    assert len(rows) == 25 and "answer 29" in rows[0] and "page 1 of 2" in first.text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert next_link and 'rel="prev"' not in first.text
    second = await console.web.get("/console/surveys/pager/responses" + html.unescape(next_link[1]))
    assert len(re.findall(r"<tr data-response=", second.text)) == 5 and 'rel="next"' not in second.text
    assert "answer 01" in second.text and "page 2 of 2" in second.text
    past_the_end = await console.web.get("/console/surveys/pager/responses?page=9")
    assert "page 2 of 2" in past_the_end.text and "answer 01" in past_the_end.text

    query = "?status=completed&from=2025-05-02&to=2025-05-02"
    filtered = await console.web.get("/console/surveys/pager/responses" + query)
    said = re.findall(r"<td>answer (\d\d)</td>", filtered.text)
    assert said == ["19", "17", "16", "14", "13", "11", "10"]
    assert '<option value="completed" selected>' in filtered.text and 'value="2025-05-02"' in filtered.text
    csv_link = re.search(r'id="export-csv" href="([^"]+)"', filtered.text)
    assert csv_link and html.unescape(csv_link[1]).endswith("export.csv" + query)

    exported = await console.web.get(html.unescape(csv_link[1]))
    assert exported.headers["content-disposition"] == 'attachment; filename="pager-responses.csv"'
    lines = exported.text.splitlines()
    assert lines[0].endswith(",said") and len(lines) == 8
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [
        f"answer {n}" for n in (10, 11, 13, 14, 16, 17, 19)
    ]
    as_json = await console.web.get("/console/surveys/pager/export.json?status=in_progress")
    assert as_json.headers["content-disposition"] == 'attachment; filename="pager-responses.json"'
    assert len(as_json.json()) == 10 and {r["said"] for r in as_json.json()} == {None}
    whole = await console.web.get("/console/surveys/pager/export.csv")
    api = await console.web.get("/api/surveys/pager/export.csv", headers={"Authorization": f"Bearer {TOKEN}"})
    assert whole.content == api.content, "without filters, the console's export is the API's"
    assert (await console.web.get("/console/surveys/pager/export.xml")).status_code == 422

    for bad in ("?status=done", "?from=yesterday", "?to=2025-02-30"):
        assert (await console.web.get("/console/surveys/pager/responses" + bad)).status_code == 400


async def test_campaign_status(console: Console) -> None:
    await sign_in(console.web)
    none = await console.web.get("/console/campaigns")
    assert "No campaign is stored." in none.text
    await upload(console.web, COFFEE)
    occurrence = await store_due_now(console.app, "morning", "{telegram: [1, 2]}", survey="coffee")
    listed = await console.web.get("/console/campaigns")
    assert '<a href="/console/campaigns/morning">morning</a>' in listed.text and "running" in listed.text
    status = await console.web.get("/console/campaigns/morning")
    assert "No occurrence has been planned yet." in status.text
    await console.app.campaign_runner({"telegram": TelegramPeople()}).plan()
    planned = await console.web.get("/console/campaigns/morning")
    row = re.search(rf"<td>{occurrence}</td>(.*?)</tr>", planned.text, re.S)
    assert row, planned.text
    assert re.findall(r">(\d+)</td>", row[1]) == ["0", "0", "0", "0", "2", "0", "0", "0", "0"], "2 pending"
    assert (await console.web.get("/console/campaigns/nope")).status_code == 404


class TelegramPeople:
    """The campaigns' port to Telegram, listing the audience's ids as people; it sends nothing."""

    async def people(self, audience: Audience) -> list[Person]:
        return [Person("telegram", user_id, f"person {user_id}") for user_id in audience.telegram]

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        raise AssertionError("the test sends nothing")

    async def report(self, chat: str, reply: AdminReply) -> None:
        raise AssertionError("the test sends nothing")


HOSTILE_TITLE = "<script>alert('title')</script>"
HOSTILE_TEXT = '"><img src=x onerror=alert(1)>'
HOSTILE = f"""\
id: hostile
title: "{HOSTILE_TITLE}"
welcome: '{HOSTILE_TEXT}'
questions:
  - id: pick
    type: single_choice
    text: '{HOSTILE_TEXT} pick?'
    choices: ["<script>alert('choice')</script>", '{HOSTILE_TEXT}']
  - id: why
    type: text
    text: "<script>alert('question')</script>"
"""


async def test_every_survey_and_respondent_text_is_escaped_on_every_page(console: Console) -> None:
    await sign_in(console.web)
    assert (await upload(console.web, HOSTILE, "hostile.yaml")).status_code == 303
    await respond(
        console.app,
        "hostile",
        "h1",
        ["1", "<script>alert('answer')</script>"],
        name="<script>alert('name')</script>",
    )
    await respond(console.app, "hostile", "h2", ["2", HOSTILE_TEXT], name=HOSTILE_TEXT)
    refused = await upload(
        console.web, HOSTILE.replace("type: text", "type: <script>x</script>"), "<svg onload=alert(1)>.yaml"
    )
    assert refused.status_code == 422
    pages = {
        "surveys": await console.web.get("/console/surveys"),
        "survey": await console.web.get("/console/surveys/hostile"),
        "source": await console.web.get("/console/surveys/hostile/source"),
        "responses": await console.web.get("/console/surveys/hostile/responses"),
        "refused upload": refused,
    }
    shown = {
        "surveys": [HOSTILE_TITLE],
        "survey": [HOSTILE_TITLE, f"{HOSTILE_TEXT} pick?", "<script>alert('choice')</script>"],
        "source": [HOSTILE_TITLE, HOSTILE_TEXT],
        "responses": ["<script>alert('answer')</script>", HOSTILE_TEXT, "<script>alert('name')</script>"],
        "refused upload": ["<script>x</script>", "<svg onload=alert(1)>.yaml"],
    }
    for name, page in pages.items():
        text = page.text
        assert "<script" not in text and "<img src=x" not in text and "<svg" not in text, name
        for hostile in shown[name]:
            assert str(escape(hostile)) in text, (name, hostile)
