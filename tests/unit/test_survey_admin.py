"""Admin work from a chat, once for every platform: the same checks, texts and outage answer."""

from __future__ import annotations

import pytest

from adapters import survey_admin as admin
from adapters.stores.memory import InMemoryResponseStore, InMemorySurveyStore
from adapters.survey_admin import MAX_UPLOAD_BYTES, AdminReply, SurveyAdmin
from bot import texts
from bot.catalog import SurveyCache

LUNCH = b"""id: lunch
title: Lunch
questions:
  - id: dish
    type: text
    text: What did you eat?
"""


@pytest.fixture
def service() -> SurveyAdmin:
    surveys = InMemorySurveyStore()
    return SurveyAdmin(surveys, SurveyCache(surveys, newest_ttl=0), InMemoryResponseStore(), ["ada"])


def test_uploads_refused_before_any_download(service: SurveyAdmin) -> None:
    assert service.refuse_upload("bob", "lunch.yaml", 10) == AdminReply(admin.NOT_ADMIN_UPLOAD)
    assert service.refuse_upload("ada", "notes.txt", 10) == AdminReply(
        admin.NOT_YAML.format(name="notes.txt")
    )
    too_large = service.refuse_upload("ada", "big.yml", MAX_UPLOAD_BYTES + 1)
    assert too_large is not None and too_large.text.startswith("“big.yml” is larger than 1024 KB")
    assert service.refuse_upload("ada", "LUNCH.YAML", None) is None


async def test_loading_says_what_surveybot_load_says(service: SurveyAdmin) -> None:
    assert await service.load("lunch.yaml", LUNCH) == AdminReply("stored lunch version 1 (lunch.yaml)")
    assert await service.load("lunch.yaml", LUNCH) == AdminReply("unchanged lunch version 1 (lunch.yaml)")
    broken = await service.load("broken.yaml", LUNCH.replace(b"type: text", b"type: essay"))
    assert broken.text == "“broken.yaml” was not loaded: 1 problem; nothing was stored."
    assert broken.detail.startswith("broken.yaml:5: question 'dish': ")
    assert (await service.load("lunch.yaml", None)).text == admin.UNREADABLE.format(name="lunch.yaml")
    assert (await service.load("x.yaml", b"#" * (MAX_UPLOAD_BYTES + 1))).text.startswith("“x.yaml” is larger")


async def test_a_store_outage_answers_try_again(service: SurveyAdmin) -> None:
    service._surveys.fail = True  # type: ignore[attr-defined]
    assert await service.load("lunch.yaml", LUNCH) == AdminReply(texts.UNAVAILABLE)
    assert await service.results("ada", "lunch") == AdminReply(texts.UNAVAILABLE)


async def test_results_for_admins_with_a_chart_per_answered_question(service: SurveyAdmin) -> None:
    assert await service.results("bob", "lunch") == AdminReply(admin.NOT_ADMIN_RESULTS)
    assert await service.results("ada", " ") == AdminReply(admin.RESULTS_USAGE)
    assert await service.results("ada", "nope") == AdminReply(texts.UNKNOWN_SURVEY.format(survey_id="nope"))
    await service.load("lunch.yaml", LUNCH)
    reply = await service.results("ada", "LUNCH")
    assert reply.text == "Results of lunch:"
    assert reply.detail.splitlines()[0] == "Lunch (lunch, version 1)"
    assert reply.charts == (), "no answers yet, nothing to draw"


async def test_a_loaded_survey_is_checked_and_its_warnings_follow_the_stored_line() -> None:
    from adapters.check import upload_warnings

    surveys = InMemorySurveyStore()
    service = SurveyAdmin(
        surveys, SurveyCache(surveys, newest_ttl=0), InMemoryResponseStore(), ["ada"], check=upload_warnings
    )
    unreachable = (
        LUNCH + b"    next:\n      - {goto: end}\n  - id: drink\n    type: text\n    text: And to drink?\n"
    )

    clean = await service.load("lunch.yaml", LUNCH)
    warned = await service.load("lunch.yaml", unreachable)

    assert clean == AdminReply("stored lunch version 1 (lunch.yaml)")
    assert warned.text == "stored lunch version 2 (lunch.yaml)"
    assert warned.detail.splitlines() == [
        "surveybot check: 1 warning (1 path; shortest 1 question, longest 1)",
        "lunch.yaml:9: question 'drink': no path reaches this question: "
        "the rules before it always go past it [unreachable]",
    ]
