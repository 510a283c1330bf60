"""Responses as a table: one row per response, one column per question, written as CSV or JSON.

The admin API streams these, and ``surveybot results --csv`` writes the same CSV. Columns: the
response's and respondent's fields (their names hold a dot, which question ids never do, so they
cannot clash), then one per question of the newest version, in its order, then any question only
older versions ask. Values are the stored ones: choice ids (several joined with ``;`` in CSV),
``yes``/``no`` in CSV and true/false in JSON, numbers, ``YYYY-MM-DD`` dates, text.

In CSV, a text that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is written with a
leading ``'``, so that a spreadsheet shows it instead of running it as a formula (OWASP's advice on CSV
injection). Numbers stored as numbers (a ``number`` answer of -3) are written as they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from bot.catalog import SurveyCache
from bot.errors import SurveyNotFound
from bot.ports import ResponseStore
from bot.responses import AnswerValue, Response, Status

Cell: TypeAlias = AnswerValue | datetime
Row: TypeAlias = dict[str, Cell]

META_COLUMNS = (
    "response.id",
    "response.version",
    "response.status",
    "response.started_at",
    "response.completed_at",
    "response.language",
    "respondent.platform",
    "respondent.key",
    "respondent.user_id",
    "respondent.name",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


async def export_table(
    cache: SurveyCache,
    responses: ResponseStore,
    survey_id: str,
    status: Status | None = None,
    since: datetime | None = None,
) -> Table:
    """The responses to ``survey_id`` (filtered like :meth:`ResponseStore.list`) as a table.

    Raises :class:`~bot.errors.SurveyNotFound`.
    """
    newest = await cache.get(survey_id)
    listed = await responses.list(survey_id, status=status, since=since)
    questions = [q.id for q in newest.questions]
    for version in sorted({r.version for r in listed} - {newest.version}, reverse=True):
        try:
            older = [q.id for q in (await cache.get(survey_id, version)).questions]
        except SurveyNotFound:
            older = []
        questions += [qid for qid in older if qid not in questions]
    for response in listed:  # answers to questions of no stored version: kept, not lost
        questions += [qid for qid in response.answers if qid not in questions]
    return Table((*META_COLUMNS, *questions), tuple(_row(r, questions) for r in listed))


def _row(response: Response, questions: Sequence[str]) -> Row:
    who = response.respondent
    row: Row = {
        "response.id": response.id,
        "response.version": response.version,
        "response.status": response.status.value,
        "response.started_at": response.started_at,
        "response.completed_at": response.completed_at,
        "response.language": response.language,
        "respondent.platform": who.platform,
        "respondent.key": who.key,
        "respondent.user_id": who.user_id,
        "respondent.name": who.name,
    }
    values = response.values()
    for qid in questions:
        row[qid] = values.get(qid)
    return row


def escape_formula(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would take it for a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Cell) -> str:
    """How one value is written in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, list):
        return escape_formula(";".join(value))
    return escape_formula(value)


def json_cell(value: Cell) -> AnswerValue:
    return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else value


def csv_lines(table: Table) -> Iterator[str]:
    """The CSV text, one line (with its ``\\r\\n``) at a time, the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[str]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(escape_formula(c) for c in table.columns)
    for row in table.rows:
        yield line(csv_cell(row[c]) for c in table.columns)


def json_chunks(table: Table) -> Iterator[str]:
    """A JSON array of one object per response (keys as the CSV header), one response per chunk."""
    yield "["
    for number, row in enumerate(table.rows):
        entry = {column: json_cell(row[column]) for column in table.columns}
        yield ("," if number else "") + "\n" + json.dumps(entry, ensure_ascii=False)
    yield "\n]\n"
