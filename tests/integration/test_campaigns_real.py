"""Campaigns on the real stores (the MongoDB-protocol server and Redis): two workers plan and send one
occurrence together, each person invited exactly once, under one send budget shared through Redis;
and the admin API's campaign routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from adapters.bootstrap import App, open_app
from adapters.campaigns import Campaigns, InvitationStatus, MemoryRate, Person, Rate
from adapters.config import load_config
from adapters.survey_admin import AdminReply
from adapters.web.app import create_web_app
from bot.campaigns import Audience
from bot.catalog import publish
from bot.loader import load_text
from tests.campaign_files import PULSE

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "campaigns-admin-token-0123456789"
PEOPLE = [f"U{n:08d}" for n in range(120)]
PER_SECOND, BURST = 20.0, 2


class Slack:
    """A fake platform shared by both workers: when each invitation arrived, and to whom."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []

    async def people(self, audience: Audience) -> list[Person]:
        return [Person("slack", user, user, "UTC") for user in audience.slack_users]

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        await asyncio.sleep(0.01)  # a platform call takes a while
        self.sent.append((time.monotonic(), user_id))

    async def report(self, chat: str, reply: AdminReply) -> None:
        raise AssertionError("these campaigns have no digest")


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def apps(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> AsyncIterator[list[App]]:
    environ = {
        "MONGODB_URI": mongodb_test_uri,
        "REDIS_URL": redis_url,
        "SURVEYBOT_SECRET": "campaigns",
        "ADMIN_API_TOKEN": TOKEN,
    }
    config = load_config(ROOT / "config.yaml", environ=environ)
    rates = config.campaigns.model_copy(update={"slack_per_second": PER_SECOND, "burst": BURST})
    config = config.model_copy(update={"campaigns": rates})
    opened = [await open_app(config, tmp_path, alias=f"campaigns-{uuid.uuid4().hex[:6]}") for _ in range(2)]
    # The send budget is keyed per platform in the shared Redis: this test's own prefix.
    prefix = f"sbtest-{uuid.uuid4().hex[:6]}"
    for app in opened:
        assert app.rate is not None
        app.rate.prefix = prefix  # type: ignore[attr-defined]
    await publish(opened[0].surveys, load_text(PULSE, "pulse.yaml"))
    yield opened
    for app in opened:
        await app.aclose()


class Slots:
    """The shared budget as one worker draws from it, each send's slot recorded (now + its wait)."""

    def __init__(self, rate: Rate, granted: list[float]) -> None:
        self.rate = rate
        self.granted = granted

    async def wait(self, platform: str) -> float:
        wait = await self.rate.wait(platform)
        self.granted.append(time.monotonic() + wait)
        return wait


def worker(app: App, slack: Slack, clock: Clock) -> Campaigns:
    return app.campaign_runner({"slack": slack}, clock=clock)


async def test_two_workers_invite_each_person_once_within_the_shared_rate(apps: list[App]) -> None:
    from adapters.campaigns import store_campaign

    clock, slack = Clock(), Slack()
    at = (clock.now + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    text = (
        f"campaign: once\nsurvey: pulse\naudience:\n  slack: {{users: [{', '.join(PEOPLE)}]}}\n"
        f"schedule: {{at: '{at}', timezone: UTC}}\n"
    )
    await store_campaign(apps[0].campaigns, apps[0].cache, text, "once.yaml", clock.now)
    clock.now += dt.timedelta(minutes=2)
    workers = [worker(app, slack, clock) for app in apps]
    granted: list[float] = []
    for runner in workers:
        runner.rate = Slots(runner.rate, granted)

    async def work(runner: Campaigns) -> None:
        deadline = time.monotonic() + 30
        while len(slack.sent) < len(PEOPLE) and time.monotonic() < deadline:
            await runner.plan()
            await runner.send_due()
            await asyncio.sleep(0.01)

    started = time.monotonic()
    await asyncio.gather(*(work(w) for w in workers))
    took = time.monotonic() - started

    assert Counter(user for _, user in slack.sent) == Counter(PEOPLE), "each person exactly once"
    counts = await apps[1].invitations.counts("once")
    assert counts == {(at.replace(" ", "T"), 0, InvitationStatus.SENT): len(PEOPLE)}
    # The budget itself: the slots both workers were given, over any second, are the rate and the burst
    # (one more at a window's edge). Then what the platform saw: each send reaches it a little after
    # its slot, never before, so on average it sees the rate.
    slots = sorted(granted)
    busiest = max(sum(1 for t in slots if first <= t < first + 1) for first in slots)
    assert busiest <= PER_SECOND + BURST + 1, f"{busiest} slots in one second, both workers together"
    times = sorted(t for t, _ in slack.sent)
    overall = (len(times) - BURST - 1) / (times[-1] - times[0])  # after the burst, one per slot
    assert overall <= PER_SECOND * 1.05, f"{overall:.1f} sends a second on average at the platform"
    print(
        f"\n{len(PEOPLE)} invitations by two workers in {took:.2f} s: {overall:.1f}/s on average "
        f"at the platform (limit {PER_SECOND:.0f}/s, burst {BURST}), at most {busiest} slots in any second"
    )


@pytest.fixture
async def admin(apps: list[App]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(apps[0]))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
        yield client


async def test_campaigns_through_the_admin_api(admin: httpx.AsyncClient, apps: list[App]) -> None:
    weekly = (
        "campaign: weekly\nsurvey: pulse\naudience: {slack: {users: [U0ANN0001]}}\n"
        "schedule: {cron: '0 9 * * MON', timezone: Europe/Berlin}\n"
    )
    stored = await admin.post("/api/campaigns", params={"filename": "weekly.yaml"}, content=weekly)
    assert (stored.status_code, stored.json()) == (201, {"id": "weekly", "stored": True})
    again = await admin.post("/api/campaigns", params={"filename": "weekly.yaml"}, content=weekly)
    assert (again.status_code, again.json()["stored"]) == (200, False)

    broken = weekly.replace("survey: pulse", "survey: lunch").replace("0 9 * * MON", "99 9 * * MON")
    refused = await admin.post("/api/campaigns", params={"filename": "w.yaml"}, content=broken)
    assert refused.status_code == 422
    assert refused.json()["problems"] == [
        "w.yaml:4: 'cron' is not a cron expression (minute hour day month weekday): '99 9 * * MON'"
    ]
    unknown = await admin.post("/api/campaigns", content=weekly.replace("survey: pulse", "survey: lunch"))
    assert unknown.json()["problems"] == ["campaign.yaml:2: no survey 'lunch' is stored; load it first"]

    # Someone opens the campaign's shareable link in the web chat and answers.
    from adapters.web.chat import TextFrame, start_incoming, to_incoming

    await apps[1].engine.handle(start_incoming("pulse", "w-ada", "Ada", campaign="weekly"))
    await apps[1].engine.handle(to_incoming(TextFrame(type="text", text="4", id="f1"), "w-ada", "Ada"))
    await apps[1].engine.handle(start_incoming("pulse", "w-bob", "Bob", campaign="weekly"))
    assert (await admin.get("/api/campaigns")).json() == [
        {
            "id": "weekly",
            "survey_id": "pulse",
            "schedule": "0 9 * * MON (Europe/Berlin)",
            "paused": False,
            "web_link": "http://127.0.0.1:8000/?survey=pulse&campaign=weekly",
            "web_started": 2,
            "web_completed": 1,
        }
    ]
    assert (await admin.post("/api/campaigns/weekly/pause")).json()["paused"] is True
    assert (await apps[1].campaigns.get("weekly"))[1] is True
    assert (await admin.post("/api/campaigns/weekly/resume")).json()["paused"] is False
    assert (await admin.get("/api/campaigns/weekly")).json() == []
    assert (await admin.get("/api/campaigns/nope")).status_code == 404


class Zoned(Slack):
    """Slack people in three time zones; invitations counted per person, with the clock's time."""

    ZONES: ClassVar[dict[str, str]] = {
        "U0NEWYORK": "America/New_York",
        "U0BERLIN1": "Europe/Berlin",
        "U0TOKYO01": "Asia/Tokyo",
    }

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[tuple[dt.datetime, str, str]] = []

    async def people(self, audience: Audience) -> list[Person]:
        return [Person("slack", user, user, zone) for user, zone in self.ZONES.items()]

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        self.at.append((self.clock.now, user_id, text))


async def test_two_workers_run_a_weekly_campaign_over_three_time_zones(apps: list[App]) -> None:
    from zoneinfo import ZoneInfo

    from adapters.campaigns import store_campaign
    from bot.engine import Engine
    from bot.messages import Incoming

    clock = Clock()
    clock.now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    slack = Zoned(clock)
    weekly = (
        "campaign: weekly\nsurvey: pulse\naudience: {slack: {users: [U0NEWYORK, U0BERLIN1, U0TOKYO01]}}\n"
        "schedule: {cron: '0 9 * * MON', timezone: Europe/Berlin, local: true}\n"
        "reminders: {count: 2, every: 1d}\n"
    )
    await store_campaign(apps[0].campaigns, apps[0].cache, weekly, "weekly.yaml", clock.now)
    workers = [worker(app, slack, clock) for app in apps]
    for w in workers:
        w.rate = MemoryRate({"slack": 1e6}, 10**6)
    # A respondent's engine on the simulated clock (with the apps' secret, so that keys match).
    engine = Engine(apps[1].cache, apps[1].responses, apps[1].sessions, b"campaigns", clock=clock)
    answered = False
    while clock.now < dt.datetime(2026, 12, 15, 12, tzinfo=dt.UTC):
        await asyncio.gather(*(w.plan() for w in workers))
        while sum(await asyncio.gather(*(w.send_due() for w in workers))):
            pass
        if not answered and any(user == "U0BERLIN1" for _, user, _ in slack.at):
            # Berlin answers the first invitation at once: no reminder for that occurrence.
            for text in ("/start pulse", "4"):
                incoming = Incoming("slack", "U0BERLIN1", "B", "U0BERLIN1", text, update_id=f"b-{text}")
                await engine.handle(incoming)
            answered = True
        clock.now += dt.timedelta(hours=1)  # every zone here is a whole number of hours from UTC

    invitations = [(at, user) for at, user, text in slack.at if text.startswith("Hi ")]
    reminders = Counter(user for _, user, text in slack.at if not text.startswith("Hi "))
    assert Counter(user for _, user in invitations) == {user: 2 for user in Zoned.ZONES}
    for at, user in invitations:
        local = at.astimezone(ZoneInfo(Zoned.ZONES[user]))
        assert (local.weekday(), local.hour) == (0, 9), (user, local)
    # Two reminders per occurrence, except Berlin's first, which was completed at once; the second
    # occurrence's reminders are not all due yet by the 15th at noon (New York's first one is).
    counts = await apps[0].invitations.counts("weekly")
    first = {r: counts.get(("2026-12-07T09:00", r, InvitationStatus.SENT), 0) for r in (0, 1, 2)}
    assert first == {0: 3, 1: 2, 2: 2}
    assert counts[("2026-12-07T09:00", 1, InvitationStatus.SKIPPED)] == 1
    assert counts[("2026-12-07T09:00", 2, InvitationStatus.SKIPPED)] == 1
    assert reminders["U0BERLIN1"] >= 1, (
        "reminded in the second week: the first week's response does not count"
    )
