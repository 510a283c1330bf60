"""Results: every number checked against one computed by hand from the responses written out below."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from adapters.stores.memory import InMemoryResponseStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.errors import SurveyNotFound
from bot.loader import load_text
from bot.responses import Answer, AnswerValue, Respondent, Response, Status
from bot.results import Count, QuestionSummary, SurveySummary, summarize, summary_text
from bot.survey import QuestionType

SHOP = """
id: shop
title: Shop
version: 1
settings:
  one_response_per_user: false
questions:
  - id: flavour
    type: single_choice
    text: Flavour?
    choices: [Vanilla, Chocolate, Strawberry]
  - id: toppings
    type: multi_choice
    text: Toppings?
    required: false
    choices: [Nuts, Sprinkles, Sauce]
  - id: stars
    type: rating
    text: Stars?
    labels: {5: Great}
  - id: score
    type: nps
    text: Recommend us?
  - id: age
    type: number
    text: Age?
  - id: again
    type: yes_no
    text: Again?
  - id: visit
    type: date
    text: When?
  - id: why
    type: text
    text: "Why {flavour}, {respondent.name}? {{really}}"
    required: false
"""

T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def store_response(
    responses: InMemoryResponseStore,
    number: int,
    values: dict[str, AnswerValue],
    path: list[str],
    status: Status = Status.COMPLETED,
    version: int = 1,
    survey_id: str = "shop",
) -> None:
    """A response as the engine leaves it: ``path`` lists answered and skipped questions in order."""
    at = T0 + timedelta(minutes=number)
    await responses.create(
        Response(
            id=f"r{number}",
            survey_id=survey_id,
            version=version,
            respondent=Respondent("test", f"key{number}", f"user{number}", f"User {number}"),
            started_at=at,
            updated_at=at,
            status=status,
            answers={qid: Answer(value, at) for qid, value in values.items()},
            path=tuple(path),
            completed_at=at if status is Status.COMPLETED else None,
            one_per_user=False,
        )
    )


ALL = ["flavour", "toppings", "stars", "score", "age", "again", "visit", "why"]


@pytest.fixture
async def shop() -> tuple[SurveyCache, InMemoryResponseStore]:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(surveys, load_text(SHOP, "shop.yaml"))
    r1: dict[str, AnswerValue] = {
        "flavour": "chocolate",
        "toppings": ["nuts", "sauce"],
        "stars": 5,
        "score": 10,
        "age": 30.0,
    }
    r1 |= {"again": True, "visit": "2025-01-02", "why": "good"}
    await store_response(responses, 1, r1, ALL)
    r2: dict[str, AnswerValue] = {
        "flavour": "vanilla",
        "stars": 4,
        "score": 9,
        "age": 41.5,
        "again": False,
        "visit": "2025-01-02",
    }
    await store_response(responses, 2, r2, ALL)  # toppings and why skipped: on the path, no answer
    r3: dict[str, AnswerValue] = {
        "flavour": "chocolate",
        "toppings": ["sauce"],
        "stars": 2,
        "score": 3,
        "age": 25.0,
    }
    r3 |= {"again": True, "visit": "2025-01-05", "why": "meh"}
    await store_response(responses, 3, r3, ALL)
    # In progress at `stars`; its old answer to `stars` was left off the path by `back`: not counted.
    r4: dict[str, AnswerValue] = {"flavour": "strawberry", "toppings": ["nuts"], "stars": 1}
    await store_response(responses, 4, r4, ["flavour", "toppings"], Status.IN_PROGRESS)
    await store_response(responses, 5, {}, [], Status.IN_PROGRESS)  # waiting at the first question
    return SurveyCache(surveys, newest_ttl=0), responses


def by_id(summary: SurveySummary) -> dict[str, QuestionSummary]:
    return {q.id: q for q in summary.questions}


async def test_counts_and_completion(shop: tuple[SurveyCache, InMemoryResponseStore]) -> None:
    summary = await summarize(*shop, "shop")
    assert (summary.survey_id, summary.title, summary.version) == ("shop", "Shop", 1)
    assert (summary.started, summary.completed, summary.in_progress) == (5, 3, 2)
    assert summary.completion_rate == pytest.approx(0.6)
    questions = by_id(summary)
    assert list(questions) == ALL

    flavour = questions["flavour"]
    assert (flavour.answered, flavour.skipped, flavour.reached, flavour.dropped) == (4, 0, 5, 1)
    assert flavour.drop_off_rate == pytest.approx(0.2)
    assert flavour.counts == (
        Count("vanilla", "Vanilla", 1),
        Count("chocolate", "Chocolate", 2),
        Count("strawberry", "Strawberry", 1),
    )
    assert flavour.mean is None and flavour.nps is None

    toppings = questions["toppings"]
    assert (toppings.answered, toppings.skipped, toppings.reached, toppings.dropped) == (3, 1, 4, 0)
    assert [(c.value, c.count) for c in toppings.counts] == [("nuts", 2), ("sprinkles", 0), ("sauce", 2)]

    again = questions["again"]
    assert again.counts == (Count("yes", "Yes", 2), Count("no", "No", 1))
    visit = questions["visit"]
    assert visit.counts == (Count("2025-01-02", "2025-01-02", 2), Count("2025-01-05", "2025-01-05", 1))

    why = questions["why"]
    assert (why.answered, why.skipped, why.counts) == (2, 1, ())
    assert why.text == "Why ‹flavour›, ‹name›? {really}", "placeholders named, as answers differ"


async def test_scales_mean_median_distribution_and_nps(
    shop: tuple[SurveyCache, InMemoryResponseStore],
) -> None:
    questions = by_id(await summarize(*shop, "shop"))

    stars = questions["stars"]  # 5, 4, 2; r4's 1 is off its path
    assert (stars.answered, stars.reached, stars.dropped) == (3, 4, 1)
    assert stars.mean == pytest.approx(11 / 3)
    assert stars.median == 4
    assert [(c.value, c.label, c.count) for c in stars.counts] == [
        ("1", "1", 0),
        ("2", "2", 1),
        ("3", "3", 0),
        ("4", "4", 1),
        ("5", "5 Great", 1),
    ]
    assert stars.nps is None

    score = questions["score"]  # 10, 9, 3: two promoters, one detractor
    assert score.mean == pytest.approx(22 / 3)
    assert score.median == 9
    assert (score.promoters, score.passives, score.detractors) == (2, 0, 1)
    assert score.nps == pytest.approx(100 / 3)
    assert [c.value for c in score.counts] == [str(n) for n in range(11)]
    assert [c.count for c in score.counts] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]

    age = questions["age"]  # 30, 41.5, 25
    assert age.mean == pytest.approx(96.5 / 3)
    assert age.median == 30
    assert [(c.value, c.count) for c in age.counts] == [("25", 1), ("30", 1), ("41.5", 1)]


async def test_even_count_median_and_no_answers() -> None:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(surveys, load_text(SHOP, "shop.yaml"))
    for number, stars in enumerate((1, 2, 4, 5), 1):
        await store_response(
            responses, number, {"flavour": "vanilla", "stars": stars}, ["flavour", "toppings", "stars"]
        )
    questions = by_id(await summarize(SurveyCache(surveys, 0), responses, "shop"))
    assert questions["stars"].median == 3
    assert questions["stars"].mean == 3
    score = questions["score"]
    assert (score.answered, score.mean, score.median, score.nps) == (0, None, None, None)
    assert all(c.count == 0 for c in score.counts)


async def test_every_version_counts_with_the_newest_texts() -> None:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(surveys, load_text(SHOP, "shop.yaml"))
    newer = SHOP.replace("version: 1", "version: 2").replace("text: Flavour?", "text: Which flavour?")
    newer = newer.replace("[Vanilla, Chocolate, Strawberry]", "[Vanilla, Chocolate]")
    await publish(surveys, load_text(newer, "shop.yaml"))
    await store_response(responses, 1, {"flavour": "strawberry"}, ["flavour"], Status.IN_PROGRESS, version=1)
    await store_response(responses, 2, {"flavour": "vanilla"}, ["flavour"], Status.IN_PROGRESS, version=2)
    await store_response(responses, 3, {"flavour": "vanilla"}, ["flavour"], survey_id="other")
    summary = await summarize(SurveyCache(surveys, 0), responses, "shop")
    flavour = summary.questions[0]
    assert (summary.version, summary.started, flavour.text) == (2, 2, "Which flavour?")
    assert flavour.counts == (
        Count("vanilla", "Vanilla", 1),
        Count("chocolate", "Chocolate", 0),
        Count("strawberry", "strawberry", 1),  # only version 1 offered it: its id stands for its label
    )
    assert by_id(summary)["toppings"].dropped == 2


async def test_unknown_survey() -> None:
    with pytest.raises(SurveyNotFound):
        await summarize(SurveyCache(InMemorySurveyStore(), 0), InMemoryResponseStore(), "nope")


async def test_summary_text(shop: tuple[SurveyCache, InMemoryResponseStore]) -> None:
    text = summary_text(await summarize(*shop, "shop"))
    expected = """\
    Shop (shop, version 1)
    Started 5, completed 3 (60%), in progress 2

    1. Flavour?
       4 answers, 1 stopped here: Vanilla 1 (25%); Chocolate 2 (50%); Strawberry 1 (25%)

    2. Toppings?
       3 answers, 1 skipped: Nuts 2 (67%); Sprinkles 0 (0%); Sauce 2 (67%)

    3. Stars?
       3 answers, 1 stopped here: mean 3.7, median 4

    4. Recommend us?
       3 answers: NPS +33 (2 promoters, 1 detractor), mean 7.3, median 9

    5. Age?
       3 answers: mean 32.2, median 30

    6. Again?
       3 answers: Yes 2 (67%); No 1 (33%)

    7. When?
       3 answers: 2025-01-02 2 (67%); 2025-01-05 1 (33%)

    8. Why ‹flavour›, ‹name›? {really}
       2 answers, 1 skipped"""
    assert text == textwrap.dedent(expected)


def test_question_types_are_all_summarised() -> None:
    """A new question type must be given a summary (and a chart) on purpose."""
    from bot.results import COUNTED_TYPES, SCALE_TYPES

    assert COUNTED_TYPES | SCALE_TYPES | {QuestionType.TEXT, QuestionType.EMAIL} == set(QuestionType)
