"""Drive concurrent respondents through a survey and print throughput, latency and store costs.

    .venv/bin/python bench/engine_bench.py [--respondents 200] [--stores real|memory|both]

With ``real`` it uses MONGODB_URI/REDIS_URL when both are set, else it starts throw-away embedded
servers (SecantusDB + redis-server) like the test suite does. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore  # noqa: E402
from bot.catalog import SurveyCache, publish  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.loader import load_text  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.ports import ResponseStore, SessionStore, SurveyStore  # noqa: E402

SURVEY = """
id: bench
title: Benchmark
questions:
  - {id: q1, type: single_choice, text: "Pick one", choices: [Red, Green, Blue]}
  - {id: q2, type: number, text: "A number", min: 0}
  - {id: q3, type: yes_no, text: "Yes or no, {respondent.name}?"}
  - {id: q4, type: rating, text: "Rate {q1}"}
  - {id: q5, type: multi_choice, text: "Pick some", choices: [A, B, C, D]}
  - {id: q6, type: text, text: "Say something"}
  - {id: q7, type: nps, text: "Recommend?"}
  - {id: q8, type: email, text: "Mail?"}
  - {id: q9, type: date, text: "When?"}
  - {id: q10, type: text, text: "Last words about {q6}"}
"""
ANSWERS = ["2", "42", "yes", "4", "a, c", "Hello there", "9", "me@example.org", "2026-11-26", "Bye"]


@dataclass
class Counters:
    mongo: int = 0
    redis: int = 0


@dataclass
class Result:
    label: str
    answers: int
    seconds: float
    latencies: list[float]
    mongo_per_answer: float | None = None
    redis_per_answer: float | None = None
    session_bytes: float | None = None
    dedupe_bytes: float | None = None

    def print(self) -> None:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(f"\n== {self.label}")
        print(f"answers            {self.answers}")
        print(f"answers/s          {self.answers / self.seconds:,.0f}")
        print(f"latency p50        {p50:.2f} ms")
        print(f"latency p99        {p99:.2f} ms")
        print(f"latency mean       {statistics.fmean(lat) * 1000:.2f} ms")
        if self.mongo_per_answer is not None:
            print(f"MongoDB round trips per answer   {self.mongo_per_answer:.2f}")
        if self.redis_per_answer is not None:
            print(f"Redis round trips per answer     {self.redis_per_answer:.2f}")
        if self.session_bytes is not None:
            print(
                f"Redis bytes per session          {self.session_bytes:.0f} (MEMORY USAGE of the session key)"
            )
        if self.dedupe_bytes is not None:
            print(f"Redis bytes per seen update id   {self.dedupe_bytes:.0f} (kept 2 days)")


async def drive(
    engine: Engine, respondents: int, concurrency: int, upto: int = len(ANSWERS), run: str = ""
) -> tuple[float, list[float]]:
    """Every respondent starts the survey and answers ``upto`` questions; returns time and latencies."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    run = run or uuid.uuid4().hex[:6]

    async def respondent(i: int) -> None:
        async with gate:
            user = f"{run}-{i}"

            def msg(text: str, n: int) -> Incoming:
                return Incoming("bench", user, "Bench User", user, text=text, update_id=f"{user}-{n}")

            await engine.handle(msg("/start bench", 0))
            for n, answer in enumerate(ANSWERS[:upto], 1):
                started = time.perf_counter()
                out = await engine.handle(msg(answer, n))
                latencies.append(time.perf_counter() - started)
                assert out and out[0].kind.value != "error", (answer, out)

    started = time.perf_counter()
    await asyncio.gather(*(respondent(i) for i in range(respondents)))
    return time.perf_counter() - started, latencies


async def build(surveys: SurveyStore, responses: ResponseStore, sessions: SessionStore) -> Engine:
    await publish(surveys, load_text(SURVEY, "bench.yaml"))
    return Engine(SurveyCache(surveys), responses, sessions, b"bench-secret")


async def bench_memory(respondents: int, concurrency: int) -> Result:
    engine = await build(InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore())
    await drive(engine, 20, 20)  # warm-up
    seconds, latencies = await drive(engine, respondents, concurrency)
    return Result("in-memory ports (engine cost alone)", len(latencies), seconds, latencies)


async def bench_real(respondents: int, concurrency: int, mongodb_uri: str, redis_url: str) -> Result:
    import pymongo.monitoring
    import redis.asyncio

    from adapters.stores.mongo import MongoResponseStore, MongoSurveyStore, connect_mongo, disconnect_mongo
    from adapters.stores.redis_store import RedisSessionStore, redis_from_url

    counters = Counters()

    class MongoCounter(pymongo.monitoring.CommandListener):
        def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
            counters.mongo += 1

        def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
            pass

    pymongo.monitoring.register(MongoCounter())
    database = f"surveybot_bench_{uuid.uuid4().hex[:6]}"
    base = mongodb_uri.split("?")[0].rstrip("/")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    connect_mongo(f"{base}/{database}", alias="bench")
    client: redis.asyncio.Redis = redis_from_url(redis_url)
    real_execute: Callable[..., Any] = client.execute_command

    async def counted(*args: Any, **kwargs: Any) -> Any:
        counters.redis += 1
        return await real_execute(*args, **kwargs)

    client.execute_command = counted  # type: ignore[method-assign]
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    sessions = RedisSessionStore(client, prefix=prefix)
    surveys, responses = MongoSurveyStore("bench"), MongoResponseStore("bench")
    await surveys.ensure_indexes()
    await responses.ensure_indexes()
    engine = await build(surveys, responses, sessions)
    try:
        await drive(engine, 20, 20)  # warm-up: caches, script loading, connection pools
        counters.mongo = counters.redis = 0
        seconds, latencies = await drive(engine, respondents, concurrency)
        result = Result(
            "real stores (SecantusDB + Redis), one process",
            len(latencies),
            seconds,
            latencies,
            mongo_per_answer=counters.mongo / len(latencies),
            redis_per_answer=counters.redis / len(latencies),
        )
        # Sessions are deleted when a survey is finished: measure ones left half-way.
        run = uuid.uuid4().hex[:6]
        await drive(engine, 50, 50, upto=5, run=run)
        session_sizes = [
            await real_execute("MEMORY", "USAGE", f"{prefix}:s:bench:{run}-{i}") for i in range(50)
        ]
        result.session_bytes = statistics.fmean(int(size or 0) for size in session_sizes)
        seen = [await real_execute("MEMORY", "USAGE", f"{prefix}:u:bench:{run}-{i}-1") for i in range(50)]
        result.dedupe_bytes = statistics.fmean(int(size or 0) for size in seen)
        return result
    finally:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            await real_execute("DEL", key)
        await client.aclose()
        sync: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_uri)
        sync.drop_database(database)
        sync.close()
        disconnect_mongo("bench")


async def bench_redis_only(respondents: int, concurrency: int, redis_url: str) -> Result:
    """Real Redis, surveys and responses in memory: what the process costs without the MongoDB server."""
    from adapters.stores.redis_store import RedisSessionStore, redis_from_url

    client = redis_from_url(redis_url)
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    engine = await build(
        InMemorySurveyStore(), InMemoryResponseStore(), RedisSessionStore(client, prefix=prefix)
    )
    try:
        await drive(engine, 20, 20)
        seconds, latencies = await drive(engine, respondents, concurrency)
        return Result(
            "real Redis, MongoDB ports in memory (the process without the MongoDB server)",
            len(latencies),
            seconds,
            latencies,
        )
    finally:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            await client.delete(key)
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--respondents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="respondents answering at the same time")
    parser.add_argument("--stores", choices=["real", "memory", "both"], default="both")
    args = parser.parse_args()
    print(f"{args.respondents} respondents x {len(ANSWERS)} answers, {args.concurrency} at a time")
    if args.stores in ("memory", "both"):
        asyncio.run(bench_memory(args.respondents, args.concurrency)).print()
    if args.stores in ("real", "both"):
        mongodb_uri, redis_url = os.environ.get("MONGODB_URI"), os.environ.get("REDIS_URL")
        if mongodb_uri and redis_url:
            run_real(args.respondents, args.concurrency, mongodb_uri, redis_url)
        else:
            from devtools.services import EmbeddedServices

            with EmbeddedServices(ROOT, persistent=False) as services:
                run_real(args.respondents, args.concurrency, services.mongodb_uri, services.redis_url)


def run_real(respondents: int, concurrency: int, mongodb_uri: str, redis_url: str) -> None:
    asyncio.run(bench_real(respondents, concurrency, mongodb_uri, redis_url)).print()
    asyncio.run(bench_redis_only(respondents, concurrency, redis_url)).print()


if __name__ == "__main__":
    main()
