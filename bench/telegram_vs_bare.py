"""Our Telegram adapter + engine against a bare python-telegram-bot bot on the same update stream
(issue 11), printed as ratios measured in this one run, never asserted.

    .venv/bin/python bench/telegram_vs_bare.py [--users 100] [--rounds 5]

Both run in this process on python-telegram-bot's ``Application`` with the same in-process fake Bot API
(a ``BaseRequest`` that answers at once, as PTB's own tests do) and no rate limiter. The bare bot is a
``ConversationHandler`` with the same five questions (single choice, rating 1–5, yes/no, free text,
number 1–500) keeping answers in ``user_data``, and it makes the Bot API calls ours makes (the same
texts and buttons, a Back button from the second question on, an edit taking an answered question's
buttons away): the difference is our adapter and engine, and each line prints both bots' calls per
update to show it. Each user sends ``/start`` and five typed answers; all users at once, each in order,
after 30 users of warm-up on each bot (connections to the stores, caches). In each round the two bots
alternate in three slices (A B A B A B), so that the load drifting on a shared machine falls on both.
Variants for our bot: every port in memory; real Redis with in-memory MongoDB ports; the real embedded
stores, compared also with the *store ceiling*: a loop of the raw Redis and MongoDB calls one answer
needs (begin script, conditional update, read by _id, commit script) with no bot around them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from itertools import count
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from five import ANSWERS, SURVEY  # noqa: E402

from adapters.bootstrap import App, open_app  # noqa: E402
from adapters.config import Config, TelegramSettings, load_config  # noqa: E402
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore  # noqa: E402
from adapters.stores.redis_store import RedisSessionStore, redis_from_url  # noqa: E402
from adapters.telegram import TelegramAdapter, build_application  # noqa: E402
from bot.catalog import SurveyCache, publish  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.loader import load_text  # noqa: E402
from devtools.services import EmbeddedServices  # noqa: E402

TOKEN = "4242:bench-token-0123456789abcdefghijklmnop"
WARM_UP = 30
SLICES = 3
"""Runs of each bot per round, alternating."""
"""Users driven through each bot before it is measured (and never again: update ids are unique)."""
BOT = {"id": 4242, "is_bot": True, "first_name": "Bench", "username": "BenchBot"}


class FakeBotApi(BaseRequest):
    """Answers every Bot API call at once, as Telegram would."""

    def __init__(self) -> None:
        self.ids = count(1000)
        self.calls = 0

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        self.calls += 1
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        if name == "getMe":
            result: Any = BOT
        elif name in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            chat = {"id": int(str(params.get("chat_id", 1))), "type": "private"}
            result = {
                "message_id": next(self.ids),
                "date": 1700000000,
                "chat": chat,
                "from": BOT,
                "text": "…",
            }
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()


def updates(users: int, run: int) -> list[list[dict[str, Any]]]:
    """Per user, in order: /start five, then the five answers, as Telegram's update JSON."""
    ids = count(run * 1_000_000)
    streams = []
    for index in range(users):
        user = {"id": 10_000 + index, "is_bot": False, "first_name": f"U{index}"}
        chat = {"id": 10_000 + index, "type": "private", "first_name": f"U{index}"}
        stream = []
        for text in ["/start five", *ANSWERS]:
            message: dict[str, Any] = {
                "message_id": next(ids),
                "from": user,
                "chat": chat,
                "date": 1700000000,
            }
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
            stream.append({"update_id": next(ids), "message": message})
        streams.append(stream)
    return streams


# --- the bare bot ------------------------------------------------------------------------------------

QUESTIONS = [
    "Flavour?",
    "How good?",
    "Again?",
    "Why?",
    "How much?\n\nPlease reply with a whole number from 1 to 500.",
]


BACK = [("Back", "/back")]
KEYBOARDS: list[list[list[tuple[str, str]]]] = [
    [[(label, f"a:c56373:flavour:{i}") for i, label in enumerate(["Vanilla", "Chocolate", "Strawberry"])]],
    [[(str(n), f"a:c56373:stars:{n - 1}") for n in range(1, 6)], BACK],
    [[("Yes", "a:c56373:again:0"), ("No", "a:c56373:again:1")], BACK],
    [BACK],
    [BACK],
]
"""What ours shows: the answer buttons, and from the second question on a Back button."""


def bare_application(request: BaseRequest) -> Any:
    """A plain ConversationHandler bot making the Bot API calls ours makes: the same texts and buttons
    (answer buttons, a Back button from the second question on), and a typed answer takes the answered
    question's buttons away. Its handlers only check and keep the answers: no store, no session, no
    Back handling; the difference in cost is our adapter and engine."""

    def check(state: int, text: str) -> Any:
        if state == 0:
            return {"1": "vanilla", "2": "chocolate", "3": "strawberry"}.get(text)
        if state == 1:
            return int(text) if text.isdigit() and 1 <= int(text) <= 5 else None
        if state == 2:
            return {"yes": True, "no": False}.get(text.lower())
        if state == 3:
            return text or None
        return int(text) if text.isdigit() and 1 <= int(text) <= 500 else None

    async def ask(context: ContextTypes.DEFAULT_TYPE, chat_id: int, state: int, prefix: str = "") -> None:
        rows = KEYBOARDS[state]
        markup = (
            InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows])
            if rows
            else None
        )
        sent = await context.bot.send_message(chat_id, prefix + QUESTIONS[state], reply_markup=markup)
        context.user_data["live"] = sent.message_id if markup else None  # type: ignore[index]

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.effective_chat is not None
        context.user_data.clear()  # type: ignore[union-attr]
        await ask(context, update.effective_chat.id, 0)
        return 0

    def answer(state: int) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, int]]:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            assert update.effective_chat is not None and update.message is not None
            chat_id = update.effective_chat.id
            value = check(state, (update.message.text or "").strip())
            if value is None:
                await ask(context, chat_id, state, "Please answer: ")
                return state
            context.user_data[state] = value  # type: ignore[index]
            live = context.user_data.pop("live", None)  # type: ignore[union-attr]
            if live is not None:
                await context.bot.edit_message_reply_markup(chat_id, live, reply_markup=None)
            if state == len(QUESTIONS) - 1:
                await context.bot.send_message(chat_id, "Thank you! Your response has been recorded.")
                return ConversationHandler.END
            await ask(context, chat_id, state + 1)
            return state + 1

        return handle

    application = Application.builder().token(TOKEN).request(request).get_updates_request(request).build()
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={s: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer(s))] for s in range(5)},
            fallbacks=[],
        )
    )
    return application


# --- running a stream --------------------------------------------------------------------------------


async def drive(application: Any, users: int, run: int) -> tuple[float, list[float]]:
    """Feed every user's updates in order, all users at once; (seconds taken, per-update latencies)."""
    streams = updates(users, run)
    latencies: list[float] = []

    async def user(stream: list[dict[str, Any]]) -> None:
        for data in stream:
            update = Update.de_json(data, application.bot)
            started = time.perf_counter()
            await application.process_update(update)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(user(s) for s in streams))
    return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def memory_app() -> App:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    return await with_survey(surveys, responses, sessions)


async def with_survey(surveys: Any, responses: Any, sessions: Any) -> App:
    await publish(surveys, load_text(SURVEY, "five.yaml"))
    cache = SurveyCache(surveys)
    config = Config(telegram=TelegramSettings(bot_token=SecretStr(TOKEN)))
    return App(config, surveys, responses, sessions, cache, Engine(cache, responses, sessions, b"bench"))


async def ours(app: App, request: BaseRequest | None = None) -> Any:
    settings = TelegramSettings(bot_token=SecretStr(TOKEN))
    adapter = TelegramAdapter(app, build_application(settings, request or FakeBotApi(), rate_limited=False))
    await adapter.application.initialize()
    return adapter.application


async def store_ceiling(app: App, users: int) -> float:
    """Answers/s of the raw calls one answer needs (Redis begin + commit scripts, MongoDB update + read),
    for ``users`` respondents at once, with no bot around them."""
    sessions, responses = app.sessions, app.responses
    assert isinstance(sessions, RedisSessionStore)
    from bot.messages import ConversationKey
    from bot.responses import Respondent, Response, Session

    created = []
    for index in range(users):
        created.append(
            await responses.create(
                Response(
                    id="",
                    survey_id="five",
                    version=1,
                    respondent=Respondent("ceiling", f"ceiling-{run_id()}-{index}", None, None),
                    started_at=now(),
                    updated_at=now(),
                    one_per_user=False,
                )
            )
        )

    async def one(index: int, response: Any) -> int:
        key = ConversationKey("ceiling", f"c{index}")
        done = 0
        for step in range(5):
            turn = await sessions.begin(key, f"c{index}-{step}-{run_id()}")
            response = await responses.record(response.id, response.revision, f"q{step}", None)
            await sessions.commit(key, turn, Session.of(response, "q"), 3600, None)
            done += 1
        return done

    started = time.perf_counter()
    answered = sum(await asyncio.gather(*(one(i, r) for i, r in enumerate(created))))
    return answered / (time.perf_counter() - started)


async def where_time_goes(users: int, redis_app: Callable[[], Awaitable[App]]) -> None:
    """What an update costs us beyond the bare bot, split: the engine (timed where it runs, among the
    other coroutines), our adapter around it, and, with Redis, the client's own CPU per Redis call times
    the calls an update makes. The last is a floor no engine change removes."""
    rounds: list[tuple[float, float, float, float, float]] = []
    for _ in range(3):
        bare = bare_application(FakeBotApi())
        await bare.initialize()
        await drive(bare, WARM_UP, run_id())
        bare_s, bare_lat = await drive(bare, users * SLICES, run_id())
        await bare.shutdown()
        row = [bare_s / len(bare_lat)]
        for make in (memory_app, redis_app):
            app = await make()
            spent = [0.0]
            handle = app.engine.handle

            async def timed(msg: Any, handle: Any = handle, spent: list[float] = spent) -> Any:
                started = time.perf_counter()
                try:
                    return await handle(msg)
                finally:
                    spent[0] += time.perf_counter() - started

            app.engine.handle = timed  # type: ignore[method-assign]
            application = await ours(app)
            await drive(application, WARM_UP, run_id())
            spent[0] = 0.0
            our_s, our_lat = await drive(application, users * SLICES, run_id())
            row += [our_s / len(our_lat), spent[0] / len(our_lat)]
            await application.shutdown()
            await app.aclose()
        rounds.append((row[0], row[1], row[2], row[3], row[4]))
    bare, mem, mem_engine, red, _ = (statistics.median(column) for column in zip(*rounds, strict=True))
    app = await redis_app()
    assert isinstance(app.sessions, RedisSessionStore)
    calls, cpu = await redis_per_update(app, users)
    await app.aclose()
    ms, ceiling = 1000, bare / (bare + calls * cpu)
    print(
        f"\nWhere an update's time goes (median of 3 runs of {users * SLICES} users, ms per update):\n"
        f"  bare bot {bare * ms:.3f}; ours in memory {mem * ms:.3f}: the engine {mem_engine * ms:.3f} "
        f"(timed in place), our adapter {(mem - mem_engine - bare) * ms:.3f} beyond the bare bot's work\n"
        f"  ours with Redis {red * ms:.3f}: {calls:.2f} Redis calls per update x {cpu * ms:.3f} ms of client "
        f"CPU each = {calls * cpu * ms:.3f} ms,\n"
        f"  so with Redis even a free engine and adapter would reach at most {ceiling:.2f}x the bare bot"
    )


async def redis_per_update(app: App, users: int) -> tuple[float, float]:
    """(Redis commands per update on our bot, client CPU seconds per command alone in a loop)."""
    sessions = app.sessions
    assert isinstance(sessions, RedisSessionStore)
    client = sessions.client
    commands = [0]
    execute: Any = client.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        commands[0] += 1
        return await execute(*args, **options)

    client.execute_command = counted  # type: ignore[method-assign]
    application = await ours(app)
    await drive(application, WARM_UP, run_id())
    commands[0] = 0
    _, latencies = await drive(application, users, run_id())
    await application.shutdown()
    client.execute_command = execute  # type: ignore[method-assign]
    script = client.register_script("return redis.call('GET', KEYS[1])")
    await script(keys=["bench:none"])
    started = time.process_time()
    for _ in range(3000):
        await script(keys=["bench:none"])
    return commands[0] / len(latencies), (time.process_time() - started) / 3000


_RUN = count()


def run_id() -> int:
    return next(_RUN)


def now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also profile one run of ours, in memory")
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)

    with EmbeddedServices(ROOT, persistent=False) as services:
        state = Path(services.var_dir) / "bench-state"
        state.mkdir(exist_ok=True)

        async def redis_app() -> App:
            sessions = RedisSessionStore(redis_from_url(services.redis_url, 200))
            return await with_survey(InMemorySurveyStore(), InMemoryResponseStore(), sessions)

        async def real_app() -> App:
            environ = {"MONGODB_URI": services.mongodb_uri, "REDIS_URL": services.redis_url}
            config = load_config(ROOT / "config.yaml", environ={**environ, "SURVEYBOT_SECRET": "bench"})
            app = await open_app(config, state, alias=f"bare-{run_id()}")
            await publish(app.surveys, load_text(SURVEY, "five.yaml"))
            return app

        variants: list[tuple[str, Callable[[], Awaitable[App]]]] = [
            ("every port in memory", memory_app),
            ("real Redis, MongoDB ports in memory", redis_app),
            ("real embedded stores", real_app),
        ]
        print(f"{args.users} users x 6 updates, {args.rounds} rounds; ratio = ours / bare (updates/s)")
        for name, make in variants:
            ratios, ceilings, lines = [], [], []
            for round_ in range(args.rounds):
                bare_api, our_api = FakeBotApi(), FakeBotApi()
                bare = bare_application(bare_api)
                await bare.initialize()
                app = await make()
                application = await ours(app, our_api)
                await drive(bare, WARM_UP, run_id())  # both bots warm: connections, caches, imports
                await drive(application, WARM_UP, run_id())
                # Back to back in slices, A B A B A B: a shared machine's load drifts over seconds, and
                # interleaving puts both bots under the same drift.
                bare_lat: list[float] = []
                our_lat: list[float] = []
                bare_s = our_s = 0.0
                bare_before, our_before = bare_api.calls, our_api.calls
                for _ in range(SLICES):
                    elapsed, lat = await drive(bare, args.users, run_id())
                    bare_s, bare_lat = bare_s + elapsed, bare_lat + lat
                    elapsed, lat = await drive(application, args.users, run_id())
                    our_s, our_lat = our_s + elapsed, our_lat + lat
                bare_rate, our_rate = len(bare_lat) / bare_s, len(our_lat) / our_s
                bare_calls = (bare_api.calls - bare_before) / len(bare_lat)
                our_calls = (our_api.calls - our_before) / len(our_lat)
                await bare.shutdown()
                await application.shutdown()
                if name == "real embedded stores":
                    ceilings.append(our_rate / await store_ceiling(app, args.users))
                await app.aclose()
                ratios.append(our_rate / bare_rate)
                bare_fig = (
                    f"{bare_rate:,.0f}/s p50 {pct(bare_lat, 0.5):.2f} ms p99 {pct(bare_lat, 0.99):.2f} ms, "
                    f"{bare_calls:.2f} Bot API calls/update"
                )
                our_fig = (
                    f"{our_rate:,.0f}/s p50 {pct(our_lat, 0.5):.2f} p99 {pct(our_lat, 0.99):.2f} ms, "
                    f"{our_calls:.2f} calls/update"
                )
                lines.append(f"    round {round_ + 1}: bare {bare_fig} | ours {our_fig} | {ratios[-1]:.2f}x")
            spread = f"range {min(ratios):.2f}-{max(ratios):.2f}"
            print(f"\n{name}: ours/bare median {statistics.median(ratios):.2f}x ({spread})")
            if ceilings:
                print(
                    f"  ours / store ceiling median {statistics.median(ceilings):.2f}x "
                    f"(range {min(ceilings):.2f}-{max(ceilings):.2f})"
                )
            print("\n".join(lines))

        await where_time_goes(args.users, redis_app)

        if args.profile:
            app = await memory_app()
            application = await ours(app)
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(application, WARM_UP, run_id())
            await drive(application, args.users, run_id())
            profiler.disable()
            await application.shutdown()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
            print("\nProfile of one in-memory run of ours (top 15 by own time):")
            print("\n".join(out.getvalue().splitlines()[4:30]))


if __name__ == "__main__":
    asyncio.run(main())
