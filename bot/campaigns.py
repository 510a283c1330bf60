"""Campaigns: a survey sent to people on a schedule, with reminders (issue 12).

The model and the time arithmetic, platform- and store-neutral. An *occurrence* is a wall-clock time
(naive, minutes) produced by the schedule: once (``at``) or by a cron expression, in the campaign's time
zone, or, with ``local``, at that wall-clock time in each person's own zone. Campaign files are read by
:func:`load_campaign_text` (:mod:`bot.campaign_file`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter

from bot import texts
from bot.survey import Broadcast

UTC = dt.UTC
EARLIEST_OFFSET = dt.timedelta(hours=14)
"""The furthest ahead of UTC a time zone is (Kiribati): the first person to reach a local wall time."""
DEFAULT_MESSAGE = texts.CAMPAIGN_INVITATION
REMINDER_MESSAGE = texts.CAMPAIGN_REMINDER
RESUME_MESSAGE = texts.CAMPAIGN_RESUME


@dataclass(frozen=True)
class Audience:
    """Who is asked: Telegram user ids (people who started the bot: it may message no one else), and
    Slack users, the members of Slack channels and of user groups."""

    telegram: tuple[str, ...] = ()
    slack_users: tuple[str, ...] = ()
    slack_channels: tuple[str, ...] = ()
    slack_usergroups: tuple[str, ...] = ()
    telegram_tags: tuple[str, ...] = ()
    """Telegram people who joined these lists by a link (``https://t.me/BOT?start=TAG_team``)."""


@dataclass(frozen=True)
class Schedule:
    timezone: str = "UTC"
    at: dt.datetime | None = None
    """Once, at this wall-clock time."""
    cron: str | None = None
    """Recurring: a five-field cron expression (minute hour day month weekday) in wall-clock time."""
    local: bool = False
    """Each person at the wall-clock time in their own time zone (Slack's profile; Telegram has none, so
    Telegram people get the campaign's)."""
    until: dt.date | None = None
    """The last day a recurring schedule runs."""

    def describe(self) -> str:
        """``0 9 * * MON (Europe/Berlin)``, ``2026-12-07 09:00 (each person's own time zone)``."""
        when = self.cron or (self.at.isoformat(" ", "minutes") if self.at else "")
        zone = "each person's own time zone" if self.local else self.timezone
        return f"{when} ({zone})"

    def occurrences(self, after: dt.datetime, upto: dt.datetime) -> list[dt.datetime]:
        """The wall-clock times in (``after``, ``upto``], naive."""
        if self.at is not None:
            return [self.at] if after < self.at <= upto else []
        assert self.cron is not None
        found: list[dt.datetime] = []
        times = croniter(self.cron, after)
        while True:
            moment: dt.datetime = times.get_next(dt.datetime)
            if moment > upto or (self.until is not None and moment.date() > self.until):
                return found
            found.append(moment)

    def due(self, occurrence: dt.datetime, zone: str | None = None) -> dt.datetime:
        """When ``occurrence`` is due (UTC) for a person in ``zone`` (the campaign's unless ``local``)."""
        return wall_to_utc(occurrence, zone if self.local and zone else self.timezone)

    def start(self, now: dt.datetime) -> dt.datetime:
        """Where a campaign stored at ``now`` (UTC) starts planning: occurrences after this wall time."""
        return now.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None, second=0, microsecond=0)

    def horizon(self, now: dt.datetime) -> dt.datetime:
        """The latest wall-clock time that may be due by ``now`` (UTC) for someone: what to plan."""
        if self.local:
            return (now + EARLIEST_OFFSET).replace(tzinfo=None)
        return now.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)


@dataclass(frozen=True)
class Reminders:
    count: int = 0
    after_s: int = 86400
    """From the invitation to the first reminder."""
    every_s: int = 86400
    """Between reminders."""
    quiet: tuple[dt.time, dt.time] | None = None
    """Local hours in which nothing is sent: [start, end), across midnight when start > end."""

    def times(self, sent: dt.datetime, zone: str) -> list[dt.datetime]:
        """When each reminder of an invitation sent at ``sent`` (UTC) is due, out of the quiet hours."""
        return [
            out_of_quiet(sent + dt.timedelta(seconds=self.after_s + n * self.every_s), zone, self.quiet)
            for n in range(self.count)
        ]


@dataclass(frozen=True)
class Digest:
    """A report posted to team chats ``after_s`` after each occurrence: counts, completion rate, the
    summary of the responses started since, and charts."""

    chats: tuple[Broadcast, ...]
    after_s: int = 2 * 86400


@dataclass(frozen=True)
class Campaign:
    id: str
    survey_id: str
    audience: Audience
    schedule: Schedule
    reminders: Reminders = Reminders()
    message: str = DEFAULT_MESSAGE
    digest: Digest | None = None
    source: str = ""
    file: str = "<campaign>"


def wall_to_utc(wall: dt.datetime, zone: str) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``zone``. A time a DST gap skips (02:30 on a
    spring-forward night) is moved on by the gap (03:30); one an overlap repeats is the first."""
    return wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def out_of_quiet(moment: dt.datetime, zone: str, quiet: tuple[dt.time, dt.time] | None) -> dt.datetime:
    """``moment`` (UTC), or the end of the quiet hours it falls in, in ``zone``'s local time."""
    if quiet is None:
        return moment
    start, end = quiet
    local = moment.astimezone(ZoneInfo(zone))
    at = local.time().replace(tzinfo=None)
    inside = start <= at < end if start < end else at >= start or at < end
    if not inside:
        return moment
    day = local.date() if start < end or at < end else local.date() + dt.timedelta(days=1)
    return wall_to_utc(dt.datetime.combine(day, end), zone)


def occurrence_key(occurrence: dt.datetime) -> str:
    return occurrence.strftime("%Y-%m-%dT%H:%M")


def fill(template: str, name: str, title: str) -> str:
    return template.replace("{name}", name).replace("{title}", title)
