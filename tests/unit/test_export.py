"""The response export: columns, values, and CSV cells that a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from adapters.reports.export import (
    META_COLUMNS,
    Table,
    csv_cell,
    csv_lines,
    escape_formula,
    export_table,
    json_chunks,
)
from adapters.stores.memory import InMemoryResponseStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.loader import load_text
from bot.responses import Answer, AnswerValue, Respondent, Response, Status

SURVEY = """
id: lunch
title: Lunch
version: {version}
settings: {{one_response_per_user: false}}
questions:
  - id: dish
    type: multi_choice
    text: Dishes?
    choices: [Soup, Salad, Pie]
  - id: {second}
    type: number
    text: How many?
  - id: note
    type: text
    text: Anything else?
    required: false
"""

T1 = datetime(2025, 3, 1, 9, 30, 0, 250_000, tzinfo=UTC)
T2 = datetime(2025, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+31 6 1234", "'+31 6 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("a=b", "a=b"),
        ("", ""),
        ("Fine, thanks", "Fine, thanks"),
    ],
)
def test_formula_escaping(text: str, written: str) -> None:
    assert escape_formula(text) == written
    assert csv_cell(text) == written


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (None, ""),
        (True, "yes"),
        (False, "no"),
        (-3, "-3"),
        (2.5, "2.5"),
        (-4.0, "-4"),
        (["soup", "pie"], "soup;pie"),
        ("2025-03-01", "2025-03-01"),
        (T1, "2025-03-01T09:30:00.250+00:00"),
    ],
)
def test_cells(value: AnswerValue | datetime, written: str) -> None:
    assert csv_cell(value) == written


async def respond(
    responses: InMemoryResponseStore,
    rid: str,
    values: dict[str, AnswerValue],
    path: tuple[str, ...],
    at: datetime,
    version: int = 1,
    name: str | None = "Ada",
    status: Status = Status.COMPLETED,
) -> None:
    await responses.create(
        Response(
            id=rid,
            survey_id="lunch",
            version=version,
            respondent=Respondent("web", f"key-{rid}", f"user-{rid}", name),
            started_at=at,
            updated_at=at,
            status=status,
            answers={qid: Answer(v, at) for qid, v in values.items()},
            path=path,
            completed_at=at if status is Status.COMPLETED else None,
            one_per_user=False,
        )
    )


@pytest.fixture
async def table() -> Table:
    surveys, responses = InMemorySurveyStore(), InMemoryResponseStore()
    await publish(surveys, load_text(SURVEY.format(version=1, second="portions"), "lunch.yaml"))
    await publish(surveys, load_text(SURVEY.format(version=2, second="people"), "lunch.yaml"))
    await respond(
        responses,
        "a",
        {"dish": ["soup", "pie"], "portions": -2, "note": '=HYPERLINK("http://x")'},
        ("dish", "portions", "note"),
        T1,
        name="@admin",
    )
    await respond(
        responses,
        "b",
        {"dish": ["salad"], "people": 3, "note": "left off by back"},
        ("dish", "people"),
        T2,
        version=2,
        name=None,
        status=Status.IN_PROGRESS,
    )
    return await export_table(SurveyCache(surveys, 0), responses, "lunch")


def test_columns_newest_questions_first_then_older_ones(table: Table) -> None:
    assert table.columns == (*META_COLUMNS, "dish", "people", "note", "portions")


def test_csv_every_value(table: Table) -> None:
    text = "".join(csv_lines(table))
    rows = list(csv.reader(io.StringIO(text)))
    header, a, b = rows
    assert header == list(table.columns)
    assert dict(zip(header, a, strict=True)) == {
        "response.id": "a",
        "response.version": "1",
        "response.status": "completed",
        "response.started_at": "2025-03-01T09:30:00.250+00:00",
        "response.completed_at": "2025-03-01T09:30:00.250+00:00",
        "response.language": "",
        "respondent.platform": "web",
        "respondent.key": "key-a",
        "respondent.user_id": "user-a",
        "respondent.name": "'@admin",
        "dish": "soup;pie",
        "people": "",
        "note": '\'=HYPERLINK("http://x")',
        "portions": "-2",
    }
    assert dict(zip(header, b, strict=True)) == {
        "response.id": "b",
        "response.version": "2",
        "response.status": "in_progress",
        "response.started_at": "2025-03-02T10:00:00.000+00:00",
        "response.completed_at": "",
        "response.language": "",
        "respondent.platform": "web",
        "respondent.key": "key-b",
        "respondent.user_id": "user-b",
        "respondent.name": "",
        "dish": "salad",
        "people": "3",
        "note": "",  # answered once, then left off the path by `back`
        "portions": "",
    }
    assert text.endswith("\r\n") and text.count("\r\n") == 3


def test_json_keeps_types_and_does_not_escape(table: Table) -> None:
    chunks = list(json_chunks(table))
    assert len(chunks) == 4  # "[", one per response, "]"
    rows = json.loads("".join(chunks))
    assert rows[0]["dish"] == ["soup", "pie"]
    assert rows[0]["portions"] == -2
    assert rows[0]["note"] == '=HYPERLINK("http://x")'
    assert rows[0]["respondent.name"] == "@admin"
    assert rows[0]["response.started_at"] == "2025-03-01T09:30:00.250+00:00"
    assert rows[1]["response.completed_at"] is None
    assert rows[1]["people"] == 3
    assert list(rows[1]) == list(table.columns)


def test_no_responses() -> None:
    empty = Table(("response.id", "dish"), ())
    assert list(csv_lines(empty)) == ["response.id,dish\r\n"]
    assert json.loads("".join(json_chunks(empty))) == []
