"""The conversation engine: one neutral incoming message in, the messages to send back out.

The engine sends nothing itself and knows no platform or store: it calls the ports of :mod:`bot.ports`.
Each message is handled under the respondent's lock (so two processes never interleave one respondent),
every valid answer is written to the response before the reply is produced, and a redelivered platform
update is answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot import actions, answers, texts
from bot.catalog import SurveyCache
from bot.errors import DuplicateResponse, InvalidAnswer, StaleResponse, StorageUnavailable, SurveyNotFound
from bot.flow import current_question, may_end_after, next_question
from bot.i18n import ENGLISH, LANGUAGES, Translation, language_name, negotiate, speaking
from bot.links import (
    CODE_TTL_S,
    POLICY,
    RedeemStatus,
    code_hash,
    code_key,
    new_code,
    normalize,
    shown,
    typed_code,
)
from bot.messages import Button, ConversationKey, Incoming, Kind, Outgoing, Role, Topic
from bot.placeholders import render
from bot.ports import ContactStore, LinkStore, OptOutStore, ResponseStore, SessionStore
from bot.responses import (
    Answer,
    AnswerValue,
    Respondent,
    Response,
    Session,
    Status,
    Ticks,
    Turn,
    respondent_key,
)
from bot.states import Input, Outcome, Standing, State, SurveyStanding, outcome
from bot.survey import BUTTON_TYPES, COMPLETED, STARTED, Question, QuestionType, Survey

log = logging.getLogger("surveybot.engine")

COMMANDS = frozenset(
    {
        "start",
        "back",
        "skip",
        "restart",
        "stop",
        "surveys",
        "help",
        "optout",
        "optin",
        "language",
        "link",
        "unlink",
    }
)

TAG_PREFIX = "TAG_"
"""``/start TAG_team`` (a Telegram link ``?start=TAG_team``) puts the person on the ``team`` list. Survey ids
are lower case, so no survey id starts so."""
_TAG = re.compile(r"[a-z0-9_-]{1,32}")

DEFAULT_TTL = 24 * 3600
DEFAULT_DEADLINE = 3.0

EVENTS = ("answer_saved", "answer_invalid", "survey_completed", "store_error")
"""What the engine reports to its ``events`` observer, each with the platform of the message."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def split_command(text: str) -> tuple[str, str]:
    """``/start@my_bot ice-cream`` → ``("start", "ice-cream")``."""
    head, _, rest = text.strip().lstrip("/").partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()


@dataclass
class _Context:
    """What one handled message has gathered: the session to keep, and the replies so far."""

    msg: Incoming
    session: Session | None
    ttl: int = DEFAULT_TTL
    out: list[Outgoing] = field(default_factory=list)
    values: dict[str, AnswerValue] | None = None
    prompt: str | None = None
    """The question the engine had last asked this respondent (from the session): what a typed answer
    answers when the client does not say."""
    writing: bool = False
    """A write to the response is under way: if it fails or times out, it may still have landed."""
    refreshed: bool = False
    """The session was found stale and rebuilt from the response once already."""
    language: str | None = None
    """The language of the conversation: the response's, once one is known; else None (the
    respondent's platform language is then used for the bot's own texts)."""

    identity: str | None = None
    """The key the respondent's responses are stored under (see :meth:`Engine._identity`), once known."""
    handing_over: bool = False
    """The respondent asked for a link code: the conversation goes on in another chat, so this chat's
    live buttons are retired now (the question is asked again should they come back here)."""

    @property
    def t(self) -> Translation:
        """The bot's own texts in the conversation's language (English where the bot has none)."""
        return speaking(self.language, self.msg.language)

    def say(self, text: str, kind: Kind = Kind.INFO, actions: tuple[Button, ...] = ()) -> None:
        self.out.append(Outgoing(chat_id=self.msg.chat_id, text=text, kind=kind, actions=actions))


class Engine:
    """Drives respondents through surveys. Hold one per process; it keeps no per-respondent state."""

    def __init__(
        self,
        surveys: SurveyCache,
        responses: ResponseStore,
        sessions: SessionStore,
        secret: bytes,
        clock: Callable[[], datetime] = _utcnow,
        events: Callable[[str, str], None] | None = None,
        deadline: float = DEFAULT_DEADLINE,
        opt_outs: OptOutStore | None = None,
        contacts: ContactStore | None = None,
        links: LinkStore | None = None,
    ) -> None:
        """``events``, when given, is called with ``(event, platform)`` for each of :data:`EVENTS` that
        happens (for metrics); it must be quick, and whatever it raises is logged and ignored.
        ``deadline`` is how many seconds one message may take before the respondent is told to try
        again. ``opt_outs`` keeps who said ``/optout`` (campaigns invite nobody who did)."""
        self._opt_outs = opt_outs
        self._contacts = contacts
        self._links = links
        self._code_key = code_key(secret)
        self._surveys = surveys
        self._responses = responses
        self._sessions = sessions
        self._secret = secret
        self._clock = clock
        self._events = events
        self._deadline = deadline

    def _emit(self, event: str, platform: str) -> None:
        if self._events is None:
            return
        try:
            self._events(event, platform)
        except Exception:
            log.exception("the events observer failed on %s", event)

    async def handle(self, msg: Incoming) -> list[Outgoing]:
        """Handle one incoming message and return what to send back, in order.

        The response in MongoDB decides: the session is a cache, rebuilt from the response whenever a
        write, a read or a button finds it outdated. An update handled to the end before gets no reply;
        one that changed the response but whose handling did not finish (a crash, a timeout) is
        recognised from the response and answered with the step that follows it, never applied twice.
        A store outage or a message that outlives the deadline is answered with "please try again" (or,
        when a write was under way and may have landed, with "could not confirm"); the same update may
        then be delivered again.
        """
        key = msg.key
        turn: Turn | None = None
        ctx: _Context | None = None
        try:
            # One deadline for taking the turn and handling the message (one timer, not two).
            async with asyncio.timeout(self._deadline):
                turn = await self._sessions.begin(key, msg.update_id)
                if turn.duplicate:
                    # Handled to the end, replies included, by some process: a platform's retry gets
                    # nothing. (Update ids may name the person: not logged.)
                    log.info("a duplicate %s update was ignored", key.platform)
                    return []
                ctx = _Context(msg, turn.session, prompt=turn.session.question_id if turn.session else None)
                ctx.language = turn.session.language if turn.session is not None else None
                if (
                    turn.session is not None
                    and turn.session.linked
                    and await self._identity(ctx) == self._own(ctx)
                ):
                    ctx.session = None  # the link ended (from the other chat): that response is not ours
                if turn.session is not None:
                    ctx.ttl = await self._ttl_of(turn.session)
                await self._run(ctx)
                await self._settle_live(ctx, turn.session)
        except (StorageUnavailable, TimeoutError) as exc:
            if turn is None or ctx is None:
                return self._failed(msg, exc, writing=False)
            await self._sessions.abort(key, turn)
            unsent = isinstance(exc, StorageUnavailable) and not exc.sent
            return self._failed(msg, exc, writing=ctx.writing and not unsent)
        except BaseException:
            if turn is not None and not turn.duplicate:
                await self._sessions.abort(key, turn)
            raise
        try:
            async with asyncio.timeout(self._deadline):
                kept = await self._sessions.commit(key, turn, ctx.session, ctx.ttl, msg.update_id)
            if not kept:
                log.warning("a %s respondent's lock expired before the session was saved", key.platform)
        except (StorageUnavailable, TimeoutError) as exc:
            # The answer (if any) is in MongoDB already; the next message rebuilds the session from it.
            log.warning("session not saved for a %s respondent: %s", key.platform, exc or "timed out")
            self._emit("store_error", key.platform)
        return ctx.out

    async def shown(self, platform: str, user_id: str, question_id: str, message_id: str) -> None:
        """An adapter posted question ``question_id`` with its buttons as platform message ``message_id``:
        the engine retires those buttons once the conversation moves past it, in any process. Call it for
        each question message with buttons, after it was sent."""
        try:
            await self._sessions.mark_live(ConversationKey(platform, user_id), question_id, message_id)
        except StorageUnavailable as exc:
            # The buttons then stay until pressed, and a press is answered "already answered".
            log.warning("the live question message of a %s respondent was not recorded: %s", platform, exc)

    async def _settle_live(self, ctx: _Context, before: Session | None) -> None:
        """Retire the buttons of the message that carried them when the conversation moved on (a new
        question asked, the survey finished) unless a press edited that message already; the session
        keeps pointing at a message whose buttons are still live."""
        asked = any(m.live_question is not None for m in ctx.out)
        live = before.live if before is not None else None
        if before is not None and live is not None:
            edited = any(m.edit_of == live and m.kind is Kind.ANSWERED for m in ctx.out)
            moved = ctx.session is None or ctx.session.question_id != before.question_id
            if edited or asked or moved or ctx.handing_over:
                if not edited:
                    ctx.out.insert(0, await self._retired(ctx, before, live))
                live = None
        if ctx.session is not None:
            # Still live (nothing moved on), or none until the adapter reports the new question's message.
            ctx.session = replace(ctx.session, live=live)

    async def _retired(self, ctx: _Context, before: Session, live: str) -> Outgoing:
        text = ""
        with contextlib.suppress(SurveyNotFound, KeyError):
            survey = (await self._surveys.get(before.survey_id, before.version)).in_language(before.language)
            question = survey.question(before.question_id)
            text = self._render(ctx, survey, question.text, ctx.values or {})
        return Outgoing(
            chat_id=ctx.msg.chat_id,
            text=text,
            kind=Kind.RETIRED,
            question_id=before.question_id,
            edit_of=live,
        )

    def _failed(self, msg: Incoming, exc: BaseException, writing: bool) -> list[Outgoing]:
        reason = str(exc) or f"no answer within {self._deadline} s"
        log.warning("a %s message could not be handled (%s): %s", msg.platform, type(exc).__name__, reason)
        self._emit("store_error", msg.platform)
        text = speaking(msg.language).gettext(texts.UNCONFIRMED if writing else texts.UNAVAILABLE)
        return [Outgoing(chat_id=msg.chat_id, text=text, kind=Kind.ERROR)]

    async def _ttl_of(self, session: Session) -> int:
        try:
            survey = await self._surveys.get(session.survey_id, session.version)
        except SurveyNotFound:
            return DEFAULT_TTL
        return survey.settings.session_ttl

    async def _run(self, ctx: _Context) -> None:
        """Dispatch the message; when the session turns out outdated, rebuild it and dispatch once more."""
        try:
            await self._dispatch(ctx)
            return
        except StaleResponse:  # from a refused write, or a session found behind the response
            if ctx.refreshed or not await self._refresh(ctx):
                return
            ctx.out.clear()
        try:
            await self._dispatch(ctx)
        except StaleResponse:
            # Changed again under us (a writer that did not wait for the lock): show where it stands.
            ctx.out.clear()
            ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            await self._replay(ctx)

    async def _refresh(self, ctx: _Context) -> bool:
        """Rebuild the session from the response in MongoDB. False when that shows the message was
        handled already (its step is then shown again) or nothing is left to do."""
        ctx.refreshed = True
        ctx.values = None
        old = ctx.session
        response = await self._responses.get(old.response_id) if old is not None else None
        if response is not None and ctx.msg.update_id is not None and ctx.msg.update_id in response.applied:
            log.info("a %s update was applied already: its next step is shown again", ctx.msg.platform)
            await self._replay(ctx, response)
            return False
        ctx.session = None
        if response is None or response.status is not Status.IN_PROGRESS:
            return True
        survey = await self._survey_of(ctx, response)
        question = current_question(survey, response)
        if question is not None:
            log.info("outdated session of a %s respondent rebuilt from the response", ctx.msg.platform)
            self._follow(ctx, survey, response, question)
        return True

    async def _replay(self, ctx: _Context, response: Response | None = None) -> None:
        """Show again what followed an update that was handled before: the question the response waits
        for, or the goodbye. Nothing is written, unless the response is finished but not yet completed."""
        if response is None:
            if ctx.session is not None:
                response = await self._responses.get(ctx.session.response_id)
            elif ctx.msg.update_id is not None:
                response = await self._responses.find_by_update(await self._identity(ctx), ctx.msg.update_id)
        if response is None:
            return
        survey = await self._survey_of(ctx, response)
        if response.status is Status.COMPLETED:
            ctx.session = None
            ctx.say(self._goodbye(ctx, survey, response))
            return
        await self._continue(ctx, survey, response)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, ctx: _Context) -> None:
        msg = ctx.msg
        if ctx.session is None and msg.update_id is not None and not ctx.refreshed:
            # Redis lost the session (or never had it): an update that changed a response is known there.
            applied = await self._responses.find_by_update(await self._identity(ctx), msg.update_id)
            if applied is not None:
                log.info("a %s update was applied before the session was lost: replayed", msg.platform)
                await self._replay(ctx, applied)
                return
        if msg.attachment:
            await self._not_text(ctx)
            return
        if msg.button is not None:
            if msg.button.startswith("/"):
                await self._command(ctx, *split_command(msg.button))
            else:
                await self._press(ctx, msg.button)
            return
        if msg.command:
            await self._command(ctx, msg.command.lstrip("/").lower(), msg.text.strip())
            return
        text = msg.text.strip()
        if text.startswith("/"):
            await self._command(ctx, *split_command(text))
            return
        word, _, rest = text.partition(" ")
        word = word.lower()
        code = typed_code(text) if self._links is not None else None
        if code is not None or (
            word in COMMANDS and (not rest.strip() or word in ("start", "link", "language"))
        ):
            active = await self._ongoing_or_finish(ctx)
            if active is None or active[0].paused or active[2].type is not QuestionType.TEXT:
                if code is not None:
                    await self._redeem(ctx, code)
                else:
                    await self._command(ctx, word, rest.strip())
                return
        await self._answer_text(ctx, text)

    async def _command(self, ctx: _Context, command: str, arg: str) -> None:
        if command == "start":
            await self._start(ctx, arg)
        elif command == "surveys":
            await self._list_surveys(ctx, ctx.t.gettext(texts.PICK_SURVEY))
        elif command == "language":
            await self._language(ctx, arg)
        elif command == "link":
            await (self._issue_code(ctx) if not arg else self._redeem_typed(ctx, arg))
        elif command == "unlink":
            await self._unlink(ctx)
        elif command == "help":
            ctx.out.append(
                Outgoing(
                    chat_id=ctx.msg.chat_id,
                    text=ctx.t.gettext(texts.HELP),
                    topic=Topic.HELP,
                    language=ctx.t.language,
                )
            )
        elif command in ("optout", "optin"):
            if self._opt_outs is None:
                ctx.say(ctx.t.gettext(texts.NO_INVITATIONS))
                return
            await self._opt_outs.record(await self._identity(ctx), command == "optout")
            ctx.say(ctx.t.gettext(texts.OPTED_OUT) if command == "optout" else ctx.t.gettext(texts.OPTED_IN))
        elif command in ("back", "skip", "restart", "stop"):
            active = await self._ongoing_or_finish(ctx)
            verdict = outcome(_state(active), Input(command))
            if active is None or verdict is Outcome.NOT_STARTED:
                ctx.say(ctx.t.gettext(texts.NOTHING_IN_PROGRESS))
                return
            session, survey, question = active
            if verdict is Outcome.PAUSED:
                ctx.say(ctx.t.gettext(texts.STILL_PAUSED).format(title=survey.title))
                return
            if command == "back":
                await self._back(ctx, session, survey, question)
            elif command == "skip":
                await self._skip(ctx, session, survey, question)
            elif command == "restart":
                await self._restart(ctx, session, survey)
            else:
                ticks = Ticks(question.id, session.selection) if session.selection else None
                mark = self._responses.mark(
                    session.response_id, session.revision, ticks, True, ctx.msg.update_id
                )
                ctx.session = replace(
                    Session.of(await self._write(ctx, mark), question.id), linked=session.linked
                )
                ctx.say(ctx.t.gettext(texts.PAUSED))
        else:
            ctx.say(
                ctx.t.gettext(texts.UNKNOWN_COMMAND).format(command=command)
                + "\n\n"
                + ctx.t.gettext(texts.HELP),
                Kind.ERROR,
            )

    # ------------------------------------------------------------------ the active conversation

    async def _ongoing_or_finish(self, ctx: _Context) -> tuple[Session, Survey, Question] | None:
        """The respondent's current session, its survey and question; rebuilt from MongoDB if lost.

        Not only a look-up: a response whose every question is answered but whose completion was cut
        short (a crash between the two writes) is completed here, with its goodbye, and None returned."""
        if ctx.session is not None:
            try:
                survey = await self._surveys.get(ctx.session.survey_id, ctx.session.version)
                survey = survey.in_language(ctx.language)
                return ctx.session, survey, survey.question(ctx.session.question_id)
            except (SurveyNotFound, KeyError):
                ctx.session = None
        response = await self._responses.find_in_progress(await self._identity(ctx))
        if response is None:
            return None
        survey = await self._survey_of(ctx, response)
        question = current_question(survey, response)
        if question is None:
            await self._finish(ctx, survey, response)
            return None
        log.info("session rebuilt from the stored response for a %s respondent", ctx.msg.platform)
        return self._follow(ctx, survey, response, question), survey, question

    async def _values(self, ctx: _Context, session: Session) -> dict[str, AnswerValue]:
        """The answers so far, read from the response, which also shows whether the session is behind."""
        if ctx.values is None:
            ctx.values = (await self._read(ctx, session)).values()
        return ctx.values

    async def _read(self, ctx: _Context, session: Session) -> Response:
        """The session's response; :class:`StaleResponse` when the session is behind it (once: after a
        refresh, the caller's conditional write says so)."""
        response = await self._responses.get(session.response_id)
        if response.revision != session.revision and not ctx.refreshed:
            raise StaleResponse(f"session of response '{session.response_id}' is behind it")
        return response

    async def _ask_again(self, ctx: _Context, session: Session, survey: Survey, question: Question) -> None:
        ctx.out.append(self._ask(ctx, survey, question, await self._values(ctx, session), session.selection))

    # ------------------------------------------------------------------ answers

    async def _answer_text(self, ctx: _Context, text: str) -> None:
        active = await self._ongoing_or_finish(ctx)
        if active is None:
            if not ctx.out:
                ctx.say(ctx.t.gettext(texts.NOTHING_IN_PROGRESS))
            return
        session, survey, question = active
        if outcome(_state(active), Input.ANSWER) is Outcome.PAUSED:
            ctx.say(ctx.t.gettext(texts.STILL_PAUSED).format(title=survey.title))
            return
        answering = ctx.msg.question_id or ctx.prompt
        if answering is not None and answering != question.id:
            # Typed for a question that is answered already (a resend, a double send, a reply that the
            # respondent never saw): never stored as the answer to the next one.
            if not ctx.refreshed:
                raise StaleResponse(f"typed for {answering}, answered already")
            ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            await self._ask_again(ctx, session, survey, question)
            return
        try:
            if question.pattern is None:
                value = answers.parse_answer(question, text, ctx.t)
            else:  # a pattern match releases the GIL and is time-limited: off the event loop
                value = await asyncio.to_thread(answers.parse_answer, question, text, ctx.t)
        except InvalidAnswer as exc:
            await self._reject(ctx, session, survey, question, str(exc))
            return
        await self._save(ctx, session, survey, question, value)

    async def _not_text(self, ctx: _Context) -> None:
        """Something other than text: say how to answer, and ask the question again if one is waiting."""
        active = await self._ongoing_or_finish(ctx)
        ctx.say(ctx.t.gettext(texts.TEXT_ONLY), Kind.ERROR)
        if outcome(_state(active), Input.ATTACHMENT) is Outcome.HANDLE and active is not None:
            session, survey, question = active
            await self._ask_again(ctx, session, survey, question)

    async def _reject(
        self, ctx: _Context, session: Session, survey: Survey, question: Question, default: str
    ) -> None:
        values = await self._values(ctx, session)
        message = self._render(ctx, survey, question.error, values) if question.error else default
        self._emit("answer_invalid", ctx.msg.platform)
        ctx.say(message, Kind.ERROR)
        await self._ask_again(ctx, session, survey, question)

    async def _press(self, ctx: _Context, value: str) -> None:
        press = actions.decode(value)
        active = await self._ongoing_or_finish(ctx)
        if active is None or press is None:
            ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            return
        session, survey, question = active
        if press.tag != actions.survey_tag(survey) or press.question_id != question.id:
            if not ctx.refreshed:
                raise StaleResponse(f"pressed {value}")  # the session may be behind the response: look first
            ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            return
        received = {Role.TOGGLE: Input.TOGGLE, Role.SUBMIT: Input.SUBMIT}.get(press.role, Input.ANSWER)
        if outcome(_state(active), received) is Outcome.PAUSED:
            ctx.say(ctx.t.gettext(texts.STILL_PAUSED).format(title=survey.title), Kind.NOTICE)
            return
        multi = question.type is QuestionType.MULTI_CHOICE
        picked = ctx.msg.picked
        if picked is not None:
            picked = tuple(sorted({i for i in picked if 0 <= i < len(question.choices)}))
        if press.role is Role.TOGGLE and multi:
            if picked is not None:
                await self._tick(ctx, session, survey, question, picked)
            elif press.index is not None and 0 <= press.index < len(question.choices):
                await self._tick(
                    ctx, session, survey, question, tuple(set(session.selection) ^ {press.index})
                )
            else:
                ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            return
        if press.role is Role.SUBMIT and multi:
            selection = session.selection if picked is None else picked
            chosen = [question.choices[i].id for i in sorted(selection)]
            problem = None
            if len(chosen) < question.min_choices:
                problem = ctx.t.plural(texts.PICK_MORE, question.min_choices).format(n=question.min_choices)
            elif question.max_choices is not None and len(chosen) > question.max_choices:
                problem = ctx.t.plural(texts.PICK_FEWER, question.max_choices).format(n=question.max_choices)
            if problem is None:
                await self._save(ctx, session, survey, question, chosen)
                return
            self._emit("answer_invalid", ctx.msg.platform)
            if picked is not None and picked != session.selection:
                await self._tick(ctx, session, survey, question, picked)  # the checkboxes stay as ticked
            ctx.say(problem, Kind.NOTICE)
            return
        answer = _button_value(question, press.index) if press.role is Role.ANSWER else None
        if answer is None:
            ctx.say(ctx.t.gettext(texts.ALREADY_ANSWERED), Kind.NOTICE)
            return
        await self._save(ctx, session, survey, question, answer)

    async def _tick(
        self, ctx: _Context, session: Session, survey: Survey, question: Question, selection: tuple[int, ...]
    ) -> None:
        """Save ``selection`` as the ticked choices and show the question with them."""
        ticks = Ticks(question.id, tuple(sorted(selection)))
        mark = self._responses.mark(
            session.response_id, session.revision, ticks, session.paused, ctx.msg.update_id
        )
        response = await self._write(ctx, mark)
        ticked = self._follow(ctx, survey, response, question)
        asked = self._ask(ctx, survey, question, response.values(), ticked.selection)
        ctx.out.append(replace(asked, kind=Kind.SELECTION, edit_of=ctx.msg.message_id))

    async def _save(
        self, ctx: _Context, session: Session, survey: Survey, question: Question, value: AnswerValue
    ) -> None:
        answer = None if value is None else Answer(value, self._clock())
        response = await self._last_answer(ctx, session, survey, question, answer)
        if response is None:
            response = await self._write(
                ctx,
                self._responses.record(
                    session.response_id, session.revision, question.id, answer, ctx.msg.update_id
                ),
            )
        if value is not None:
            self._emit("answer_saved", ctx.msg.platform)
        values = response.values()
        if ctx.msg.button is not None and ctx.msg.message_id is not None:
            shown = _shown(question, value, ctx.t)
            ctx.out.append(
                Outgoing(
                    chat_id=ctx.msg.chat_id,
                    text=f"{self._render(ctx, survey, question.text, values)}\n✓ {shown}",
                    kind=Kind.ANSWERED,
                    question_id=question.id,
                    edit_of=ctx.msg.message_id,
                )
            )
        picked = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for choice in filter(None, (question.choice(p) for p in picked if question.choices)):
            if choice.reply:
                ctx.say(self._render(ctx, survey, choice.reply, values))
        if question.reply and value is not None:
            ctx.say(self._render(ctx, survey, question.reply, values))
        if response.status is Status.COMPLETED:
            ctx.session, ctx.values = None, values
            self._completed(ctx, survey, response)
            return
        await self._continue(ctx, survey, response)

    async def _last_answer(
        self, ctx: _Context, session: Session, survey: Survey, question: Question, answer: Answer | None
    ) -> Response | None:
        """When ``answer`` finishes the survey, record it and complete the response in one write and
        return the completed response; None when it does not (or may not), for :meth:`record` to save.
        The answers so far are read only after a question that can be the last one."""
        if not may_end_after(survey, question.id):
            return None
        before = await self._read(ctx, session)
        if before.revision != session.revision:
            return None  # refreshed already: the record below is refused as stale, and says so
        kept = {qid: a for qid, a in before.answers_on_path().items() if qid != question.id}
        if answer is not None:
            kept[question.id] = answer
        if next_question(survey, question.id, {q: a.value for q, a in kept.items()}) is not None:
            return None
        complete = self._responses.complete(
            before.id,
            before.revision,
            kept,
            self._clock(),
            last=question.id,
            update_id=ctx.msg.update_id,
            events=_raised(survey, COMPLETED),
        )
        try:
            return await self._write(ctx, complete)
        except DuplicateResponse:
            return None  # completed once before: recorded, then refused as such by _finish

    # ------------------------------------------------------------------ moving along the path

    async def _continue(self, ctx: _Context, survey: Survey, response: Response) -> None:
        """Ask the question the response waits for, or finish it."""
        if response.status is Status.COMPLETED:
            ctx.session = None
            return
        question = current_question(survey, response)
        if question is None:
            await self._finish(ctx, survey, response)
            return
        session = self._follow(ctx, survey, response, question)
        ctx.out.append(self._ask(ctx, survey, question, response.values(), session.selection))

    async def _survey_of(self, ctx: _Context, response: Response) -> Survey:
        """The survey version ``response`` was given on, in its language (which the conversation then
        goes on in)."""
        ctx.language = response.language or ctx.language
        survey = await self._surveys.get(response.survey_id, response.version)
        return survey.in_language(response.language)

    def _follow(self, ctx: _Context, survey: Survey, response: Response, question: Question) -> Session:
        """Make ``response``, waiting for ``question``, what this message's session and values are."""
        ctx.language = response.language or ctx.language
        ctx.session = Session.of(response, question.id, linked=response.respondent.key != self._own(ctx))
        ctx.values = response.values()
        ctx.ttl = survey.settings.session_ttl
        return ctx.session

    async def _write(self, ctx: _Context, write: Awaitable[Response]) -> Response:
        """Await a write to the response, known to be under way should it fail or time out (a write the
        store refused, stale or duplicate, is known not to have landed)."""
        ctx.writing = True
        try:
            response = await write
        except (StaleResponse, DuplicateResponse):
            ctx.writing = False
            raise
        ctx.writing = False
        return response

    async def _finish(self, ctx: _Context, survey: Survey, response: Response) -> None:
        kept = response.answers_on_path()
        ctx.session = None
        ctx.values = response.values()
        try:
            complete = self._responses.complete(
                response.id, response.revision, kept, self._clock(), events=_raised(survey, COMPLETED)
            )
            await self._write(ctx, complete)
        except DuplicateResponse:
            ctx.say(ctx.t.gettext(texts.ALREADY_COMPLETED).format(title=survey.title))
            return
        except StaleResponse:
            fresh = await self._responses.get(response.id)
            if fresh.status is Status.IN_PROGRESS:
                await self._continue(ctx, survey, fresh)
            return
        self._completed(ctx, survey, response)

    def _completed(self, ctx: _Context, survey: Survey, response: Response) -> None:
        log.info("response completed: survey %s version %s", survey.id, survey.version)
        self._emit("survey_completed", ctx.msg.platform)
        ctx.say(self._goodbye(ctx, survey, response))

    def _goodbye(self, ctx: _Context, survey: Survey, response: Response) -> str:
        goodbye = survey.goodbye or ctx.t.gettext(texts.GOODBYE)
        return self._render(ctx, survey, goodbye, response.values())

    async def _back(self, ctx: _Context, session: Session, survey: Survey, question: Question) -> None:
        response = await self._responses.get(session.response_id)
        ctx.values = response.values()
        if not survey.settings.allow_back:
            ctx.say(ctx.t.gettext(texts.NO_BACK), Kind.ERROR)
        elif not response.path:
            ctx.say(ctx.t.gettext(texts.AT_FIRST), Kind.ERROR)
        else:
            rewind = self._responses.rewind(
                response.id, session.revision, response.path[:-1], update_id=ctx.msg.update_id
            )
            await self._continue(ctx, survey, await self._write(ctx, rewind))
            return
        await self._ask_again(ctx, session, survey, question)

    async def _skip(self, ctx: _Context, session: Session, survey: Survey, question: Question) -> None:
        if question.required:
            ctx.say(ctx.t.gettext(texts.NOT_SKIPPABLE), Kind.ERROR)
            await self._ask_again(ctx, session, survey, question)
            return
        await self._save(ctx, session, survey, question, None)

    async def _restart(self, ctx: _Context, session: Session, survey: Survey) -> None:
        rewind = self._responses.rewind(session.response_id, session.revision, (), True, ctx.msg.update_id)
        response = await self._write(ctx, rewind)
        ctx.say(ctx.t.gettext(texts.RESTARTING))
        if survey.welcome:
            ctx.say(self._render(ctx, survey, survey.welcome, {}))
        await self._continue(ctx, survey, response)

    # ------------------------------------------------------------------ starting

    async def _start(self, ctx: _Context, survey_id: str) -> None:
        if survey_id.startswith(TAG_PREFIX):  # a link that puts the person on a list
            await self._join(ctx, survey_id.removeprefix(TAG_PREFIX).lower())
            survey_id = ""
        if not survey_id:
            active = await self._ongoing_or_finish(ctx)
            if active is not None:
                session, survey, _ = active
                await self._resume(ctx, survey, await self._responses.get(session.response_id))
                return
            offered = await self._surveys.offered()
            if len(offered) == 1:
                survey_id = offered[0].id
            else:
                await self._list_surveys(ctx, ctx.t.gettext(texts.PICK_SURVEY))
                return
        survey_id = survey_id.strip().lower()
        key = await self._identity(ctx)
        is_offered = survey_id in {s.id for s in await self._surveys.offered()}
        existing = await self._responses.find(survey_id, key)
        if not is_offered and (existing is None or existing.status is Status.COMPLETED):
            # Archived or unknown: nothing new begins, but a response in progress may be finished.
            await self._list_surveys(ctx, ctx.t.gettext(texts.UNKNOWN_SURVEY).format(survey_id=survey_id))
            return
        if existing is None or existing.status is Status.COMPLETED:
            newest = await self._surveys.get(survey_id)
            if existing is not None and newest.settings.one_response_per_user:
                ctx.say(ctx.t.gettext(texts.ALREADY_COMPLETED).format(title=newest.title))
                return
            if await self._full(newest):
                ctx.say(ctx.t.gettext(texts.SURVEY_FULL).format(title=newest.title))
                return
            try:
                await self._begin_response(ctx, newest)
                return
            except DuplicateResponse:
                existing = await self._responses.find(survey_id, key)
                if existing is None:
                    raise
        pinned = await self._survey_of(ctx, existing)
        await self._resume(ctx, pinned, existing)

    async def _join(self, ctx: _Context, tag: str) -> None:
        if self._contacts is None:
            ctx.say(ctx.t.gettext(texts.NO_INVITATIONS))
        elif not _TAG.fullmatch(tag):
            ctx.say(ctx.t.gettext(texts.BAD_TAG), Kind.ERROR)
        else:
            await self._contacts.tag(ctx.msg.platform, ctx.msg.user_id, ctx.msg.user_name, tag)
            ctx.say(ctx.t.gettext(texts.JOINED).format(tag=tag))

    async def _full(self, survey: Survey) -> bool:
        """Whether ``max_responses`` responses are completed already. Counted when someone new starts
        (not per answer); responses in progress then may still be completed."""
        cap = survey.settings.max_responses
        return cap is not None and await self._responses.completed_at_least(survey.id, cap)

    async def _resume(self, ctx: _Context, survey: Survey, response: Response) -> None:
        if response.paused and response.status is Status.IN_PROGRESS:
            mark = self._responses.mark(
                response.id, response.revision, response.ticks, False, ctx.msg.update_id
            )
            response = await self._write(ctx, mark)
        ctx.say(ctx.t.gettext(texts.RESUMING).format(title=survey.title))
        await self._continue(ctx, survey, response)

    async def _begin_response(self, ctx: _Context, survey: Survey) -> None:
        assert survey.version is not None
        language = await self._choose_language(ctx, survey)
        survey = survey.in_language(language)
        assert survey.version is not None
        ctx.language = language
        msg, now = ctx.msg, self._clock()
        anonymous = survey.settings.anonymous
        respondent = Respondent(
            platform=msg.platform,
            key=await self._identity(ctx),
            user_id=None if anonymous else msg.user_id,
            name=None if anonymous else (msg.user_name or None),
        )
        response = await self._responses.create(
            Response(
                id=secrets.token_hex(12),
                survey_id=survey.id,
                version=survey.version,
                respondent=respondent,
                started_at=now,
                updated_at=now,
                one_per_user=survey.settings.one_response_per_user,
                applied=(msg.update_id,) if msg.update_id is not None else (),
                outbox=_raised(survey, STARTED),
                campaign=msg.campaign,
                language=language,
            )
        )
        log.info("response started: survey %s version %s on %s", survey.id, survey.version, msg.platform)
        if survey.welcome:
            ctx.say(self._render(ctx, survey, survey.welcome, {}))
        await self._continue(ctx, survey, response)

    async def _choose_language(self, ctx: _Context, survey: Survey) -> str | None:
        """The language a new response is given in: the one the respondent chose with ``/language``, else
        their platform's, if the survey (or, for a survey that declares none, the bot) speaks it; else the
        survey's first."""
        wanted = [await self._sessions.preferred_language(ctx.msg.key), ctx.msg.language]
        if survey.languages:
            return negotiate(filter(None, wanted), survey.languages) or survey.languages[0]
        return negotiate(filter(None, wanted), LANGUAGES)

    async def _language(self, ctx: _Context, wanted: str) -> None:
        """``/language [CODE]``: say which languages there are, or go on in another one (the survey in
        progress, and the bot's own texts; outside a survey, for the next one)."""
        active = await self._ongoing_or_finish(ctx)
        survey = active[1] if active is not None else None
        available = survey.languages if survey is not None and survey.languages else LANGUAGES
        chosen = negotiate([wanted], available) if wanted else None
        if chosen is None:
            current = ctx.language or negotiate(filter(None, [ctx.msg.language]), available) or available[0]
            names = ", ".join(f"{code} ({language_name(code)})" for code in available)
            text = ctx.t.gettext(texts.LANGUAGES).format(current=language_name(current), languages=names)
            ctx.say(
                text
                if not wanted
                else f"{ctx.t.gettext(texts.UNKNOWN_LANGUAGE).format(language=wanted)}\n{text}",
                Kind.ERROR if wanted else Kind.INFO,
            )
            return
        await self._sessions.prefer_language(ctx.msg.key, chosen)
        ctx.language = chosen
        if active is None:
            ctx.say(ctx.t.gettext(texts.LANGUAGE_SET).format(language=language_name(chosen)))
            return
        session, survey, question = active
        mark = self._responses.mark(
            session.response_id,
            session.revision,
            Ticks(question.id, session.selection) if session.selection else None,
            session.paused,
            ctx.msg.update_id,
            language=chosen,
        )
        response = await self._write(ctx, mark)
        survey = await self._survey_of(ctx, response)
        ctx.say(ctx.t.gettext(texts.LANGUAGE_SET).format(language=language_name(chosen)))
        await self._continue(ctx, survey, response)

    # ------------------------------------------------------------------ linking chats

    async def _issue_code(self, ctx: _Context) -> None:
        """``/link``: a one-time code that joins another chat to this one's answers (docs/linking.md)."""
        if self._links is None:
            ctx.say(ctx.t.gettext(texts.NO_LINKING), Kind.ERROR)
            return
        identity = await self._identity(ctx)
        for _ in range(5):  # another identity's live code drawn: draw again (1 in millions)
            code = new_code()
            if await self._links.issue(identity, code_hash(self._code_key, code), CODE_TTL_S):
                break
        else:
            raise StorageUnavailable("no free link code was found")
        minutes = CODE_TTL_S // 60
        ctx.handing_over = True
        ctx.say(ctx.t.plural(texts.LINK_CODE, minutes).format(code=shown(code), minutes=minutes))

    async def _redeem_typed(self, ctx: _Context, typed: str) -> None:
        code = normalize(typed)
        if code is None:
            ctx.say(ctx.t.gettext(texts.LINK_NOT_A_CODE).format(text=typed[:40]), Kind.ERROR)
            return
        await self._redeem(ctx, code)

    async def _redeem(self, ctx: _Context, code: str) -> None:
        """A link code typed in this chat: join this chat to the one that asked for it, and go on with
        the response in progress where it stands. Guessing is refused past the limits of
        :data:`bot.links.POLICY`, per respondent and overall, counted atomically across processes."""
        if self._links is None:
            ctx.say(ctx.t.gettext(texts.NO_LINKING), Kind.ERROR)
            return
        mine = await self._identity(ctx)
        found = await self._links.redeem(mine, code_hash(self._code_key, code), POLICY)
        if found.status is RedeemStatus.REFUSED:
            minutes = max(1, -(-found.retry_after_s // 60))
            ctx.say(ctx.t.plural(texts.LINK_REFUSED, minutes).format(minutes=minutes), Kind.ERROR)
            return
        if found.status is not RedeemStatus.TAKEN or found.issuer is None:
            refusal = texts.LINK_OWN if found.status is RedeemStatus.OWN else texts.LINK_UNKNOWN
            ctx.say(ctx.t.gettext(refusal), Kind.ERROR)
            return
        ours = await self._responses.find_in_progress(mine)
        response = ours
        if found.issuer == mine:
            ctx.say(ctx.t.gettext(texts.LINKED_ALREADY))
        else:
            # The side with a response in progress is the one whose answers both chats go on with.
            theirs = await self._responses.find_in_progress(found.issuer)
            if theirs is not None and ours is not None and not ours.path and not ours.answers:
                # Begun here only to be joined to the other chat (a web page starts its survey when it
                # opens): it holds nothing, and would count as a second response.
                with contextlib.suppress(StaleResponse):
                    await self._responses.discard(ours.id, ours.revision)
                ours = None
            if theirs is not None or ours is None:
                canonical, response = found.issuer, theirs
                ctx.identity = await self._links.link(self._own(ctx), found.issuer)
            else:
                canonical = mine
                ctx.identity = await self._links.link(found.issuer, mine)
            if ctx.identity != canonical:  # joined to a third group at the same moment: read its own
                response = await self._responses.find_in_progress(ctx.identity)
            log.info("a %s chat was linked to another", ctx.msg.platform)
            ctx.say(ctx.t.gettext(texts.LINKED))
        ctx.session = None  # this chat's session, if any, was for what it answered on its own
        if response is None:
            ctx.say(ctx.t.gettext(texts.NOTHING_IN_PROGRESS))
            return
        await self._resume(ctx, await self._survey_of(ctx, response), response)

    async def _unlink(self, ctx: _Context) -> None:
        """``/unlink``: from a linked chat, it keeps its own answers again; from the chat the others were
        linked to, every link to it ends."""
        if self._links is None:
            ctx.say(ctx.t.gettext(texts.NO_LINKING), Kind.ERROR)
            return
        own = self._own(ctx)
        before = await self._identity(ctx)
        if not await self._links.unlink(own):
            ctx.say(ctx.t.gettext(texts.NOT_LINKED))
            return
        if before != own:
            ctx.session = None  # it was a session of the other chat's response
        ctx.identity = own
        ctx.say(ctx.t.gettext(texts.UNLINKED))

    async def _list_surveys(self, ctx: _Context, heading: str) -> None:
        offered = await self._surveys.offered()
        if not offered:
            none = ctx.t.gettext(texts.NO_SURVEYS)
            ctx.say(none if heading == ctx.t.gettext(texts.PICK_SURVEY) else f"{heading}\n{none}")
            return
        lines = [heading, *(f"{i}. {s.title} (/start {s.id})" for i, s in enumerate(offered, 1))]
        buttons = tuple(Button(s.title, f"/start {s.id}", role=Role.START) for s in offered)
        ctx.say("\n".join(lines), actions=buttons)

    # ------------------------------------------------------------------ rendering

    async def standings(self, platform: str, user_id: str) -> list[SurveyStanding]:
        """The surveys offered, and where the respondent stands with each."""
        key = self.respondent_key(platform, user_id)
        offered = await self._surveys.offered()
        responses = await asyncio.gather(*(self._responses.find(s.id, key) for s in offered))
        found = []
        for survey, response in zip(offered, responses, strict=True):
            if response is None:
                standing = Standing.NEW
            elif response.status is Status.IN_PROGRESS:
                standing = Standing.IN_PROGRESS
            elif survey.settings.one_response_per_user:
                standing = Standing.COMPLETED
            else:
                standing = Standing.COMPLETED_AGAIN
            found.append(SurveyStanding(survey.id, survey.title, standing))
        return found

    def respondent_key(self, platform: str, user_id: str) -> str:
        """The key under which this respondent's responses are stored (for adapters that list them)."""
        return respondent_key(self._secret, platform, user_id)

    def _own(self, ctx: _Context) -> str:
        return self.respondent_key(ctx.msg.platform, ctx.msg.user_id)

    async def _identity(self, ctx: _Context) -> str:
        """The key the respondent's responses are stored under: their own, or the one of the chat this
        one is linked to (``/link``), looked up once per message and only when a response is looked for
        by it."""
        if ctx.identity is None:
            own = self._own(ctx)
            linked = await self._links.alias(own) if self._links is not None else None
            ctx.identity = linked or own
        return ctx.identity

    def _render(self, ctx: _Context, survey: Survey, template: str, values: dict[str, AnswerValue]) -> str:
        def lookup(name: str) -> str:
            if name == "respondent.name":
                return ctx.msg.user_name or ctx.t.gettext(texts.FALLBACK_NAME)
            try:
                return answers.display(survey.question(name), values.get(name), ctx.t)
            except KeyError:
                return ""

        return render(template, lookup)

    def _ask(
        self,
        ctx: _Context,
        survey: Survey,
        question: Question,
        values: dict[str, AnswerValue],
        selection: tuple[int, ...] = (),
    ) -> Outgoing:
        text = self._render(ctx, survey, question.text, values)
        return question_message(survey, question, text, ctx.msg.chat_id, selection, ctx.t)


def question_message(
    survey: Survey,
    question: Question,
    text: str,
    chat_id: str = "",
    selection: tuple[int, ...] = (),
    t: Translation = ENGLISH,
) -> Outgoing:
    """``question`` as the message that asks it, its ``text`` rendered already: the answer buttons
    (``selection`` ticked), Done, Back and Skip where they apply, and how to answer by typing, the
    bot's own words in ``t``'s language."""
    tag = actions.survey_tag(survey)
    choices: tuple[Button, ...] = ()
    commands: list[Button] = []
    multi = question.type is QuestionType.MULTI_CHOICE
    if question.type in BUTTON_TYPES:
        role = Role.TOGGLE if multi else Role.ANSWER
        choices = tuple(
            Button(label, actions.Press(role, tag, question.id, i).encode(), i in selection, role)
            for i, label in enumerate(_button_labels(question, t))
        )
    if multi:
        commands.append(
            Button(
                t.gettext(texts.BUTTON_DONE),
                actions.Press(Role.SUBMIT, tag, question.id).encode(),
                role=Role.SUBMIT,
            )
        )
    if survey.settings.allow_back and question.id != survey.questions[0].id:
        commands.append(Button(t.gettext(texts.BUTTON_BACK), "/back", role=Role.BACK))
    if not question.required:
        commands.append(Button(t.gettext(texts.BUTTON_SKIP), "/skip", role=Role.SKIP))
    return Outgoing(
        chat_id=chat_id,
        text=text,
        kind=Kind.QUESTION,
        choices=choices,
        actions=tuple(commands),
        multi=multi,
        question_type=question.type,
        question_id=question.id,
        hint=answers.hint(question, t),
    )


def _button_labels(question: Question, t: Translation = ENGLISH) -> list[str]:
    if question.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE):
        return [c.label for c in question.choices]
    if question.type is QuestionType.YES_NO:
        return [t.gettext(texts.BUTTON_YES), t.gettext(texts.BUTTON_NO)]
    low, high = answers.rating_bounds(question)
    return [f"{n} {question.labels[n]}" if n in question.labels else str(n) for n in range(low, high + 1)]


def _state(active: tuple[Session, Survey, Question] | None) -> State:
    """The respondent's state (see :mod:`bot.states`), from the session of the survey in progress."""
    if active is None:
        return State.IDLE
    return State.PAUSED if active[0].paused else State.ASKING


def _shown(question: Question, value: AnswerValue, t: Translation) -> str:
    """An answer as the question's edited message shows it: as its button read, where it had one."""
    if value is None:
        return t.gettext(texts.SKIPPED)
    if question.type is QuestionType.YES_NO:
        return _button_labels(question, t)[0 if value else 1]
    return answers.display(question, value, t)


def _button_value(question: Question, index: int | None) -> AnswerValue:
    """The stored value a button of ``question`` stands for, or None for a button it never had."""
    if index is None or index < 0:
        return None
    if question.type is QuestionType.SINGLE_CHOICE:
        return question.choices[index].id if index < len(question.choices) else None
    if question.type is QuestionType.YES_NO:
        return {0: True, 1: False}.get(index)
    if question.type in (QuestionType.RATING, QuestionType.NPS):
        low, high = answers.rating_bounds(question)
        return low + index if low + index <= high else None
    return None


def _raised(survey: Survey, event: str) -> tuple[str, ...]:
    """``(event,)`` when the survey's webhooks are told of it: what a write puts in the outbox."""
    return (event,) if survey.settings.wants(event) else ()
