"""The Slack adapter: respondents take surveys in a direct message with the app; admins load surveys
and read results from Slack.

Like slack-bolt's own framework adapters it is thin: the functions at the top turn Slack payloads into
the engine's :class:`~bot.messages.Incoming` (pure, unit-tested with real payloads), the engine decides
everything, and :mod:`adapters.slack.blocks` renders its replies as Block Kit. :class:`SlackBot` wires
slack-bolt's :class:`~slack_bolt.async_app.AsyncApp` to both: every listener acknowledges first and works
after the acknowledgement, in Socket Mode or behind ``POST /slack/events`` on the project's web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.campaigns import Person, campaign_report
from adapters.metrics import handle_observed
from adapters.platform import Platform
from adapters.slack import admin as slack_admin
from adapters.slack.blocks import ACTION_PREFIX, escape, home_view, notice_text, render
from adapters.survey_admin import NOT_ADMIN_RESULTS, NOT_ADMIN_UPLOAD, AdminReply, SurveyAdmin, is_survey_file
from adapters.webhooks import PostFailed
from bot import actions, texts
from bot.campaigns import Audience
from bot.errors import StorageUnavailable
from bot.i18n import Translation, speaking
from bot.messages import Button, Incoming, Kind, Outgoing, Role

if TYPE_CHECKING:
    from adapters.bootstrap import App

log = logging.getLogger("surveybot.slack")

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
EVENTS = ("app_home_opened", "app_mention", "file_shared", "message")
"""The Events API events the app subscribes to (``message`` as ``message.im``: direct messages only)."""
COMMANDS = ("/survey", "/survey-admin")

IDLE_WAIT_S = 10.0
"""How long :meth:`SlackBot.idle` waits for work in flight when stopping."""

_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


# --- Slack payloads → the engine's incoming messages ----------------------------------------------------


def unformat(text: str) -> str:
    """A message's text as the user typed it: Slack's ``<mailto:…|…>`` links, mentions and escapes undone."""

    def plain(link: re.Match[str]) -> str:
        target, label = link.group(1), link.group(2)
        if label:
            return label
        if target.startswith("mailto:"):
            return target.removeprefix("mailto:")
        if target.startswith("!"):
            return "@" + target[1:]
        return target

    return _LINK.sub(plain, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_incoming(body: Mapping[str, Any]) -> Incoming | None:
    """A respondent's direct message (a ``message.im`` event); None for what is not typed text: edits,
    deletions, file shares (see :func:`file_share`) and other subtypes, messages of bots (itself
    included), other channels."""
    event = body.get("event") or {}
    if event.get("type") != "message" or event.get("channel_type") != "im":
        return None
    if event.get("subtype") or event.get("bot_id") or event.get("hidden") or not event.get("user"):
        return None
    text = unformat(event.get("text") or "").strip()
    if not text:
        return None
    return Incoming(
        platform=PLATFORM,
        user_id=event["user"],
        chat_id=event.get("channel", ""),
        text=text,
        update_id=body.get("event_id") or event.get("client_msg_id") or event.get("ts"),
    )


def action_incoming(body: Mapping[str, Any], action: Mapping[str, Any]) -> Incoming | None:
    """A pressed button (``block_actions``) as a press of the engine's button value. A button of the
    App Home tab has no message and no channel: ``chat_id`` is then empty for the caller to fill."""
    value = action.get("value")
    if value is None:
        return None
    container = body.get("container") or {}
    message_ts = container.get("message_ts") if container.get("type") == "message" else None
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    return Incoming(
        platform=PLATFORM,
        user_id=body["user"]["id"],
        chat_id=channel if message_ts else "",
        button=value,
        update_id=body.get("trigger_id") or action.get("action_ts"),
        message_id=message_ts,
    )


def command_incoming(body: Mapping[str, Any], chat_id: str) -> Incoming:
    """``/survey [SURVEY_ID]`` from anywhere, as the start command in the user's direct message."""
    return Incoming(
        platform=PLATFORM,
        user_id=body["user_id"],
        chat_id=chat_id,
        command="start",
        text=(body.get("text") or "").strip(),
        update_id=body.get("trigger_id"),
    )


def ticked(body: Mapping[str, Any], action: Mapping[str, Any]) -> tuple[str | None, tuple[int, ...]]:
    """What a multi-choice message's checkboxes show ticked now, across all its groups: a toggle value of
    the question (to name it to the engine; None when the message has no checkboxes) and the indexes of
    the ticked choices. A group the respondent did not touch counts as it was shown."""
    current = (body.get("state") or {}).get("values") or {}
    toggle: str | None = None
    picked: set[int] = set()
    for block in (body.get("message") or {}).get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") != "checkboxes":
                continue
            toggle = toggle or next((o["value"] for o in element.get("options") or []), None)
            now = (current.get(block.get("block_id")) or {}).get(element.get("action_id"))
            if block.get("block_id") == action.get("block_id"):
                now = action
            options = (element.get("initial_options") if now is None else now.get("selected_options")) or []
            presses = (actions.decode(o["value"]) for o in options)
            picked |= {p.index for p in presses if p is not None and p.index is not None}
    return toggle, tuple(sorted(picked))


@dataclass(frozen=True)
class FileShare:
    """Files posted in the direct message (a ``message`` event of subtype ``file_share``)."""

    user_id: str
    channel_id: str
    names: tuple[str, ...]
    event_id: str

    def maybe_survey(self) -> bool:
        return any(is_survey_file(name) for name in self.names)

    def incoming(self) -> Incoming:
        """The share as a respondent's message: not text, so the engine says how to answer."""
        return Incoming(
            platform=PLATFORM,
            user_id=self.user_id,
            chat_id=self.channel_id,
            attachment=True,
            update_id=self.event_id,
        )


def file_share(body: Mapping[str, Any]) -> FileShare | None:
    """A person's files (a photo, a document, a survey) posted in the direct message; None elsewhere."""
    event = body.get("event") or {}
    if event.get("type") != "message" or event.get("subtype") != "file_share":
        return None
    if event.get("channel_type") != "im" or event.get("bot_id") or not event.get("user"):
        return None
    names = tuple(str(f.get("name") or f.get("title") or "") for f in event.get("files") or [])
    event_id = body.get("event_id") or event.get("client_msg_id") or event.get("ts") or ""
    return FileShare(event["user"], event.get("channel", ""), names, event_id)


@dataclass(frozen=True)
class FileShared:
    user_id: str
    channel_id: str
    file_id: str
    event_id: str


def file_shared(body: Mapping[str, Any]) -> FileShared | None:
    """A file shared in a direct message with the app (admins upload surveys so); None elsewhere."""
    event = body.get("event") or {}
    channel = event.get("channel_id") or ""
    if event.get("type") != "file_shared" or not channel.startswith("D") or not event.get("user_id"):
        return None
    file_id = event.get("file_id") or (event.get("file") or {}).get("id")
    if not file_id:
        return None
    return FileShared(event["user_id"], channel, file_id, body.get("event_id") or event.get("event_ts", ""))


def home_opened(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(user, their DM channel)`` when the user opens the App Home tab; None for the other tabs."""
    event = body.get("event") or {}
    if event.get("type") != "app_home_opened" or event.get("tab") != "home" or not event.get("user"):
        return None
    return event["user"], event.get("channel", "")


def dm_link(body: Mapping[str, Any]) -> str:
    """A link that opens the app's Messages tab, for pointers posted elsewhere."""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    app_id = body.get("api_app_id") or ""
    if not (team and app_id):
        return "a direct message with me"
    return f"<slack://app?team={team}&id={app_id}&tab=messages|a direct message with me>"


# --- The bolt app ---------------------------------------------------------------------------------------

_DM_NOTE = texts.SLACK_DM_NOTE
_MENTION = texts.SLACK_MENTION
_ADMIN_USAGE = (
    "Usage: `/survey-admin results SURVEY_ID` posts a survey's results in our direct messages; "
    "`/survey-admin campaigns [CAMPAIGN_ID]` the campaigns, or one's status."
)
_CAMPAIGNS_COMING = "Posting the campaigns in our direct messages."
_RESULTS_COMING = "Posting the results of `{survey_id}` in our direct messages."


class SlackBot:
    """The Slack app of one workspace: bolt's listeners feed the engine and send what it returns."""

    def __init__(self, app: App) -> None:
        settings = app.config.slack
        if settings.bot_token is None:
            raise ValueError("the Slack adapter needs slack.bot_token (SLACK_BOT_TOKEN)")
        self._app = app
        self._token = settings.bot_token.get_secret_value()
        self._app_token = settings.app_token.get_secret_value() if settings.app_token else None
        from adapters.check import upload_warnings  # it imports this package's renderer: not at the top

        self.admin = SurveyAdmin(
            app.surveys,
            app.cache,
            app.responses,
            app.config.admins.slack,
            campaigns=functools.partial(campaign_report, app.campaign_runner({})),
            check=upload_warnings,
        )
        self.client = AsyncWebClient(token=self._token, base_url=settings.api_url)
        secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
        self.bolt = AsyncApp(name="surveybot", client=self.client, signing_secret=secret, logger=log)
        self._names: dict[str, tuple[str, str | None]] = {}
        """User id → (display name, locale), looked up once per process."""
        self._dms: dict[str, str] = {}
        self._busy: set[asyncio.Task[Any]] = set()
        self._socket: Any = None
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_home_opened")(self._on_home_opened)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("file_shared")(self._on_file_shared)
        self.bolt.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_action)
        self.bolt.command("/survey")(self._on_survey)
        self.bolt.command("/survey-admin")(self._on_survey_admin)

    # --- running

    def platform(self) -> Platform:
        if self._app_token is not None:
            return Platform(
                PLATFORM,
                start=self.start_socket_mode,
                stop=self.stop,
                details={"mode": "socket"},
                post=self.post,
                reach=self,
            )
        return Platform(
            PLATFORM,
            stop=self.stop,
            mount=self.mount,
            details={"mode": "events-api", "path": EVENTS_PATH},
            post=self.post,
            reach=self,
        )

    # --- campaigns (adapters.campaigns.Reach)

    async def people(self, audience: Audience) -> list[Person]:
        """The campaign's Slack people: the users named, every member of the channels and user groups
        (bots and deactivated accounts left out), with their names and time zones."""
        ids = list(audience.slack_users)
        with _refusals():
            for channel in audience.slack_channels:
                cursor = None
                while True:
                    page = await self.client.conversations_members(channel=channel, cursor=cursor, limit=200)
                    ids += page.get("members") or []
                    cursor = (page.get("response_metadata") or {}).get("next_cursor")
                    if not cursor:
                        break
            for group in audience.slack_usergroups:
                ids += (await self.client.usergroups_users_list(usergroup=group)).get("users") or []
            people = []
            for user in dict.fromkeys(ids):
                found = (await self.client.users_info(user=user)).get("user") or {}
                if found.get("is_bot") or found.get("deleted") or user == "USLACKBOT":
                    continue
                profile = found.get("profile") or {}
                name = profile.get("display_name") or profile.get("real_name") or found.get("name") or "there"
                people.append(Person(PLATFORM, user, name, found.get("tz") or None))
            return people

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        start = Outgoing(
            user_id, text, actions=(Button(f"Start “{title}”", f"/start {survey_id}", role=Role.START),)
        )
        message = render(start)
        with _refusals(permanent=_NO_SUCH_PERSON):
            channel = await self._dm(user_id)
            await self.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)

    async def report(self, channel: str, reply: AdminReply) -> None:
        """A campaign's digest in a channel: the text, the summary preformatted, the charts as files."""
        with _refusals():
            await slack_admin.show(self.client, channel, reply)

    async def post(self, channel: str, text: str) -> None:
        """A broadcast to a channel the app is in; ``text`` is escaped, so an answer cannot mention
        ``@channel`` or make a link."""
        with _refusals():
            await self.client.chat_postMessage(
                channel=channel, text=escape(text), unfurl_links=False, unfurl_media=False
            )

    def mount(self, web: Any) -> None:
        """Add ``POST /slack/events`` (events, interactions, slash commands) to a FastAPI app."""
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
        from starlette.requests import Request
        from starlette.responses import Response

        handler = AsyncSlackRequestHandler(self.bolt)

        async def slack_events(request: Request) -> Response:
            # slack-bolt answers 500 to a timestamp that is no number, and to a signed body it cannot
            # parse; Slack would retry those. A malformed request is refused with 400, unread.
            if not request.headers.get("x-slack-request-timestamp", "0").strip().isdigit():
                return Response(status_code=400)
            try:
                return await handler.handle(request)
            except ValueError as exc:  # json.JSONDecodeError and the like, after the signature passed
                log.warning("a signed Slack request could not be read: %s", type(exc).__name__)
                return Response(status_code=400)

        web.add_route(EVENTS_PATH, slack_events, methods=["POST"], include_in_schema=False)

    async def start_socket_mode(self) -> None:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.bolt, app_token=self._app_token, logger=log)
        await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()
        try:
            await self.idle()
        except TimeoutError:
            log.warning("stopped with %d Slack requests still in progress", len(self._busy))

    async def idle(self) -> None:
        """Wait until the work started after acknowledgements is done (a graceful stop; tests)."""
        async with asyncio.timeout(IDLE_WAIT_S):
            await asyncio.sleep(0.01)
            while self._busy:
                await asyncio.gather(*self._busy, return_exceptions=True)
                await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def _working(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        try:
            yield
        except (SlackClientError, StorageUnavailable) as exc:
            log.warning("a Slack request was not completed: %s", exc)
        finally:
            self._busy.discard(task)

    # --- listeners: each acknowledges first (bolt does it for events), then works

    async def _on_message(self, body: dict[str, Any]) -> None:
        shared = file_share(body)
        if shared is not None:
            await self._on_file_share(shared)
            return
        incoming = message_incoming(body)
        if incoming is None:
            return
        async with self._working():
            self._dms.setdefault(incoming.user_id, incoming.chat_id)
            await self._converse(await self._person(incoming))

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        async with self._working():
            user = body["user"]["id"]
            if action.get("type") == "checkboxes":
                await self._toggle(body, action)
                return
            incoming = action_incoming(body, action)
            if incoming is None:
                return
            if not incoming.chat_id:
                incoming = replace(incoming, chat_id=await self._dm(user))
            incoming = await self._person(incoming)
            press = actions.decode(incoming.button or "")
            if press is not None and press.role is Role.SUBMIT and incoming.message_id:
                # Submit: the engine takes what the checkboxes show ticked now, in one call.
                incoming = replace(incoming, picked=ticked(body, action)[1])
            await self._converse(incoming)

    async def _on_survey(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        user = body["user_id"]
        if self._dms.get(user) == body.get("channel_id"):
            await ack()
        else:
            await ack(text=self._speaking(user).gettext(_DM_NOTE).format(link=dm_link(body)))
        async with self._working():
            dm = await self._dm(user)
            incoming = command_incoming(body, dm)
            await self._converse(await self._person(incoming))

    async def _on_survey_admin(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        user = body["user_id"]
        words = (body.get("text") or "").split()
        if not self.admin.is_admin(user):
            await ack(text=NOT_ADMIN_RESULTS)
            return
        if words and words[0].lower() == "campaigns" and len(words) <= 2:
            await ack(text=_CAMPAIGNS_COMING)
            async with self._working():
                report = await self.admin.campaign_report(user, words[1] if len(words) == 2 else "")
                await slack_admin.show(self.client, await self._dm(user), report)
            return
        if len(words) != 2 or words[0].lower() != "results":
            await ack(text=_ADMIN_USAGE)
            return
        survey_id = words[1].lower()
        await ack(text=_RESULTS_COMING.format(survey_id=survey_id))
        async with self._working():
            await slack_admin.show(
                self.client, await self._dm(user), await self.admin.results(user, survey_id)
            )

    async def _on_home_opened(self, body: dict[str, Any]) -> None:
        opened = home_opened(body)
        if opened is None:
            return
        user, channel = opened
        async with self._working():
            if channel:
                self._dms.setdefault(user, channel)
            await self.client.views_publish(
                user_id=user, view=home_view(await self._app.engine.standings(PLATFORM, user))
            )

    async def _on_mention(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        async with self._working(), self._once(user, body.get("event_id")) as first:
            if first:
                text = self._speaking(user).gettext(_MENTION).format(link=dm_link(body))
                await self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    async def _on_file_share(self, shared: FileShare) -> None:
        """Slack tells of a file in the DM twice: this ``message`` (with the file names) and
        ``file_shared`` (with the id to download). An admin's file is an upload, loaded from
        ``file_shared``; anyone else's survey file is refused unread, and their other files (a photo…)
        are a respondent's message that is not text."""
        if self.admin.is_admin(shared.user_id):
            return
        async with self._working():
            if shared.maybe_survey():
                async with self._once(shared.user_id, shared.event_id) as first:
                    if first:
                        await self.client.chat_postMessage(channel=shared.channel_id, text=NOT_ADMIN_UPLOAD)
                return
            self._dms.setdefault(shared.user_id, shared.channel_id)
            incoming = await self._person(shared.incoming())
            await self._converse(incoming)

    async def _on_file_shared(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        shared = file_shared(body)
        if shared is None or shared.user_id == context.get("bot_user_id"):
            return
        if not self.admin.is_admin(shared.user_id):  # the file_share message answers them
            return
        async with self._working(), self._once(shared.user_id, shared.event_id) as first:
            if first:
                await slack_admin.load_upload(
                    self.admin, self.client, self._token, shared.channel_id, shared.user_id, shared.file_id
                )

    # --- the engine, and sending its replies

    async def _converse(self, incoming: Incoming) -> None:
        for reply in await handle_observed(self._app.engine, incoming):
            await self._send(reply, incoming.user_id)

    async def _send(self, out: Outgoing, user: str) -> None:
        try:
            if out.kind is Kind.NOTICE:
                await self.client.chat_postEphemeral(channel=out.chat_id, user=user, text=notice_text(out))
                return
            message = render(out)
            if out.kind in (Kind.ANSWERED, Kind.SELECTION, Kind.RETIRED) and out.edit_of:
                await self.client.chat_update(
                    channel=out.chat_id, ts=out.edit_of, text=message.text, blocks=message.blocks
                )
                return
            posted = await self.client.chat_postMessage(
                channel=out.chat_id,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            if out.live_question is not None:
                await self._app.engine.shown(PLATFORM, user, out.live_question, str(posted["ts"]))
        except SlackApiError as exc:
            log.warning("Slack refused a %s message: %s", out.kind, exc.response.get("error"))

    async def _toggle(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = body["user"]["id"]
        container = body.get("container") or {}
        base = await self._person(
            Incoming(
                platform=PLATFORM,
                user_id=user,
                chat_id=container.get("channel_id") or (body.get("channel") or {}).get("id", ""),
                update_id=body.get("trigger_id") or action.get("action_ts"),
                message_id=container.get("message_ts"),
            )
        )
        toggle, picked = ticked(body, action)
        if toggle is not None:
            await self._converse(replace(base, button=toggle, picked=picked))

    # --- look-ups

    def _speaking(self, user: str) -> Translation:
        """The bot's texts in the user's locale when it was looked up already (no call: a reply that
        must come at once), else English."""
        return speaking(self._names.get(user, ("", None))[1])

    async def _person(self, incoming: Incoming) -> Incoming:
        """``incoming`` with the user's display name and locale (``de-DE``), looked up once per process."""
        user = incoming.user_id
        if user not in self._names:
            try:
                found = (await self.client.users_info(user=user, include_locale=True)).get("user") or {}
            except SlackApiError as exc:
                log.warning("users.info failed: %s", exc.response.get("error"))
                return incoming
            profile = found.get("profile") or {}
            name = (
                profile.get("display_name") or profile.get("real_name") or found.get("real_name") or ""
            ).strip() or found.get("name", "")
            self._names[user] = (name, found.get("locale") or None)
        name, locale = self._names[user]
        return replace(incoming, user_name=name, language=locale)

    async def _dm(self, user: str) -> str:
        """The id of the user's direct message channel with the app."""
        if user not in self._dms:
            opened = await self.client.conversations_open(users=user)
            self._dms[user] = opened["channel"]["id"]
        return self._dms[user]

    @contextlib.asynccontextmanager
    async def _once(self, user: str, event_id: str | None) -> AsyncIterator[bool]:
        """:meth:`App.once` for a Slack event: False when Slack delivers it again (a retry) after it
        was handled, in any process."""
        async with self._app.once(PLATFORM, user, event_id) as first:
            if not first:
                log.info("Slack retried event %s; handled already", event_id)
            yield first


def slack_platform(app: App) -> Platform:
    """The Slack platform for the runner: Socket Mode with an app token, else the Events API."""
    return SlackBot(app).platform()


_NO_SUCH_PERSON = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot", "not_allowed_token_type"})
"""Slack's refusals of a direct message that trying again cannot help."""


@contextlib.contextmanager
def _refusals(permanent: frozenset[str] = frozenset()) -> Iterator[None]:
    """Slack's refusals of a campaign's or a broadcast's message as :class:`PostFailed`: with the wait
    a 429 asks for; an error among ``permanent`` as final."""
    try:
        yield
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        raise PostFailed(f"Slack: {error}", _retry_after(exc), error in permanent) from exc
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise PostFailed(f"Slack: {type(exc).__name__}: {exc}") from exc


def _retry_after(exc: SlackApiError) -> float:
    """The seconds Slack asked to wait (a 429's Retry-After), else 0."""
    if exc.response.status_code != 429:
        return 0.0
    return float(exc.response.headers.get("Retry-After", 0) or 0)
