"""The Telegram adapter: updates in, the engine's replies out as Bot API calls.

python-telegram-bot is the transport only: long polling or a webhook, the rate limiter, the base URL.
The survey flow is the engine's: ``to_incoming(update)`` → ``Engine.handle`` → ``render(outgoing)``.
Admins (``admins.telegram`` in the configuration) also upload survey files and read results here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, TypeHandler
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from adapters.bootstrap import App
from adapters.campaigns import Person, campaign_report
from adapters.config import TelegramSettings
from adapters.logs import keep_secret
from adapters.metrics import handle_observed
from adapters.platform import Platform
from adapters.survey_admin import AdminReply, SurveyAdmin, is_survey_file
from adapters.telegram.render import chunks, keyboard, text_of
from adapters.webhooks import PostFailed
from bot import texts
from bot.campaigns import Audience
from bot.engine import split_command
from bot.i18n import speaking
from bot.messages import Button, Incoming, Kind, Outgoing, Role

log = logging.getLogger("surveybot.telegram")

T = TypeVar("T")
TelegramApp = Application[Any, Any, Any, Any, Any, Any]

PLATFORM = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
MAX_NOTICE = 200
MAX_CAPTION = 1024
ATTEMPTS = 5
BACKOFF = 0.5
"""Seconds before the first retry after a network error; doubled for each further one, up to 30."""

MENU = [
    BotCommand("start", "Start or resume a survey"),
    BotCommand("surveys", "The surveys you can take"),
    BotCommand("back", "Go back to the previous question"),
    BotCommand("skip", "Skip an optional question"),
    BotCommand("restart", "Drop your answers and begin again"),
    BotCommand("stop", "Pause; /start continues later"),
    BotCommand("optout", "No more invitations or reminders (/optin undoes it)"),
    BotCommand("language", "The language I speak with you"),
    BotCommand("link", "Go on in another chat (/unlink undoes it)"),
    BotCommand("help", "What you can send"),
]
ADMIN_MENU = [
    *MENU,
    BotCommand("results", "Results of a survey: /results SURVEY_ID"),
    BotCommand("campaigns", "Campaigns, or one's status: /campaigns [CAMPAIGN_ID]"),
]

PRIVATE_ONLY = texts.TELEGRAM_PRIVATE_ONLY
OPEN_PRIVATE = texts.TELEGRAM_OPEN_PRIVATE

_DEEP_LINK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HARMLESS = ("message is not modified", "query is too old")
"""Refusals that only mean the work was done already: an edit to the same content, a callback query
answered before (a redelivered update)."""


# --------------------------------------------------------------------------- update → Incoming


def to_incoming(update: Update, bot_id: int) -> Incoming | None:
    """The engine's message for a private-chat update: typed text, a command, a button press, or anything
    else a respondent sent (an attachment, which the engine answers with how to answer)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    base = Incoming(
        platform=PLATFORM,
        user_id=str(user.id),
        user_name=user.full_name,
        chat_id=str(chat.id),
        update_id=f"{bot_id}:{update.update_id}",
        language=user.language_code,
    )
    query = update.callback_query
    if query is not None:
        if query.data is None:
            return None
        message_id = str(query.message.message_id) if query.message is not None else None
        return replace(base, button=query.data, message_id=message_id)
    if update.message is None:
        return None
    if update.message.text is None:
        return replace(base, attachment=True)  # a photo, a sticker, a voice message, a location…
    return replace(base, text=update.message.text)


# --------------------------------------------------------------------------- Outgoing → Bot API


async def render(bot: Any, message: Outgoing) -> int | None:
    """Send (or edit) ``message`` in its chat; an edit replaces the message named by ``edit_of``.
    Returns the id of the message sent (its last part), None for an edit or a failed send."""
    chat_id = int(message.chat_id)
    edited = int(message.edit_of) if message.edit_of is not None else None
    if edited is not None and message.kind in (Kind.SELECTION, Kind.RETIRED):
        markup = keyboard(message)  # a retired question's: none
        await deliver(
            lambda: bot.edit_message_reply_markup(chat_id, edited, reply_markup=markup),
            "editMessageReplyMarkup",
        )
        return None
    if edited is not None and message.kind is Kind.ANSWERED:
        text = chunks(message.text)[0]
        await deliver(lambda: bot.edit_message_text(text, chat_id, edited), "editMessageText")
        return None
    return await send_text(bot, chat_id, text_of(message), keyboard(message))


async def send_text(
    bot: Any, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> int | None:
    *head, last = chunks(text)
    for part in head:
        await deliver(lambda part=part: bot.send_message(chat_id, part), "sendMessage")  # type: ignore[misc]
    sent = await deliver(lambda: bot.send_message(chat_id, last, reply_markup=markup), "sendMessage")
    return None if sent is None else int(sent.message_id)


async def deliver(call: Callable[[], Awaitable[T]], what: str, attempts: int = ATTEMPTS) -> T | None:
    """Make one Bot API call: flood control waited out, network errors retried with back-off and
    logged; a refusal is logged. Never raises a Telegram error."""
    failures = 0
    while True:
        try:
            return await call()
        except RetryAfter as exc:
            wait = _seconds(exc)
            log.warning("Telegram flood control on %s: waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
        except BadRequest as exc:
            if any(harmless in exc.message.lower() for harmless in _HARMLESS):
                log.debug("Telegram ignored %s: %s", what, exc.message)
            else:
                log.error("Telegram refused %s: %s", what, exc.message)
            return None
        except Forbidden as exc:
            log.info("Telegram forbids %s (the user blocked the bot?): %s", what, exc.message)
            return None
        except NetworkError as exc:
            failures += 1
            if failures >= attempts:
                log.error("giving up on %s after %d network errors: %s", what, failures, exc)
                return None
            delay = min(BACKOFF * 2 ** (failures - 1), 30.0)
            log.warning("network error on %s (%s); retry %d in %.1f s", what, exc, failures, delay)
            await asyncio.sleep(delay)
        except TelegramError as exc:
            log.error("Telegram error on %s: %s", what, exc)
            return None


@contextlib.contextmanager
def _refusals(permanent: tuple[type[TelegramError], ...] = ()) -> Iterator[None]:
    """Telegram's refusals of a campaign's or a broadcast's message as :class:`PostFailed`: flood
    control with the wait it asks for; one of ``permanent`` as final (trying again cannot help)."""
    try:
        yield
    except RetryAfter as exc:
        raise PostFailed("Telegram flood control", _seconds(exc)) from exc
    except TelegramError as exc:
        raise PostFailed(f"Telegram: {exc.message}", permanent=isinstance(exc, permanent)) from exc


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


# --------------------------------------------------------------------------- the adapter


class _InOrderPerUser(BaseUpdateProcessor):
    """Updates of different users are handled concurrently, those of one user in arrival order."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._users: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        key = user.id if user is not None else 0
        lock, users = self._users.get(key, (asyncio.Lock(), 0))
        self._users[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._users[key]
            if users == 1:
                del self._users[key]
            else:
                self._users[key] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def build_application(
    settings: TelegramSettings, request: BaseRequest | None = None, rate_limited: bool = True
) -> TelegramApp:
    """python-telegram-bot's Application as transport: base URL, rate limiter (Telegram's limits; off
    only for benchmarks against a fake Bot API), no updater for webhooks."""
    assert settings.bot_token is not None
    root = settings.api_base_url.rstrip("/")
    builder = (
        Application.builder()
        .token(settings.bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .concurrent_updates(_InOrderPerUser())
        .job_queue(None)
    )
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    if settings.webhook_url:
        builder = builder.updater(None)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    return builder.build()


def webhook_secret(token: str) -> str:
    """The ``secret_token`` Telegram sends with every webhook request: derived from the bot token, so
    every worker process knows it without more configuration."""
    return hmac.new(token.encode(), b"surveybot telegram webhook", hashlib.sha256).hexdigest()


def webhook_target(url: str) -> str:
    """The URL given to setWebhook: ``telegram.webhook_url``, with ``/telegram/webhook`` added when it
    names only a host."""
    return url.rstrip("/") + WEBHOOK_PATH if urlsplit(url).path in ("", "/") else url


class TelegramAdapter:
    def __init__(self, app: App, application: TelegramApp) -> None:
        self.app = app
        self.application = application
        self.admins = set(app.config.admins.telegram)
        from adapters.check import upload_warnings  # it imports this package's renderer: not at the top

        self.admin = SurveyAdmin(
            app.surveys,
            app.cache,
            app.responses,
            self.admins,
            campaigns=functools.partial(campaign_report, app.campaign_runner({})),
            check=upload_warnings,
        )
        self.settings = app.config.telegram
        self._secret = webhook_secret(application.bot.token).encode()
        keep_secret(application.bot.token, self._secret.decode())
        self._ready = asyncio.Lock()
        self._initialized = False
        self._startup: asyncio.Task[None] | None = None
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self._on_error)

    @property
    def bot(self) -> Any:
        return self.application.bot

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        """Connect in the background (retrying while Telegram is unreachable), set the command menu,
        then poll, or set the webhook that the web server's ``/telegram/webhook`` receives."""
        self._startup = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._initialize()
            await self._set_commands()
            if self.settings.webhook_url:
                url = webhook_target(self.settings.webhook_url)
                if await deliver(
                    lambda: self.bot.set_webhook(
                        url, secret_token=self._secret.decode(), allowed_updates=ALLOWED_UPDATES
                    ),
                    "setWebhook",
                    attempts=1_000_000,
                ):
                    log.info("Telegram webhook set to %s", url)
                return
            await self.application.start()
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1, error_callback=self._polling_error
            )
            log.info("Telegram long polling started as @%s", self.bot.username)
        except InvalidToken:
            log.error("Telegram refused the bot token (TELEGRAM_BOT_TOKEN); the Telegram adapter is off")
        except Exception:
            log.exception("the Telegram adapter failed to start")

    async def _initialize(self) -> None:
        if self._initialized:
            return
        delay = BACKOFF
        async with self._ready:
            while not self._initialized:
                try:
                    await self.application.initialize()
                    self._initialized = True
                except NetworkError as exc:
                    log.warning("cannot reach the Telegram Bot API (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)

    async def _set_commands(self) -> None:
        await deliver(lambda: self.bot.set_my_commands(MENU), "setMyCommands")
        for admin in sorted(self.admins):
            await deliver(
                lambda admin=admin: self.bot.set_my_commands(  # type: ignore[misc]
                    ADMIN_MENU, scope=BotCommandScopeChat(int(admin))
                ),
                "setMyCommands (admin)",
            )

    async def post(self, chat: str, text: str) -> None:
        """A broadcast to a group or channel (plain text: nothing in it is markup)."""
        await self._initialize()
        target: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        with _refusals():
            await self.bot.send_message(target, chunks(text)[0])

    # ------------------------------------------------------------------ campaigns (adapters.campaigns.Reach)

    async def people(self, audience: Audience) -> list[Person]:
        """The campaign's Telegram people, named by their chat (Telegram keeps no time zone)."""
        await self._initialize()
        people = []
        joined = (
            await self.app.contacts.tagged(PLATFORM, audience.telegram_tags) if audience.telegram_tags else []
        )
        for user_id in dict.fromkeys([*audience.telegram, *(user for user, _ in joined)]):
            name = "there"
            try:
                chat = await self.bot.get_chat(int(user_id))
                name = chat.first_name or chat.full_name or name
            except TelegramError as exc:  # never started the bot, or blocked it: the invite will say
                log.info("no Telegram chat for a campaign's person: %s", exc.message)
            except (AttributeError, TypeError, KeyError, ValueError) as exc:  # a reply PTB cannot read
                log.warning("a Telegram chat could not be read (%s); the person is invited unnamed", exc)
            people.append(Person(PLATFORM, user_id, name))
        return people

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        await self._initialize()
        start = Outgoing(
            user_id, text, actions=(Button(f"Start “{title}”", f"/start {survey_id}", role=Role.START),)
        )
        with _refusals(permanent=(Forbidden, BadRequest)):  # blocked the bot, never started it, no chat
            await self.bot.send_message(int(user_id), chunks(text)[0], reply_markup=keyboard(start))

    async def report(self, chat: str, reply: AdminReply) -> None:
        """A campaign's digest in a group or channel: the text, then each chart as a photo."""
        await self._initialize()
        target: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        text = f"{reply.text}\n{reply.detail}" if reply.detail else reply.text
        with _refusals(permanent=(Forbidden,)):
            for part in chunks(text):
                await self.bot.send_message(target, part)
            for chart in reply.charts:
                await self.bot.send_photo(
                    target, chart.png, caption=chart.title[:MAX_CAPTION], filename=f"{chart.name}.png"
                )

    async def stop(self) -> None:
        if self._startup is not None:
            self._startup.cancel()
            await asyncio.gather(self._startup, return_exceptions=True)
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        self._initialized = False

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("Telegram polling failed (%s); retrying", exc)

    async def _on_error(self, update: object, context: Any) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)

    def mount(self, web: Any) -> None:
        """Add ``POST /telegram/webhook`` to the FastAPI app. Any number of worker processes may serve
        it: each checks the secret token and hands the update to the engine (state is in Redis)."""
        from starlette.requests import Request
        from starlette.responses import Response

        async def telegram_webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, self._secret):
                return Response(status_code=403)
            try:
                data = await request.json()
            except ValueError:
                return Response(status_code=400)
            if not isinstance(data, dict):
                return Response(status_code=400)
            await self._initialize()
            try:
                update = Update.de_json(data, self.bot)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # Authentic (the secret matched) but not an update we can read: Telegram redelivers
                # anything but a 2xx for hours, so it is acknowledged and dropped.
                log.warning("a Telegram update could not be read and was dropped: %s", type(exc).__name__)
                return Response(status_code=200)
            await self.application.process_update(update)
            return Response(status_code=200)

        web.add_route(WEBHOOK_PATH, telegram_webhook, methods=["POST"], include_in_schema=False)

    # ------------------------------------------------------------------ one update

    async def on_update(self, update: Update, _: Any) -> None:
        query = update.callback_query
        user = str(update.effective_user.id) if update.effective_user else ""
        answered = False
        try:
            replies = await self._replies(update)
            if query is not None:
                notice = "\n".join(m.text for m in replies if m.kind is Kind.NOTICE)[:MAX_NOTICE]
                answered = True
                await deliver(lambda: query.answer(notice or None), "answerCallbackQuery")
                replies = [m for m in replies if m.kind is not Kind.NOTICE]
            for message in replies:
                await self._render(message, user)
        finally:
            if query is not None and not answered:
                await deliver(query.answer, "answerCallbackQuery")

    async def _render(self, message: Outgoing, user_id: str) -> None:
        """Send ``message``; a question with buttons is reported to the engine, which retires its
        buttons when the conversation moves on."""
        sent = await render(self.bot, message)
        if message.live_question is not None and sent is not None:
            await self.app.engine.shown(PLATFORM, user_id, message.live_question, str(sent))

    async def _replies(self, update: Update) -> list[Outgoing]:
        chat, user, message = update.effective_chat, update.effective_user, update.message
        if chat is None or user is None:
            return []
        if chat.type != Chat.PRIVATE:
            return await self._to_private_chat(update)
        update_id = f"{self.bot.id}:{update.update_id}"
        if message is not None and message.document is not None and self._maybe_survey(message, str(user.id)):
            async with self.app.once(PLATFORM, str(user.id), update_id) as first:
                if first:
                    await self._upload(message, str(user.id))
            return []
        if message is not None and (message.text or "").startswith("/"):
            command, argument = split_command(message.text or "")
            if command == "results":
                async with self.app.once(PLATFORM, str(user.id), update_id) as first:
                    if first:
                        await self._results(chat.id, str(user.id), argument)
                return []
            if command == "campaigns" and self.admin.is_admin(str(user.id)):
                async with self.app.once(PLATFORM, str(user.id), update_id) as first:
                    if first:
                        await self._reply(chat.id, await self.admin.campaign_report(str(user.id), argument))
                return []
        incoming = to_incoming(update, self.bot.id)
        return [] if incoming is None else await handle_observed(self.app.engine, incoming)

    async def _to_private_chat(self, update: Update) -> list[Outgoing]:
        chat_id = str(update.effective_chat.id) if update.effective_chat else ""
        t = speaking(update.effective_user.language_code if update.effective_user else None)
        if update.callback_query is not None:
            return [Outgoing(chat_id, t.gettext(PRIVATE_ONLY), Kind.NOTICE)]
        text = update.message.text if update.message is not None else None
        if not text or not text.startswith("/"):
            return []
        head = text.split(maxsplit=1)[0]
        if "@" in head and head.split("@", 1)[1].lower() != (self.bot.username or "").lower():
            return []
        command, argument = split_command(text)
        link = f"https://t.me/{self.bot.username}"
        if command == "start" and _DEEP_LINK.fullmatch(argument):
            link += f"?start={argument}"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t.gettext(OPEN_PRIVATE), url=link)]])
        await send_text(self.bot, int(chat_id), t.gettext(PRIVATE_ONLY), markup)
        return []

    # ------------------------------------------------------------------ admins

    def _maybe_survey(self, message: Message, user_id: str) -> bool:
        """An admin's document, or anyone's .yaml file, is an upload; a respondent's other file (a PDF,
        a picture sent as a file) is for the engine, which asks for text or a button instead."""
        name = (message.document.file_name if message.document else None) or ""
        return self.admin.is_admin(user_id) or is_survey_file(name)

    async def _upload(self, message: Message, user_id: str) -> None:
        document = message.document
        assert document is not None
        name = document.file_name or "survey.yaml"
        refusal = self.admin.refuse_upload(user_id, name, document.file_size)
        if refusal is not None:
            if not self.admin.is_admin(user_id):
                log.info("a Telegram survey upload was refused: not from an admin")
            await self._reply(message.chat.id, refusal)
            return
        file = await deliver(document.get_file, "getFile")
        if file is not None and document.file_size is None:
            # The size decides before the download, and a size is optional in both the message and
            # getFile: a file of unknown size is not downloaded (Telegram lets bots fetch 20 MB).
            size = file.file_size if file.file_size is not None else -1
            refusal = self.admin.refuse_upload(user_id, name, size)
            if refusal is not None:
                await self._reply(message.chat.id, refusal)
                return
        content = None if file is None else await deliver(file.download_as_bytearray, "file download")
        await self._reply(
            message.chat.id, await self.admin.load(name, None if content is None else bytes(content))
        )

    async def _results(self, chat_id: int, user_id: str, survey_id: str) -> None:
        await self._reply(chat_id, await self.admin.results(user_id, survey_id))

    async def _reply(self, chat_id: int, reply: AdminReply) -> None:
        """An admin's answer: its text and detail in a message, then each chart as a photo."""
        await send_text(self.bot, chat_id, f"{reply.text}\n{reply.detail}" if reply.detail else reply.text)
        for chart in reply.charts:
            caption = chart.title[:MAX_CAPTION]
            await deliver(
                lambda chart=chart, caption=caption: self.bot.send_photo(  # type: ignore[misc]
                    chat_id, chart.png, caption=caption, filename=f"{chart.name}.png"
                ),
                "sendPhoto",
            )


def telegram_platform(app: App, request: BaseRequest | None = None) -> Platform:
    """The Telegram platform for ``surveybot run``: long polling, or a webhook when ``webhook_url`` is set."""
    adapter = TelegramAdapter(app, build_application(app.config.telegram, request))
    webhook = bool(app.config.telegram.webhook_url)
    return Platform(
        PLATFORM,
        start=adapter.start,
        stop=adapter.stop,
        mount=adapter.mount if webhook else None,
        details={"mode": "webhook" if webhook else "polling", "api": app.config.telegram.api_base_url},
        post=adapter.post,
        reach=adapter,
    )
