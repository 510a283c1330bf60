"""Campaign figures on the embedded stores (issue 12), printed, never asserted.

    .venv/bin/python bench/campaigns.py [--people 2000] [--rounds 3]

1. Invitations per second one worker sends through a fake platform that answers at once: under the
   configured Telegram budget (config.yaml: 25/s, burst 5, shared through Redis), and with the budget
   lifted (what the worker itself can do: MongoDB claims and marks around each send).
2. What the scheduler's idle pass costs (the work every worker does each second: list campaigns, turn
   stale 'sending' ones unconfirmed, claim what is due) with 100 and with 10,000 invitations pending
   but not yet due, back to back in each round: the ratio says whether it grows with them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.bootstrap import App, open_app  # noqa: E402
from adapters.campaigns import (  # noqa: E402
    Campaigns,
    Invitation,
    MemoryRate,
    Person,
    Rate,
    invitation_id,
    store_campaign,
)
from adapters.config import load_config  # noqa: E402
from adapters.survey_admin import AdminReply  # noqa: E402
from bot.campaigns import Audience  # noqa: E402
from bot.catalog import publish  # noqa: E402
from bot.loader import load_text  # noqa: E402
from devtools.services import EmbeddedServices  # noqa: E402
from tests.campaign_files import PULSE  # noqa: E402


class Fake:
    """A platform that takes every invitation at once."""

    def __init__(self, people: int) -> None:
        self.ids = [str(10_000_000 + n) for n in range(people)]
        self.sent = 0

    async def people(self, audience: Audience) -> list[Person]:
        return [Person("telegram", user, "P") for user in self.ids]

    async def invite(self, user_id: str, text: str, survey_id: str, title: str) -> None:
        self.sent += 1

    async def report(self, chat: str, reply: AdminReply) -> None:
        pass


def runner(app: App, fake: Fake, rate: Rate) -> Campaigns:
    return app.campaign_runner({"telegram": fake}, rate=rate, batch=50)


async def send_rate(app: App, people: int, rate: Rate, name: str) -> float:
    """Invitations/s of one worker sending one occurrence to ``people``."""
    fake = Fake(people)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    at = (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    schedule = f"schedule: {{at: '{at}', timezone: UTC}}\n"
    text = f"campaign: {name}\nsurvey: pulse\naudience: {{telegram: [1]}}\n{schedule}"

    await store_campaign(app.campaigns, app.cache, text, f"{name}.yaml", now - dt.timedelta(minutes=5))
    worker = runner(app, fake, rate)
    await worker.plan()
    started = time.perf_counter()
    while fake.sent < people:
        await worker.send_due()
    return people / (time.perf_counter() - started)


async def idle_pass(app: App, worker: Campaigns, passes: int = 50) -> float:
    started = time.perf_counter()
    for _ in range(passes):
        await worker.plan()
        await worker.send_due()
    return (time.perf_counter() - started) / passes * 1000


async def pending(app: App, count: int, tag: str) -> None:
    """``count`` invitations due next year."""
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    batch = []
    for n in range(count):
        person = Person("telegram", f"{tag}{n}", "P")
        batch.append(
            Invitation(
                id=invitation_id(f"later-{tag}", "2027-12-01T09:00", person, 0),
                campaign_id=f"later-{tag}",
                occurrence="2027-12-01T09:00",
                platform="telegram",
                user_id=person.user_id,
                name="P",
                zone="UTC",
                survey_id="pulse",
                reminder=0,
                due_at=due,
                scheduled_at=due,
            )
        )
    for start in range(0, count, 1000):
        await app.invitations.add(batch[start : start + 1000])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with EmbeddedServices(ROOT, persistent=False) as services:
        state = Path(services.var_dir) / "bench-state"
        state.mkdir(exist_ok=True)

        async def opened(database: str) -> App:
            base = services.mongodb_uri.rsplit("/", 1)[0]
            environ = {
                "MONGODB_URI": f"{base}/{database}",
                "REDIS_URL": services.redis_url,
                "SURVEYBOT_SECRET": "b",
            }
            app = await open_app(load_config(ROOT / "config.yaml", environ=environ), state, alias=database)
            await publish(app.surveys, load_text(PULSE, "pulse.yaml"))
            return app

        app = await opened("campaigns_send")
        settings = app.config.campaigns
        assert app.rate is not None
        limited, lifted = [], []
        for round_ in range(args.rounds):
            limited.append(await send_rate(app, args.people // 10, app.rate, f"limited{round_}"))
            lifted.append(
                await send_rate(app, args.people, MemoryRate({"telegram": 1e9}, 10**6), f"lifted{round_}")
            )
        await app.aclose()
        print(f"one worker, invitations/s (median of {args.rounds}, range):")
        print(
            f"  under the shared budget ({settings.telegram_per_second:.0f}/s, burst {settings.burst}): "
            f"{statistics.median(limited):.1f} ({min(limited):.1f}-{max(limited):.1f}), "
            f"{args.people // 10} people"
        )
        print(
            f"  budget lifted (the worker's own ceiling): {statistics.median(lifted):.0f} "
            f"({min(lifted):.0f}-{max(lifted):.0f}), {args.people} people"
        )

        small, large = await opened("campaigns_idle_100"), await opened("campaigns_idle_10k")
        await pending(small, 100, "s")
        await pending(large, 10_000, "l")
        fake = Fake(0)
        workers = [
            runner(small, fake, MemoryRate({"telegram": 1e9})),
            runner(large, fake, MemoryRate({"telegram": 1e9})),
        ]
        ratios, costs = [], []
        for _ in range(args.rounds):
            a = await idle_pass(small, workers[0])
            b = await idle_pass(large, workers[1])
            ratios.append(b / a)
            costs.append((a, b))
        print("\nthe scheduler's idle pass each second (list campaigns, stale 'sending', claim what is due):")
        for a, b in costs:
            print(f"  100 pending: {a:.2f} ms   10,000 pending: {b:.2f} ms   ratio {b / a:.2f}")
        print(
            f"  10,000 / 100 median {statistics.median(ratios):.2f} "
            f"(range {min(ratios):.2f}-{max(ratios):.2f})"
        )
        await small.aclose()
        await large.aclose()


if __name__ == "__main__":
    asyncio.run(main())
