"""Render the chart samples shown in README.md: `.venv/bin/python docs/chart_samples.py`.

Made-up answers to surveys/customer-feedback.yaml (a fixed random seed), summarised and drawn by the same
code as the admin API: a bar chart (a multi-choice question) and a histogram (the NPS question).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.reports.charts import render_charts
from adapters.stores.memory import InMemoryResponseStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.loader import load_file
from bot.responses import Answer, AnswerValue, Respondent, Response, Status
from bot.results import summarize

HERE = Path(__file__).resolve().parent
SAMPLES = {"ordered": "chart-bar.png", "recommend": "chart-histogram.png"}


async def main() -> None:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(surveys, load_file(HERE.parent / "surveys" / "customer-feedback.yaml"))
    rng = random.Random(7)
    start = datetime(2025, 5, 1, 8, tzinfo=UTC)
    dishes = ["espresso_or_filter_coffee", "milk_based_coffee", "tea", "hot_chocolate", "pastry"]
    weights = [5, 8, 3, 2, 6]
    for number in range(120):
        at = start + timedelta(minutes=7 * number)
        ordered = sorted(set(rng.choices(dishes, weights, k=rng.randint(1, 3))), key=dishes.index)
        values: dict[str, AnswerValue] = {
            "recommend": rng.choices(range(11), [1, 1, 1, 2, 2, 3, 4, 8, 12, 14, 10])[0],
            "satisfaction": rng.choices(range(1, 6), [1, 2, 5, 9, 6])[0],
            "ordered": ordered,
        }
        await responses.create(
            Response(
                id=f"r{number}",
                survey_id="customer-feedback",
                version=3,
                respondent=Respondent("web", f"k{number}"),
                started_at=at,
                updated_at=at,
                status=Status.COMPLETED,
                answers={qid: Answer(value, at) for qid, value in values.items()},
                path=("recommend", "satisfaction", "ordered"),
                completed_at=at,
                one_per_user=False,
            )
        )
    summary = await summarize(SurveyCache(surveys), responses, "customer-feedback")
    for chart in render_charts(summary):
        if chart.name in SAMPLES:
            (HERE / SAMPLES[chart.name]).write_bytes(chart.png)
            print(f"wrote docs/{SAMPLES[chart.name]}")


if __name__ == "__main__":
    asyncio.run(main())
