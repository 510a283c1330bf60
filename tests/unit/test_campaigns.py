"""Campaigns on in-memory stores with a controllable clock and fake platforms: the file format, the
time arithmetic, who is invited when, reminders, opt-outs and failures."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from adapters.campaigns import Campaigns, InvitationStatus, MemoryRate, Person
from adapters.stores.memory import (
    InMemoryCampaignStore,
    InMemoryContactStore,
    InMemoryInvitationStore,
    InMemoryOptOutStore,
    InMemoryResponseStore,
    InMemorySessionStore,
    InMemorySurveyStore,
)
from adapters.survey_admin import AdminReply
from adapters.webhooks import PostFailed
from bot.campaign_file import is_campaign_text, load_campaign_text
from bot.campaigns import Audience, Schedule, out_of_quiet, wall_to_utc
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_text
from bot.messages import Incoming

UTC = dt.UTC
PULSE = """\
id: pulse
title: Team pulse
settings: {one_response_per_user: false}
questions:
  - {id: mood, type: rating, text: "How was your week?", min: 1, max: 5}
  - {id: note, type: text, text: "Anything to add?", required: false}
"""
WEEKLY = """\
campaign: weekly
survey: pulse
audience:
  telegram: [111]
  slack: {users: [U0NEWYORK, U0BERLIN1], channels: [C0TOKYO01]}
schedule:
  cron: "0 9 * * MON"
  timezone: Europe/Berlin
  local: true
reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}
message: "Hi {name}, time for {title}!"
"""
ZONES = {"U0NEWYORK": "America/New_York", "U0BERLIN1": "Europe/Berlin", "U0TOKYO01": "Asia/Tokyo"}


# --- the file -------------------------------------------------------------------------------------


def test_a_campaign_file_is_read_whole() -> None:
    campaign = load_campaign_text(WEEKLY, "weekly.yaml")
    assert campaign.audience == Audience(("111",), ("U0NEWYORK", "U0BERLIN1"), ("C0TOKYO01",), ())
    assert campaign.schedule == Schedule(timezone="Europe/Berlin", cron="0 9 * * MON", local=True)
    assert (campaign.reminders.count, campaign.reminders.every_s) == (2, 86400)
    assert campaign.reminders.quiet == (dt.time(20), dt.time(8))
    assert is_campaign_text(WEEKLY) and not is_campaign_text(PULSE)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('  cron: "0 9 * * MON"', '  cron: "0 25 * * *"'), "c.yaml:7: 'cron' is not a cron expression"),
        (
            ("  timezone: Europe/Berlin", "  timezone: Mars/Olympus"),
            "c.yaml:8: unknown time zone 'Mars/Olympus'",
        ),
        (
            ('  cron: "0 9 * * MON"', '  at: 2026-12-07 09:00\n  cron: "0 9 * * MON"'),
            "either 'at' (once) or 'cron'",
        ),
        (
            ("  telegram: [111]", "  telegram: [ann]"),
            "c.yaml:4: 'telegram' holds the text 'ann', not a Telegram user id",
        ),
        (("users: [U0NEWYORK, U0BERLIN1]", "users: [ann]"), "not a Slack user id like U0123ABCD"),
        (("count: 2", "count: 11"), "'count' must be at most 10"),
        (('quiet_hours: "20:00-08:00"', "quiet_hours: late"), "'quiet_hours' must be like 20:00-08:00"),
        (('message: "Hi {name}, time for {title}!"', 'message: "Hi {who}"'), "unknown placeholder {who}"),
        (("campaign: weekly", "campaign: Weekly Pulse"), "c.yaml:1: 'campaign' must be an id"),
        (("survey: pulse", "survey: pulse\ncolour: red"), "unknown field 'colour'"),
    ],
)
def test_a_wrong_campaign_is_refused_with_its_line(change: tuple[str, str], problem: str) -> None:
    text = WEEKLY.replace(*change)
    assert text != WEEKLY
    with pytest.raises(DefinitionError) as refused:
        load_campaign_text(text, "c.yaml")
    assert any(problem in str(p) for p in refused.value.problems), refused.value.problems


# --- time -----------------------------------------------------------------------------------------


def test_wall_times_across_daylight_saving_and_quiet_hours() -> None:
    assert wall_to_utc(dt.datetime(2026, 3, 29, 2, 30), "Europe/Berlin") == dt.datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert wall_to_utc(dt.datetime(2026, 10, 25, 2, 30), "Europe/Berlin") == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    quiet = (dt.time(20), dt.time(8))
    evening = dt.datetime(2026, 12, 7, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    assert out_of_quiet(evening, "Europe/Berlin", quiet) == dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    early = dt.datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # 06:00
    assert out_of_quiet(early, "Europe/Berlin", quiet) == dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    noon = dt.datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
    assert out_of_quiet(noon, "Europe/Berlin", quiet) == noon
    lunch = (dt.time(12), dt.time(13))
    assert out_of_quiet(noon, "Europe/Berlin", lunch) == dt.datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


# --- a campaign running -----------------------------------------------------------------------------


@dataclass
class Platform:
    """A fake platform: its people, and every invitation it took (when, to whom, what)."""

    name: str
    people_of: dict[str, str]
    """user id → time zone (None: Telegram)."""
    clock: Clock
    sent: list[tuple[dt.datetime, str, str]] = field(default_factory=list)
    refuse: dict[str, PostFailed] = field(default_factory=dict)
    reports: list[tuple[dt.datetime, str, AdminReply]] = field(default_factory=list)

    async def people(self, audience: Audience) -> list[Person]:
        ids = list(audience.telegram) if self.name == "telegram" else [*audience.slack_users, "U0TOKYO01"]
        return [Person(self.name, u, f"P{u[-3:]}", self.people_of.get(u) or None) for u in ids]

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        failure = self.refuse.get(user_id)
        if failure is not None:
            raise failure
        self.sent.append((self.clock.now, user_id, text))

    async def report(self, chat: str, reply: AdminReply) -> None:
        self.reports.append((self.clock.now, chat, reply))


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class World:
    campaigns: Campaigns
    engine: Engine
    clock: Clock
    telegram: Platform
    slack: Platform
    opt_outs: InMemoryOptOutStore

    async def run_until(self, end: dt.datetime, step: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        while self.clock.now < end:
            await self.campaigns.plan()
            while await self.campaigns.send_due():
                pass
            self.clock.now += step

    async def say(self, platform: str, user: str, *texts: str) -> None:
        for text in texts:
            await self.engine.handle(
                Incoming(platform, user, "P", user, text, update_id=f"{user}-{text}-{self.clock.now}")
            )


async def world(
    campaign_text: str = WEEKLY, start: dt.datetime = dt.datetime(2026, 11, 30, 12, tzinfo=UTC)
) -> World:
    surveys, responses, opt_outs = InMemorySurveyStore(), InMemoryResponseStore(), InMemoryOptOutStore()
    await publish(surveys, load_text(PULSE, "pulse.yaml"))
    cache, clock = SurveyCache(surveys), Clock(start)
    engine = Engine(cache, responses, InMemorySessionStore(), b"s", clock=clock, opt_outs=opt_outs)
    store = InMemoryCampaignStore()
    await store.put(load_campaign_text(campaign_text, "c.yaml"), clock.now)
    telegram, slack = Platform("telegram", {}, clock), Platform("slack", ZONES, clock)
    campaigns = Campaigns(
        store,
        InMemoryInvitationStore(),
        responses,
        opt_outs,
        cache,
        engine.respondent_key,
        {"telegram": telegram, "slack": slack},
        MemoryRate({"telegram": 1000, "slack": 1000}, 100),
        clock=clock,
    )
    return World(campaigns, engine, clock, telegram, slack, opt_outs)


async def test_each_person_is_invited_once_per_occurrence_at_nine_their_time() -> None:
    w = await world(WEEKLY.replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', ""))
    await w.run_until(dt.datetime(2026, 12, 15, 12, tzinfo=UTC))  # two Mondays: the 7th and the 14th

    sent = [(at, user) for at, user, _ in w.telegram.sent + w.slack.sent]
    assert Counter(user for _, user in sent) == {"111": 2, "U0NEWYORK": 2, "U0BERLIN1": 2, "U0TOKYO01": 2}
    for at, user in sent:
        local = at.astimezone(ZoneInfo(ZONES.get(user, "Europe/Berlin")))  # Telegram: the campaign's zone
        assert local.weekday() == 0 and dt.time(9) <= local.time() < dt.time(9, 15), (user, local)
    assert {text for _, _, text in w.slack.sent} == {f"Hi P{u[-3:]}, time for Team pulse!" for u in ZONES}


async def test_reminders_stop_at_completion_and_say_where_the_person_stands() -> None:
    w = await world(WEEKLY.replace("  slack: {users: [U0NEWYORK, U0BERLIN1], channels: [C0TOKYO01]}\n", ""))
    await w.run_until(dt.datetime(2026, 12, 7, 9, tzinfo=UTC))  # after Berlin's 09:00 (08:00 UTC)
    assert [user for _, user, _ in w.telegram.sent] == ["111"]
    await w.say("telegram", "111", "/start pulse", "4")  # started, not finished
    await w.run_until(dt.datetime(2026, 12, 8, 12, tzinfo=UTC))
    assert [text for _, _, text in w.telegram.sent][1:] == [
        "P111, you are part way through “Team pulse”: pick up where you left off?"
    ]
    reminded = w.telegram.sent[1][0].astimezone(ZoneInfo("Europe/Berlin"))
    assert reminded.time() >= dt.time(8), "not within the quiet hours"
    await w.say("telegram", "111", "done for now")  # the last, optional question: completed
    await w.run_until(dt.datetime(2026, 12, 12, tzinfo=UTC))
    assert len(w.telegram.sent) == 2, "no reminder after completion"
    counts = await w.campaigns.invitations.counts("weekly")
    assert counts[("2026-12-07T09:00", 2, InvitationStatus.SKIPPED)] == 1


async def test_nobody_who_opted_out_is_invited_or_reminded() -> None:
    w = await world()
    await w.say("slack", "U0BERLIN1", "/optout")
    await w.run_until(dt.datetime(2026, 12, 8, 12, tzinfo=UTC))
    assert "U0BERLIN1" not in {user for _, user, _ in w.slack.sent}
    await w.say("slack", "U0BERLIN1", "/optin")
    await w.run_until(dt.datetime(2026, 12, 15, 12, tzinfo=UTC))
    invited = [user for _, user, text in w.slack.sent if text.startswith("Hi ")]
    assert invited.count("U0BERLIN1") == 1, "invited again after /optin"


async def test_a_refusal_for_good_is_not_retried_and_a_rate_limit_is_waited_out() -> None:
    w = await world(WEEKLY.replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', ""))
    w.telegram.refuse["111"] = PostFailed("Telegram: bot was blocked by the user", permanent=True)
    w.slack.refuse["U0BERLIN1"] = PostFailed("Slack: ratelimited", retry_after=1800)
    await w.run_until(dt.datetime(2026, 12, 7, 8, 5, tzinfo=UTC))
    del w.slack.refuse["U0BERLIN1"]
    await w.run_until(dt.datetime(2026, 12, 7, 10, tzinfo=UTC))
    [(at, _, _)] = [s for s in w.slack.sent if s[1] == "U0BERLIN1"]
    assert at >= dt.datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "not before the 30 minutes asked for"
    counts = await w.campaigns.invitations.counts("weekly")
    assert counts[("2026-12-07T09:00", 0, InvitationStatus.FAILED)] == 1
    assert w.telegram.sent == []


async def test_a_bot_that_was_down_does_not_send_hours_late() -> None:
    w = await world(WEEKLY.replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', ""))
    await w.run_until(dt.datetime(2026, 12, 6, 12, tzinfo=UTC))
    w.clock.now = dt.datetime(2026, 12, 7, 19, tzinfo=UTC)  # down from Sunday noon to Monday evening
    await w.run_until(dt.datetime(2026, 12, 8, tzinfo=UTC))
    sent = {user for _, user, _ in w.telegram.sent + w.slack.sent}
    assert sent == {"U0NEWYORK"}, "only New York's 09:00 (14:00 UTC) is within six hours"
    counts = await w.campaigns.invitations.counts("weekly")
    assert sum(n for (_, _, status), n in counts.items() if status is InvitationStatus.EXPIRED) == 3


async def test_a_paused_campaign_plans_and_sends_nothing_until_resumed() -> None:
    w = await world(WEEKLY.replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', ""))
    await w.campaigns.campaigns.set_paused("weekly", True)
    await w.run_until(dt.datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert w.telegram.sent == w.slack.sent == []
    await w.campaigns.campaigns.set_paused("weekly", False)
    await w.run_until(dt.datetime(2026, 12, 7, 12, 30, tzinfo=UTC))
    # Berlin's 09:00 is four hours past: still sent; Tokyo's is twelve: expired; New York's is to come.
    assert {user for _, user, _ in w.telegram.sent + w.slack.sent} == {"111", "U0BERLIN1"}


async def test_each_occurrence_ends_with_one_digest_in_the_team_chat() -> None:
    campaign = WEEKLY.replace(
        'message: "Hi {name}, time for {title}!"\n',
        'message: "Hi {name}, time for {title}!"\ndigest: {after: 1d, chats: [{slack_channel: C0TEAM001}]}\n',
    ).replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', "")
    w = await world(campaign)
    await w.run_until(dt.datetime(2026, 12, 7, 12, tzinfo=UTC))
    await w.say("slack", "U0BERLIN1", "/start pulse", "5", "Great week.")
    await w.run_until(dt.datetime(2026, 12, 15, 12, tzinfo=UTC))

    assert [(at.date(), chat) for at, chat, _ in w.slack.reports] == [
        (dt.date(2026, 12, 8), "C0TEAM001"),
        (dt.date(2026, 12, 15), "C0TEAM001"),
    ], "one digest per occurrence, a day after it (Berlin's 09:00)"
    first = w.slack.reports[0][2]
    assert first.text == (
        "“weekly”, 2026-12-07T09:00: invited 4, started 1, completed 1 (25% of those invited), "
        "reminders sent 0."
    )
    assert "Started 1, completed 1" in first.detail and "5" in first.detail
    assert [c.name for c in first.charts] == ["mood"]
    second = w.slack.reports[1][2]
    assert "started 0, completed 0" in second.text, "last week's response is not this week's"
    counts = await w.campaigns.invitations.counts("weekly")
    assert sum(counts.values()) == 8, "digests are not counted as invitations"


async def test_a_link_puts_a_person_on_a_list_that_a_campaign_can_invite() -> None:
    contacts = InMemoryContactStore()
    surveys = InMemorySurveyStore()
    await publish(surveys, load_text(PULSE, "pulse.yaml"))
    engine = Engine(
        SurveyCache(surveys), InMemoryResponseStore(), InMemorySessionStore(), b"s", contacts=contacts
    )

    def said(user: str, text: str) -> Incoming:
        return Incoming("telegram", user, f"N{user}", user, text, update_id=f"{user}-{text}")

    joined = await engine.handle(said("101", "/start TAG_team"))
    assert (
        joined[0].text == "You are on the “team” list: its surveys will come to you here. /optout stops them."
    )
    assert joined[-1].text == "How was your week?", "then the one survey on offer begins"
    assert (await engine.handle(said("102", "/start TAG_bad!tag")))[
        0
    ].text == "That link names no list I know how to keep."
    await engine.handle(said("103", "/start TAG_Other"))
    assert await contacts.tagged("telegram", ["team"]) == [("101", "N101")]
    assert await contacts.tagged("telegram", ["other", "team"]) == [("101", "N101"), ("103", "N103")]
    bare = Engine(SurveyCache(surveys), InMemoryResponseStore(), InMemorySessionStore(), b"s")
    assert (await bare.handle(said("104", "/start TAG_team")))[0].text.startswith(
        "This bot sends no invitations"
    )

    campaign = load_campaign_text(
        WEEKLY.replace("  telegram: [111]\n", "  telegram: [111]\n  telegram_tags: [team]\n")
    )
    assert campaign.audience.telegram_tags == ("team",)
    with pytest.raises(DefinitionError) as refused:
        load_campaign_text(WEEKLY.replace("  telegram: [111]\n", "  telegram_tags: [Team!]\n"), "c.yaml")
    assert "c.yaml:4: 'telegram_tags' holds the text 'Team!', not a list's tag" in str(
        refused.value.problems[0]
    )


async def test_a_store_outage_while_sending_leaves_invitations_to_their_leases() -> None:
    from bot.errors import StorageUnavailable

    w = await world(WEEKLY.replace('reminders: {count: 2, every: 1d, quiet_hours: "20:00-08:00"}\n', ""))
    await w.run_until(dt.datetime(2026, 12, 7, 7, 30, tzinfo=UTC))  # planned, Berlin's not yet due
    w.clock.now = dt.datetime(2026, 12, 7, 8, tzinfo=UTC)
    store = w.campaigns.campaigns
    assert isinstance(store, InMemoryCampaignStore)
    store.fail = True
    with pytest.raises(StorageUnavailable):
        await w.campaigns.send_due()
    store.fail = False
    assert {user for _, user, _ in w.telegram.sent + w.slack.sent} == {"U0TOKYO01"}, "only Tokyo's, earlier"
    await w.run_until(dt.datetime(2026, 12, 7, 8, 45, tzinfo=UTC))  # the lease (60 s) has lapsed
    sent = {user for _, user, _ in w.telegram.sent + w.slack.sent}
    assert sent == {"U0TOKYO01", "111", "U0BERLIN1"}, "sent once the store is back, none skipped"
