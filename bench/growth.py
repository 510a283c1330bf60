"""How the cost of an answer grows with the responses stored, on the embedded MongoDB-protocol server
and real Redis (issue 11); what each kind of message costs in MongoDB operations; and retryable writes
on against off. Printed as figures and ratios measured in this one run, never asserted.

    .venv/bin/python bench/growth.py [--sizes 100,10000,100000] [--respondents 40] [--rounds 5]

For each size, a database of its own is bulk-seeded through the store (MongoResponseStore.create_many)
with that many completed responses of the survey. Then, in each round, ``respondents`` people take the
five-question survey through the engine (10 at a time) at every size in turn, and every answer's latency
is kept: p50 and p99 per size, and the median (and range) of the rounds' p50 ratio to the smallest size.
Retryable writes are compared at the largest size, the two settings back to back in each round.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
from pymongo import monitoring
from pymongo.collection import Collection

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from five import ANSWERS, SURVEY  # noqa: E402

from adapters.bootstrap import App, open_app  # noqa: E402
from adapters.config import load_config  # noqa: E402
from adapters.stores.mongo import MongoResponseStore  # noqa: E402
from bot.catalog import publish  # noqa: E402
from bot.loader import load_text  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.responses import Answer, Respondent, Response, Status  # noqa: E402
from devtools.services import EmbeddedServices  # noqa: E402


class Operations(monitoring.CommandListener):
    """MongoDB commands sent while ``on``, by name."""

    def __init__(self) -> None:
        self.on = False
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            self.seen[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


OPERATIONS = Operations()
monitoring.register(OPERATIONS)


def seeds(count: int, start: int) -> Iterator[Response]:
    now = datetime.now(UTC)
    for index in range(start, start + count):
        answers = {"flavour": Answer("chocolate", now), "stars": Answer(4, now)}
        yield Response(
            id=secrets.token_hex(12),
            survey_id="five",
            version=1,
            respondent=Respondent("seed", f"seed-key-{index}", None, None),
            started_at=now,
            updated_at=now,
            completed_at=now,
            status=Status.COMPLETED,
            answers=answers,
            path=("flavour", "stars"),
            one_per_user=False,
        )


async def take_survey(app: App, run: str, person: int, latencies: list[float]) -> None:
    user = f"{run}-{person}"
    for index, text in enumerate(["/start five", *ANSWERS]):
        started = time.perf_counter()
        await app.engine.handle(
            Incoming(platform="bench", user_id=user, chat_id=user, text=text, update_id=f"{user}-{index}")
        )
        if index:
            latencies.append(time.perf_counter() - started)


async def answers_at(app: App, respondents: int, concurrency: int = 10) -> list[float]:
    latencies: list[float] = []
    run = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)

    async def one(person: int) -> None:
        async with gate:
            await take_survey(app, run, person, latencies)

    await asyncio.gather(*(one(p) for p in range(respondents)))
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def operations_per_message(app: App) -> dict[str, Counter[str]]:
    user = f"ops-{uuid.uuid4().hex[:6]}"
    kinds: dict[str, Counter[str]] = {}
    texts = [
        ("/start (new response)", "/start five"),
        *((f"answer {i + 1}", a) for i, a in enumerate(ANSWERS)),
    ]
    for index, (kind, text) in enumerate(texts):
        OPERATIONS.seen.clear()
        OPERATIONS.on = True
        await app.engine.handle(
            Incoming(platform="bench", user_id=user, chat_id=user, text=text, update_id=f"o{index}")
        )
        OPERATIONS.on = False
        kinds[kind] = Counter(OPERATIONS.seen)
    return kinds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--respondents", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--retry-warmup", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with EmbeddedServices(ROOT, persistent=False) as services:
        state = Path(services.var_dir) / "bench-state"
        state.mkdir(exist_ok=True)

        async def opened(retry: bool, database: str = "growth") -> App:
            environ = {
                "MONGODB_URI": f"{services.mongodb_uri.rsplit('/', 1)[0]}/{database}",
                "REDIS_URL": services.redis_url,
                "SURVEYBOT_SECRET": "b",
            }
            config = load_config(ROOT / "config.yaml", environ=environ)
            config = config.model_copy(
                update={"mongodb": config.mongodb.model_copy(update={"retry_writes": retry})}
            )
            return await open_app(config, state, alias=f"growth-{retry}-{uuid.uuid4().hex[:6]}")

        # One database per size, seeded first; then the sizes are measured in turn, round after round,
        # so that a shared machine's drifting load falls on every size alike.
        apps: dict[int, App] = {}
        seeded: dict[int, float] = {}
        for size in sizes:
            app = apps[size] = await opened(False, f"growth{size}")
            await publish(app.surveys, load_text(SURVEY, "five.yaml"))
            assert isinstance(app.responses, MongoResponseStore)
            started = time.perf_counter()
            await app.responses.create_many(seeds(size, 0))
            seeded[size] = time.perf_counter() - started
            await answers_at(app, 10)  # warm the caches at this size
        latencies: dict[int, list[float]] = {size: [] for size in sizes}
        growth: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            p50s = {}
            for size in sizes:
                measured = await answers_at(apps[size], args.respondents)
                latencies[size] += measured
                p50s[size] = pct(measured, 0.5)
            for size in sizes:
                growth[size].append(p50s[size] / p50s[sizes[0]])
        heading = ("stored", "seeded in", "answers", "p50 ms", "p99 ms", f"p50 / p50 at {sizes[0]}")
        print(f"{args.rounds} rounds, sizes measured in turn; the ratio is the median of the rounds' (range)")
        print("{:>8} {:>10} {:>8} {:>8} {:>8}   {}".format(*heading))
        for size in sizes:
            p50, p99, ratios = pct(latencies[size], 0.5), pct(latencies[size], 0.99), growth[size]
            spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            figures = f"{len(latencies[size]):>8} {p50:>8.2f} {p99:>8.2f}"
            print(f"{size:>8} {seeded[size]:>9.1f}s {figures}   {spread}")

        app = apps[sizes[-1]]
        stored = sizes[-1]
        print("\nMongoDB operations per message (one respondent, the growth survey)")
        for kind, seen in (await operations_per_message(app)).items():
            writes = seen["update"] + seen["insert"]
            parts = ", ".join(f"{name} {count}" for name, count in sorted(seen.items()))
            print(f"  {kind:<24} {sum(seen.values())} ({parts}); writes {writes}")

        for other in apps.values():
            await other.aclose()
        if args.retry_warmup:
            # The embedded server keeps a registry of retryable writes (up to 10,000) and sorts it on
            # each one: a long-running bot has filled it. Fill it first, with retryable writes.
            started = time.perf_counter()
            client: pymongo.MongoClient[dict[str, Any]]
            with pymongo.MongoClient(services.mongodb_uri, retryWrites=True) as client:
                scratch: Collection[dict[str, Any]] = client.get_default_database().scratch
                scratch.insert_one({"_id": "w", "n": 0})
                for _ in range(args.retry_warmup):
                    scratch.update_one({"_id": "w"}, {"$inc": {"n": 1}})
            print(f"\n({args.retry_warmup} retryable writes first, in {time.perf_counter() - started:.1f} s)")
        print(f"\nRetryable writes at {stored} responses: answer p50, on / off, back to back")
        ratios = []
        for round_ in range(args.rounds):
            p50s = {}
            for retry in (False, True):
                run_app = await opened(retry, f"growth{stored}")
                await answers_at(run_app, 5)
                p50s[retry] = pct(await answers_at(run_app, args.respondents), 0.5)
                await run_app.aclose()
            ratios.append(p50s[True] / p50s[False])
            off, on = p50s[False], p50s[True]
            print(f"  round {round_ + 1}: off {off:.2f} ms, on {on:.2f} ms, on/off {ratios[-1]:.2f}")
        print(f"  on/off median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
