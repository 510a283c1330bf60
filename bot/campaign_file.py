"""Load campaign YAML files into :class:`~bot.campaigns.Campaign` values, refused whole with every
problem at its line, like surveys (docs/campaigns.md is the format)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from bot.campaigns import DEFAULT_MESSAGE, Audience, Campaign, Digest, Reminders, Schedule
from bot.errors import DefinitionError, Problem
from bot.loader import read_chats
from bot.located import Fields, Map, Report, Scalar, Seq, describe, read_yaml

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_TELEGRAM_USER = re.compile(r"\d{1,20}")
_TAG = re.compile(r"[a-z0-9_-]{1,32}")
_SLACK = {
    "users": re.compile(r"[UW][A-Z0-9]{6,20}"),
    "channels": re.compile(r"[CG][A-Z0-9]{6,20}"),
    "usergroups": re.compile(r"S[A-Z0-9]{6,20}"),
}
_QUIET = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_TOP = frozenset({"campaign", "survey", "audience", "schedule", "reminders", "message", "digest"})
_SCHEDULE = frozenset({"at", "cron", "timezone", "local", "until"})
_REMINDERS = frozenset({"count", "after", "every", "quiet_hours"})
MAX_AUDIENCE_IDS = 10_000
MAX_REMINDERS = 10
MAX_INTERVAL = 30 * 86400
MAX_MESSAGE = 1000


def load_campaign_text(text: str, file: str = "<campaign>") -> Campaign:
    """The campaign in ``text``. Raises :class:`DefinitionError` listing every problem."""
    report = Report(file)
    root = read_yaml(text, report)
    campaign = None
    if isinstance(root, Map):
        campaign = _read(Fields(report, root))
    elif root is not None:
        report.add(root.line, f"a campaign file is a mapping, not {describe(root)}")
    if campaign is None or report.problems:
        raise DefinitionError(report.problems or [Problem(file, 1, "the file holds no campaign")])
    return Campaign(**{**campaign.__dict__, "source": text, "file": file})


def is_campaign_text(text: str) -> bool:
    """Whether a YAML file is a campaign (its first key is ``campaign:``) rather than a survey."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.startswith("campaign:")
    return False


def _read(top: Fields) -> Campaign | None:
    top.check_unknown(_TOP)
    ident = top.string("campaign", required=True)
    survey = top.string("survey", required=True)
    for key, value in (("campaign", ident), ("survey", survey)):
        if value is not None and not _ID.fullmatch(value):
            top.problem(
                top.line(key), f"'{key}' must be an id like team-pulse (a-z, 0-9, - and _, at most 32)"
            )
    audience = _audience(top)
    schedule = _schedule(top)
    reminders = _reminders(top)
    digest = _digest(top)
    message = top.string("message") or DEFAULT_MESSAGE
    if len(message) > MAX_MESSAGE:
        top.problem(top.line("message"), f"'message' must be at most {MAX_MESSAGE} characters")
    for name in re.findall(r"\{([^{}]*)\}", message):
        if name not in ("name", "title"):
            top.problem(
                top.line("message"),
                f"unknown placeholder {{{name}}} in 'message'; known: {{name}}, {{title}}",
            )
    if ident is None or survey is None or audience is None or schedule is None:
        return None
    return Campaign(ident, survey, audience, schedule, reminders, message, digest)


def _ids(fields: Fields, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    node = fields.get(key)
    if node is None:
        return ()
    items = node.items if isinstance(node, Seq) else (node,)
    if len(items) > MAX_AUDIENCE_IDS:
        fields.problem(node.line, f"at most {MAX_AUDIENCE_IDS} ids in '{key}'")
        return ()
    found: list[str] = []
    for item in items:
        value = item.value if isinstance(item, Scalar) else None
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if not pattern.fullmatch(text):
            fields.problem(item.line, f"'{key}' holds {describe(item)}, not {what}")
        elif text not in found:
            found.append(text)
    return tuple(found)


def _audience(top: Fields) -> Audience | None:
    node = top.mapping("audience", required=True)
    if node is None:
        return None
    fields = top.within(node)
    fields.check_unknown({"telegram", "telegram_tags", "slack"}, " in audience")
    telegram = _ids(fields, "telegram", _TELEGRAM_USER, "a Telegram user id (a number)")
    tags = _ids(fields, "telegram_tags", _TAG, "a list's tag (a-z, 0-9, - and _, at most 32)")
    slack_users: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    slack = fields.mapping("slack")
    if slack is not None:
        inner = top.within(slack)
        inner.check_unknown(_SLACK, " in audience.slack")
        slack_users = _ids(inner, "users", _SLACK["users"], "a Slack user id like U0123ABCD")
        channels = _ids(inner, "channels", _SLACK["channels"], "a Slack channel id like C0123ABCD")
        groups = _ids(inner, "usergroups", _SLACK["usergroups"], "a Slack user group id like S0123ABCD")
    audience = Audience(telegram, slack_users, channels, groups, tags)
    if audience == Audience():
        top.problem(node.line, "the audience names nobody")
        return None
    return audience


def _schedule(top: Fields) -> Schedule | None:
    node = top.mapping("schedule", required=True)
    if node is None:
        return None
    fields = top.within(node)
    fields.check_unknown(_SCHEDULE, " in schedule")
    zone = fields.string("timezone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        fields.problem(
            fields.line("timezone"), f"unknown time zone {zone!r} (an IANA name like Europe/Berlin)"
        )
        return None
    at = _wall_time(fields)
    cron = fields.string("cron")
    if cron is not None and not croniter.is_valid(cron):
        fields.problem(
            fields.line("cron"), f"'cron' is not a cron expression (minute hour day month weekday): {cron!r}"
        )
        return None
    if (at is None) == (cron is None):
        fields.problem(node.line, "a schedule has either 'at' (once) or 'cron' (recurring)")
        return None
    until_text = fields.date("until")
    until = dt.date.fromisoformat(until_text) if until_text else None
    if until is not None and at is not None:
        fields.problem(fields.line("until"), "'until' is for a recurring (cron) schedule")
    return Schedule(timezone=zone, at=at, cron=cron, local=bool(fields.boolean("local")), until=until)


def _wall_time(fields: Fields) -> dt.datetime | None:
    node = fields.get("at")
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed.replace(second=0, microsecond=0)
    fields.problem(
        node.line, f"'at' must be a local date and time like 2026-12-07 09:00, not {describe(node)}"
    )
    return None


def _digest(top: Fields) -> Digest | None:
    node = top.mapping("digest")
    if node is None:
        return None
    fields = top.within(node)
    fields.check_unknown({"after", "chats"}, " in digest")
    after = fields.duration("after", MAX_INTERVAL, "30d") or 2 * 86400
    chats = read_chats(fields, "chats")
    if not chats:
        if not fields.has("chats"):
            fields.problem(
                node.line, "a digest needs 'chats': [{slack_channel: ID}] or [{telegram_chat: ID}]"
            )
        return None
    return Digest(chats, after)


def _reminders(top: Fields) -> Reminders:
    node = top.mapping("reminders")
    if node is None:
        return Reminders()
    fields = top.within(node)
    fields.check_unknown(_REMINDERS, " in reminders")
    count = fields.integer("count", minimum=0, maximum=MAX_REMINDERS) or 0
    every = fields.duration("every", MAX_INTERVAL, "30d") or 86400
    after = fields.duration("after", MAX_INTERVAL, "30d") or every
    quiet = None
    text = fields.string("quiet_hours")
    if text is not None:
        match = _QUIET.fullmatch(text.replace(" ", ""))
        if match is None or match.group(1, 2) == match.group(3, 4):
            fields.problem(
                fields.line("quiet_hours"), f"'quiet_hours' must be like 20:00-08:00, not {text!r}"
            )
        else:
            start, end = (dt.time(int(match[i]), int(match[i + 1])) for i in (1, 3))
            quiet = (start, end)
    return Reminders(count=count, after_s=after, every_s=every, quiet=quiet)
