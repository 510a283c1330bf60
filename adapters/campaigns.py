"""Campaigns at run time: who is invited when, sent exactly once by whichever worker claims it.

Every ``surveybot run`` process runs :meth:`Campaigns.run`; they share the work through MongoDB:

- **Planning.** A worker that takes a campaign's planning lease turns each occurrence whose time has
  come within reach (:meth:`bot.campaigns.Schedule.horizon`) into one :class:`Invitation` per person,
  due at that person's time; the ids are fixed by campaign, occurrence, person and reminder number,
  so planning an occurrence twice (a worker killed half way) adds nothing. Then the campaign's
  ``planned_until`` moves on.
- **Sending.** Due invitations are claimed with a lease (a conditional update each: one worker wins),
  marked ``sending`` just before the platform call and ``sent`` right after it. A worker killed before
  the call leaves a lease that lapses: another worker sends it. One killed during the call leaves it
  ``sending``; when its lease lapses it becomes ``unconfirmed``, counted and never sent again: neither
  Telegram nor Slack can say whether a message arrived, and nothing is ever sent twice.
- **Reminders** are invitations too (reminder 1, 2, …), planned when the invitation is sent, out of the
  quiet hours of the person's time zone; at their time, one is skipped if the person completed the
  survey since the invitation, or opted out.
- Sends of all workers together keep to each platform's rate through a token bucket in Redis
  (:class:`RedisRate`); a platform's ``retry_after`` is waited out and counted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import redis.asyncio
from redis.exceptions import RedisError

from adapters.background import repeat
from adapters.metrics import CAMPAIGN_SENDS
from adapters.survey_admin import AdminReply
from adapters.webhooks import PostFailed
from bot.campaign_file import load_campaign_text
from bot.campaigns import (
    REMINDER_MESSAGE,
    RESUME_MESSAGE,
    Audience,
    Campaign,
    fill,
    occurrence_key,
    wall_to_utc,
)
from bot.catalog import SurveyCache
from bot.errors import DefinitionError, NotFound, Problem, StorageUnavailable, SurveyNotFound
from bot.ports import OptOutStore, ResponseStore
from bot.responses import Status

log = logging.getLogger("surveybot.campaigns")

MAX_LATE = timedelta(hours=6)
"""An invitation found due longer ago than this (the bot was down) is not sent: it expired."""
MAX_ATTEMPTS = 5


class InvitationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    """Not sent on purpose: opted out, completed already, the campaign's survey gone."""
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    """Its worker died during the platform call: maybe delivered, never sent again."""
    EXPIRED = "expired"


@dataclass(frozen=True)
class Person:
    platform: str
    user_id: str
    name: str
    zone: str | None = None
    """Their own time zone, when the platform knows it (Slack)."""


@dataclass(frozen=True)
class Invitation:
    id: str
    campaign_id: str
    occurrence: str
    platform: str
    user_id: str
    name: str
    zone: str
    survey_id: str
    reminder: int
    """0 for the invitation, 1, 2, … for its reminders."""
    due_at: datetime
    """When it is due; while a worker holds it, the end of that worker's lease."""
    scheduled_at: datetime
    """When it was planned for (what lateness is measured from)."""
    status: InvitationStatus = InvitationStatus.PENDING
    attempts: int = 0
    owner: str | None = None
    sent_at: datetime | None = None
    invited_at: datetime | None = None
    """For a reminder: when the invitation it follows was sent."""
    note: str | None = None
    digest: bool = False
    """Not a person's: the occurrence's digest for the team chat ``user_id``."""


def invitation_id(campaign_id: str, occurrence: str, person: Person, reminder: int) -> str:
    return f"{campaign_id}|{occurrence}|{person.platform}|{person.user_id}|{reminder}"


class Reach(Protocol):
    """What a platform offers campaigns."""

    async def people(self, audience: Audience) -> list[Person]:
        """The audience's members on this platform, with names and (where known) time zones."""
        ...

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        """Send ``text`` with a button that starts ``survey_id`` to the person's private chat; raises
        :class:`adapters.webhooks.PostFailed` (``permanent`` when trying again cannot help)."""
        ...

    async def report(self, chat: str, reply: AdminReply) -> None:
        """Post a report (text, detail, charts) to a team chat; raises :class:`PostFailed`."""
        ...


class CampaignStore(Protocol):
    async def put(self, campaign: Campaign, now: datetime) -> bool:
        """Store a campaign (a new one is planned from ``now`` on; a changed one keeps its progress);
        False when the same definition was stored already."""
        ...

    async def get(self, campaign_id: str) -> tuple[Campaign, bool]:
        """The campaign and whether it is paused. Raises :class:`bot.errors.NotFound`."""
        ...

    async def list(self) -> list[tuple[Campaign, bool]]: ...

    async def set_paused(self, campaign_id: str, paused: bool) -> None: ...

    async def take_planning(
        self, campaign_id: str, owner: str, now: datetime, until: datetime
    ) -> datetime | None:
        """The lease on planning the campaign, held by ``owner`` until ``until``; returns the wall time
        planned so far, or None when another worker holds the lease (or the campaign is paused)."""
        ...

    async def planned(self, campaign_id: str, owner: str, upto: datetime) -> None:
        """Record that occurrences up to ``upto`` (wall time) are planned, and release the lease."""
        ...


class InvitationStore(Protocol):
    async def add(self, invitations: Sequence[Invitation]) -> None:
        """Store new invitations; one whose id is stored already is left as it is."""
        ...

    async def claim(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> list[Invitation]: ...

    async def sending(self, invitation: Invitation) -> bool:
        """Mark it ``sending`` if ``invitation.owner`` still holds it."""
        ...

    async def settle(self, invitation: Invitation) -> bool:
        """Store the outcome if ``invitation.owner`` still holds it (pending or sending)."""
        ...

    async def unconfirm_stale(self, now: datetime) -> int:
        """Invitations left ``sending`` by a worker whose lease lapsed become ``unconfirmed``."""
        ...

    async def counts(self, campaign_id: str) -> dict[tuple[str, int, InvitationStatus], int]:
        """How many invitations, by (occurrence, reminder number, status)."""
        ...

    async def sent(self, campaign_id: str) -> list[Invitation]:
        """The campaign's invitations (not reminders) that were sent."""
        ...


class Rate(Protocol):
    async def wait(self, platform: str) -> float:
        """Seconds to wait before the next send on ``platform`` (0: go), counted against the budget."""
        ...


class MemoryRate:
    """One process's budgets (tests, one worker): the same rule as :class:`RedisRate`."""

    def __init__(self, per_second: Mapping[str, float], burst: int = 1) -> None:
        self.per_second = per_second
        self.burst = burst
        self._tat: dict[str, float] = {}

    async def wait(self, platform: str) -> float:
        now = asyncio.get_running_loop().time()
        interval = 1 / self.per_second[platform]
        tat = max(self._tat.get(platform, now), now)
        self._tat[platform] = tat + interval
        return max(0.0, tat - interval * self.burst - now + interval)


# KEYS: the bucket. ARGV: seconds per send, burst. A GCRA (virtual scheduling) on Redis' own clock, so
# every worker sees one schedule: returns the milliseconds the caller must wait before its send.
_GCRA = """
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or t)
if tat < t then tat = t end
local wait = tat - tolerance - t + interval
if wait < 0 then wait = 0 end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - t + tolerance + 1000))
return wait
"""


class RedisRate:
    """Each platform's send budget, shared by every worker: ``per_second`` sends, ``burst`` at once."""

    def __init__(
        self, client: redis.asyncio.Redis, per_second: Mapping[str, float], burst: int = 1, prefix: str = "sb"
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.prefix = prefix
        self._script = client.register_script(_GCRA)

    async def wait(self, platform: str) -> float:
        interval_ms = 1000 / self.per_second[platform]
        try:
            waited = await self._script(
                keys=[f"{self.prefix}:rate:{platform}"], args=[interval_ms, self.burst]
            )
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis: {exc}") from exc
        return float(waited) / 1000


class Campaigns:
    """Plans and sends campaign invitations and reminders; one per worker process."""

    def __init__(
        self,
        campaigns: CampaignStore,
        invitations: InvitationStore,
        responses: ResponseStore,
        opt_outs: OptOutStore,
        surveys: SurveyCache,
        key_of: Callable[[str, str], str],
        reach: Mapping[str, Reach],
        rate: Rate,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = timedelta(seconds=60),
        batch: int = 20,
    ) -> None:
        self.campaigns = campaigns
        self.invitations = invitations
        self.responses = responses
        self.opt_outs = opt_outs
        self.surveys = surveys
        self.key_of = key_of
        """The respondent key of (platform, user id): how opt-outs and responses are found."""
        self.reach = dict(reach)
        self.rate = rate
        self.clock = clock
        self.lease = lease
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{secrets.token_hex(4)}"

    # --- planning

    async def plan(self) -> int:
        """Plan every active campaign's occurrences within reach; how many invitations were added."""
        added = 0
        for campaign, paused in await self.campaigns.list():
            if not paused:
                added += await self._plan(campaign)
        return added

    async def _plan(self, campaign: Campaign) -> int:
        now = self.clock()
        since = await self.campaigns.take_planning(campaign.id, self.owner, now, now + self.lease)
        if since is None:
            return 0
        upto = campaign.schedule.horizon(now)
        occurrences = campaign.schedule.occurrences(since, upto)
        added = 0
        if occurrences:
            people = await self._people(campaign)
            for occurrence in occurrences:
                new = [self._invitation(campaign, occurrence, person) for person in people]
                new += self._digests(campaign, occurrence)
                await self.invitations.add(new)
                added += len(new)
                log.info(
                    "campaign %s: occurrence %s planned for %d people",
                    campaign.id,
                    occurrence_key(occurrence),
                    len(new),
                )
        await self.campaigns.planned(campaign.id, self.owner, max(upto, since))
        return added

    async def _people(self, campaign: Campaign) -> list[Person]:
        people: list[Person] = []
        for platform, reach in self.reach.items():
            try:
                people += await reach.people(campaign.audience)
            except PostFailed as failure:
                log.warning(
                    "campaign %s: the %s audience could not be listed: %s", campaign.id, platform, failure
                )
                raise StorageUnavailable(f"{platform}: {failure}") from failure
        audience = campaign.audience
        missing = {
            "telegram": audience.telegram + audience.telegram_tags,
            "slack": audience.slack_users + audience.slack_channels + audience.slack_usergroups,
        }
        for platform, ids in missing.items():
            if ids and platform not in self.reach:
                log.warning(
                    "campaign %s names %s people, but %s is not configured", campaign.id, platform, platform
                )
        seen: set[tuple[str, str]] = set()
        unique = []
        for person in people:
            if (person.platform, person.user_id) not in seen:
                seen.add((person.platform, person.user_id))
                unique.append(person)
        return unique

    def _invitation(
        self, campaign: Campaign, occurrence: datetime, person: Person, reminder: int = 0
    ) -> Invitation:
        zone = person.zone if campaign.schedule.local and person.zone else campaign.schedule.timezone
        key = occurrence_key(occurrence)
        return Invitation(
            id=invitation_id(campaign.id, key, person, reminder),
            campaign_id=campaign.id,
            occurrence=key,
            platform=person.platform,
            user_id=person.user_id,
            name=person.name,
            zone=zone,
            survey_id=campaign.survey_id,
            reminder=reminder,
            due_at=(due := campaign.schedule.due(occurrence, zone)),
            scheduled_at=due,
        )

    def _digests(self, campaign: Campaign, occurrence: datetime) -> list[Invitation]:
        if campaign.digest is None:
            return []
        key = occurrence_key(occurrence)
        due = campaign.schedule.due(occurrence) + timedelta(seconds=campaign.digest.after_s)
        return [
            Invitation(
                id=f"{campaign.id}|{key}|digest|{chat.target}",
                campaign_id=campaign.id,
                occurrence=key,
                platform=chat.platform,
                user_id=chat.chat,
                name="",
                zone=campaign.schedule.timezone,
                survey_id=campaign.survey_id,
                reminder=0,
                due_at=due,
                scheduled_at=due,
                digest=True,
            )
            for chat in campaign.digest.chats
        ]

    async def _digest(self, invitation: Invitation, campaign: Campaign, reach: Reach) -> Invitation | None:
        """Post the occurrence's digest: its counts, then the summary and charts of the responses
        started since the occurrence."""
        from adapters.reports.charts import render_charts
        from bot.results import summarize, summary_text

        rows = await campaign_status(self, campaign.id, only=invitation.occurrence)
        row = rows[0] if rows else None
        # The responses started since the occurrence (those in zones ahead of the campaign's, with
        # local: true, up to 14 hours before its time there).
        wall = datetime.strptime(invitation.occurrence, "%Y-%m-%dT%H:%M")
        since = wall_to_utc(wall, campaign.schedule.timezone)
        if campaign.schedule.local:
            since -= timedelta(hours=14)
        try:
            summary = await summarize(self.surveys, self.responses, campaign.survey_id, since=since)
        except SurveyNotFound:
            return self._done(invitation, InvitationStatus.SKIPPED, f"no survey '{campaign.survey_id}'")
        charts = tuple(await asyncio.to_thread(render_charts, summary))
        counts = (
            f"invited {row.invited}, started {row.started}, completed {row.completed} "
            f"({row.completed * 100 // max(row.invited, 1)}% of those invited), reminders sent {row.reminded}"
            if row is not None
            else "nobody was invited"
        )
        reply = AdminReply(
            f"“{campaign.id}”, {invitation.occurrence}: {counts}.", summary_text(summary), charts
        )
        if not await self.invitations.sending(invitation):
            return None  # its lease lapsed: another worker has it
        try:
            await reach.report(invitation.user_id, reply)
        except PostFailed as failure:
            again = self.clock() + timedelta(seconds=max(failure.retry_after, 60.0))
            failed = failure.permanent or invitation.attempts + 1 >= MAX_ATTEMPTS
            status = InvitationStatus.FAILED if failed else InvitationStatus.PENDING
            return replace(
                invitation, status=status, attempts=invitation.attempts + 1, due_at=again, note=str(failure)
            )
        return replace(
            invitation, status=InvitationStatus.SENT, attempts=invitation.attempts + 1, sent_at=self.clock()
        )

    # --- sending

    async def send_due(self) -> int:
        """Claim what is due and send it; how many were claimed."""
        now = self.clock()
        await self.invitations.unconfirm_stale(now)
        claimed = await self.invitations.claim(now, now + self.lease, self.owner, self.batch)
        outcomes = await asyncio.gather(*(self._send(i) for i in claimed))
        for outcome in outcomes:
            if outcome is not None and not await self.invitations.settle(outcome):
                log.warning("campaign invitation %s was taken over by another worker", outcome.id)
        return len(claimed)

    async def _send(self, invitation: Invitation) -> Invitation | None:
        """The invitation's outcome (None when it was left to another worker)."""
        try:
            campaign, paused = await self.campaigns.get(invitation.campaign_id)
        except NotFound:  # the campaign was removed (a store outage is raised: the lease lapses)
            return self._done(invitation, InvitationStatus.SKIPPED, "the campaign is gone")
        if paused:
            return replace(invitation, due_at=self.clock() + timedelta(minutes=1))
        if invitation.digest:
            reach_of = self.reach.get(invitation.platform)
            if reach_of is None:
                return self._done(
                    invitation, InvitationStatus.FAILED, f"{invitation.platform} is not configured"
                )
            return await self._digest(invitation, campaign, reach_of)
        skip = await self._why_not(invitation, campaign)
        if skip is not None:
            status, note = skip
            return self._done(invitation, status, note)
        reach = self.reach.get(invitation.platform)
        if reach is None:
            return self._done(invitation, InvitationStatus.FAILED, f"{invitation.platform} is not configured")
        try:
            survey = await self.surveys.get(invitation.survey_id)
        except SurveyNotFound:
            return self._done(invitation, InvitationStatus.SKIPPED, f"no survey '{invitation.survey_id}'")
        text = await self._text(invitation, campaign, survey.title)
        if text is None:
            return self._done(invitation, InvitationStatus.SKIPPED, "completed since the invitation")
        wait = await self.rate.wait(invitation.platform)
        if wait > 0:
            await asyncio.sleep(wait)
        if not await self.invitations.sending(invitation):
            return None
        attempts = invitation.attempts + 1
        try:
            await reach.invite(invitation.user_id, text, survey.id, survey.title)
        except PostFailed as failure:
            CAMPAIGN_SENDS.labels(platform=invitation.platform, outcome="failed").inc()
            if failure.permanent or (attempts >= MAX_ATTEMPTS and not failure.retry_after):
                return replace(
                    invitation, status=InvitationStatus.FAILED, attempts=attempts, note=str(failure)
                )
            if failure.retry_after:  # the platform's rate limit: exactly what it asked for
                CAMPAIGN_SENDS.labels(platform=invitation.platform, outcome="retry_after").inc()
                again = self.clock() + timedelta(seconds=failure.retry_after)
            else:
                again = self.clock() + timedelta(seconds=5.0 * 2**attempts)
            return replace(
                invitation,
                status=InvitationStatus.PENDING,
                attempts=attempts,
                due_at=again,
                note=str(failure),
            )
        sent = self.clock()
        CAMPAIGN_SENDS.labels(platform=invitation.platform, outcome="sent").inc()
        if invitation.reminder == 0:
            await self._plan_reminders(invitation, campaign, sent)
        return replace(invitation, status=InvitationStatus.SENT, attempts=attempts, sent_at=sent, note=None)

    async def _why_not(
        self, invitation: Invitation, campaign: Campaign
    ) -> tuple[InvitationStatus, str] | None:
        if self.clock() - invitation.scheduled_at > MAX_LATE and invitation.attempts == 0:
            return InvitationStatus.EXPIRED, "due too long ago (the bot was not running)"
        key = self.key_of(invitation.platform, invitation.user_id)
        if await self.opt_outs.opted_out([key]):
            return InvitationStatus.SKIPPED, "opted out"
        return None

    async def _text(self, invitation: Invitation, campaign: Campaign, title: str) -> str | None:
        """The message: the invitation, or a reminder that fits where the person stands; None when the
        person completed the survey since the invitation."""
        if invitation.reminder == 0:
            return fill(campaign.message, invitation.name, title)
        key = self.key_of(invitation.platform, invitation.user_id)
        response = await self.responses.find(invitation.survey_id, key)
        invited = invitation.invited_at
        if response is None or invited is None:
            return fill(REMINDER_MESSAGE, invitation.name, title)
        if response.status is Status.COMPLETED:
            # Completed since the invitation: no reminder. (An earlier occurrence's does not count.)
            done = response.completed_at is not None and response.completed_at >= invited
            return None if done else fill(REMINDER_MESSAGE, invitation.name, title)
        active = max([response.started_at, *(a.at for a in response.answers.values())])
        return fill(RESUME_MESSAGE if active >= invited else REMINDER_MESSAGE, invitation.name, title)

    async def _plan_reminders(self, invitation: Invitation, campaign: Campaign, sent: datetime) -> None:
        times = campaign.reminders.times(sent, invitation.zone)
        person = Person(invitation.platform, invitation.user_id, invitation.name, invitation.zone)
        await self.invitations.add(
            [
                replace(
                    invitation,
                    id=invitation_id(invitation.campaign_id, invitation.occurrence, person, n),
                    reminder=n,
                    due_at=at,
                    scheduled_at=at,
                    status=InvitationStatus.PENDING,
                    attempts=0,
                    owner=None,
                    sent_at=None,
                    invited_at=sent,
                    note=None,
                )
                for n, at in enumerate(times, 1)
            ]
        )

    def _done(self, invitation: Invitation, status: InvitationStatus, note: str) -> Invitation:
        CAMPAIGN_SENDS.labels(platform=invitation.platform, outcome=status.value).inc()
        return replace(invitation, status=status, note=note)

    # --- the loop

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Plan and send until ``stop`` is set; a store outage is waited out."""

        async def step() -> bool:
            await self.plan()
            return await self.send_due() > 0

        await repeat(stop, step, log, poll_s)


# --- for admins -------------------------------------------------------------------------------------


async def store_campaign(
    store: CampaignStore, surveys: SurveyCache, text: str, file: str, now: datetime
) -> tuple[Campaign, bool]:
    """Validate a campaign file (also against its survey) and store it; (campaign, whether it changed).
    Raises :class:`bot.errors.DefinitionError` with ``FILE:LINE`` problems, storing nothing."""
    campaign = load_campaign_text(text, file)
    line = next((n for n, row in enumerate(text.splitlines(), 1) if row.startswith("survey:")), 1)
    try:
        survey = await surveys.get(campaign.survey_id)
    except SurveyNotFound:
        raise DefinitionError(
            [Problem(file, line, f"no survey '{campaign.survey_id}' is stored; load it first")]
        ) from None
    if campaign.schedule.cron is not None and survey.settings.one_response_per_user:
        problem = (
            f"survey '{survey.id}' takes one response per person, so a recurring campaign could not ask "
            "again; set one_response_per_user: false in the survey"
        )
        raise DefinitionError([Problem(file, line, problem)])
    return campaign, await store.put(campaign, now)


@dataclass(frozen=True)
class OccurrenceStatus:
    occurrence: str
    invited: int
    """Invitations sent."""
    reminded: int
    """Reminders sent."""
    started: int
    """Of those invited, how many have a response started since (in progress or completed)."""
    completed: int
    pending: int
    failed: int
    skipped: int
    unconfirmed: int
    expired: int


async def campaign_status(
    runner: Campaigns, campaign_id: str, only: str | None = None
) -> list[OccurrenceStatus]:
    """Per occurrence (or only the occurrence ``only``): invited, reminded, started, completed, and
    what was not sent and why. Started and completed cost a look-up per person invited."""
    campaign, _ = await runner.campaigns.get(campaign_id)
    counts = await runner.invitations.counts(campaign_id)
    invited = await runner.invitations.sent(campaign_id)
    rows = []
    for occurrence in sorted({o for o, _, _ in counts if only is None or o == only}):
        mine = {(r, s): n for (o, r, s), n in counts.items() if o == occurrence}

        def total(
            status: InvitationStatus,
            reminders: bool | None = None,
            mine: dict[tuple[int, InvitationStatus], int] = mine,
        ) -> int:
            return sum(
                n for (r, s), n in mine.items() if s is status and (reminders is None or (r > 0) == reminders)
            )

        started = completed = 0
        for invitation in (i for i in invited if i.occurrence == occurrence):
            key = runner.key_of(invitation.platform, invitation.user_id)
            response = await runner.responses.find(campaign.survey_id, key)
            sent = invitation.sent_at or invitation.scheduled_at
            if response is not None and response.started_at >= sent - timedelta(minutes=1):
                started += 1
                completed += response.status is Status.COMPLETED
        rows.append(
            OccurrenceStatus(
                occurrence,
                invited=total(InvitationStatus.SENT, False),
                reminded=total(InvitationStatus.SENT, True),
                started=started,
                completed=completed,
                pending=total(InvitationStatus.PENDING) + total(InvitationStatus.SENDING),
                failed=total(InvitationStatus.FAILED),
                skipped=total(InvitationStatus.SKIPPED),
                unconfirmed=total(InvitationStatus.UNCONFIRMED),
                expired=total(InvitationStatus.EXPIRED),
            )
        )
    return rows


async def campaign_report(runner: Campaigns, campaign_id: str) -> AdminReply:
    """For the chats' admins: the campaigns (no id), or one campaign's status per occurrence."""
    if not campaign_id:
        rows = [
            f"{c.id}: {c.survey_id}, {c.schedule.cron or c.schedule.at}" + (" (paused)" if paused else "")
            for c, paused in await runner.campaigns.list()
        ]
        return AdminReply("Campaigns:" if rows else "No campaigns are stored.", "\n".join(rows))
    try:
        occurrences = await campaign_status(runner, campaign_id)
    except NotFound:
        return AdminReply(f"There is no campaign “{campaign_id}”.")
    lines = [
        f"{o.occurrence}: invited {o.invited}, reminded {o.reminded}, started {o.started}, "
        f"completed {o.completed}; pending {o.pending}, failed {o.failed}, skipped {o.skipped}, "
        f"unconfirmed {o.unconfirmed}, expired {o.expired}"
        for o in occurrences
    ]
    web = await runner.responses.count_campaign(campaign_id)
    if any(web.values()):
        lines.append(f"web link: started {sum(web.values())}, completed {web[Status.COMPLETED]}")
    return AdminReply(f"Campaign {campaign_id}:", "\n".join(lines) or "nothing sent yet")


def web_link(base: str, campaign: Campaign) -> str:
    """The shareable link to a campaign's survey in the web chat; responses begun there count for it."""
    return f"{base.rstrip('/')}/?survey={campaign.survey_id}&campaign={campaign.id}"
