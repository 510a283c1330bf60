"""The admin HTTP API under ``/api``: surveys, responses, exports, results, charts and webhooks.

Every route needs ``Authorization: Bearer <ADMIN_API_TOKEN>``; without a configured token the router is
not mounted at all (see :func:`adapters.web.app.create_web_app`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from adapters.bootstrap import App
from adapters.campaigns import campaign_status, store_campaign, web_link
from adapters.check import check_stored
from adapters.reports.charts import render_charts
from adapters.reports.export import Table, csv_lines, export_table, json_chunks
from adapters.survey_admin import MAX_UPLOAD_BYTES, TOO_LARGE, not_loaded
from adapters.web.limits import client_address
from adapters.webhooks import Delivery, DeliveryStatus, signing_secret
from bot.campaigns import Campaign
from bot.catalog import publish_upload
from bot.errors import DefinitionError, NotFound, SurveyNotFound, VersionConflict
from bot.responses import AnswerValue, Status
from bot.responses import Response as StoredResponse
from bot.results import QuestionSummary, SurveySummary, summarize, summary_text
from bot.survey import Survey

EXAMPLE_YAML = """\
id: ice-cream
title: Ice cream preferences
questions:
  - id: flavour
    type: single_choice
    text: Which flavour of ice cream do you prefer?
    choices: [Vanilla, Chocolate, Strawberry]
  - id: why
    type: text
    text: Why {flavour}?
    required: false
"""

BROKEN_YAML = """\
id: ice-cream
title: Ice cream preferences
questions:
  - id: flavour
    type: single_choice
    text: Which flavour?
    choices: [Vanilla]
"""

# --- response bodies ----------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class SurveyListItem(_Out):
    id: str
    title: str
    version: int
    archived: bool
    in_progress: int
    completed: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ice-cream",
                    "title": "Ice cream preferences",
                    "version": 1,
                    "archived": False,
                    "in_progress": 2,
                    "completed": 9,
                }
            ]
        }
    )


class ChoiceOut(_Out):
    id: str
    label: str


class QuestionOut(_Out):
    id: str
    type: str
    text: str
    required: bool
    choices: list[ChoiceOut] = []


class SurveyDetail(_Out):
    id: str
    title: str
    version: int
    archived: bool
    questions: list[QuestionOut]
    source: str = Field(description="The YAML text this version was loaded from.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ice-cream",
                    "title": "Ice cream preferences",
                    "version": 1,
                    "archived": False,
                    "questions": [
                        {
                            "id": "flavour",
                            "type": "single_choice",
                            "text": "Which flavour of ice cream do you prefer?",
                            "required": True,
                            "choices": [{"id": "vanilla", "label": "Vanilla"}],
                        }
                    ],
                    "source": EXAMPLE_YAML,
                }
            ]
        }
    )


class Uploaded(_Out):
    id: str
    title: str
    version: int
    stored: bool = Field(description="False when the same content was stored already: nothing changed.")
    warnings: list[str] = Field(
        default=[], description="What `surveybot check` warns of, as `FILE:LINE: …` (stored all the same)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ice-cream",
                    "title": "Ice cream preferences",
                    "version": 2,
                    "stored": True,
                    "warnings": [],
                }
            ]
        }
    )


class CheckPathsOut(_Out):
    count: int = Field(description="Distinct paths found (the sequences of questions asked).")
    more: bool = Field(description="More paths than were listed: `count` is a lower bound.")
    sampled: bool = Field(
        description="Too large to walk in full: not every combination of answers was tried."
    )
    shortest: int
    longest: int
    states: int


class CheckWarningOut(_Out):
    code: str
    file: str
    line: int
    question: str | None
    message: str


class CheckOut(_Out):
    file: str
    survey: str
    version: int | None
    questions: int
    paths: CheckPathsOut
    warnings: list[CheckWarningOut]


class Problems(_Out):
    detail: str
    problems: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "“upload.yaml” was not loaded: 1 problem; nothing was stored.",
                    "problems": ["ice-cream.yaml:7: question 'flavour': needs at least two choices, not 1"],
                }
            ]
        }
    )


class Detail(_Out):
    detail: str


class WebhookOut(_Out):
    url: str
    events: list[str]
    secret: str = Field(
        description="What the endpoint checks `X-Surveybot-Signature` with (docs/webhooks.md)."
    )


class DeliveryOut(_Out):
    id: str
    event_id: str = Field(description="The same for every attempt and endpoint: receivers deduplicate on it.")
    event: str
    survey_id: str
    url: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_at: datetime = Field(description="When it is due (pending), or was last due.")
    last_error: str | None
    delivered_at: datetime | None


class CampaignOut(_Out):
    id: str
    survey_id: str
    schedule: str = Field(description="The cron expression or the date and time, with the time zone.")
    paused: bool
    web_link: str = Field(description="The survey in the web chat, counted for this campaign: share it.")
    web_started: int = Field(description="Responses begun from the web link.")
    web_completed: int


class CampaignStored(_Out):
    id: str
    stored: bool = Field(description="False when the same definition was stored already.")


class OccurrenceOut(_Out):
    occurrence: str = Field(description="The wall-clock time of the occurrence, YYYY-MM-DDTHH:MM.")
    invited: int
    reminded: int
    started: int
    completed: int
    pending: int
    failed: int
    skipped: int
    unconfirmed: int
    expired: int


class Retried(_Out):
    id: str
    status: DeliveryStatus


class Archived(_Out):
    id: str
    archived: bool


class RespondentOut(_Out):
    platform: str
    key: str = Field(description="Keyed hash of platform and user id; the only field of anonymous surveys.")
    user_id: str | None
    name: str | None


class AnswerOut(_Out):
    value: AnswerValue
    at: datetime


class ResponseOut(_Out):
    id: str
    survey_id: str
    version: int
    status: Status
    respondent: RespondentOut
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    language: str | None = Field(default=None, description="The language the respondent was asked in.")
    path: list[str] = Field(description="Questions answered or skipped, in order.")
    answers: dict[str, AnswerOut] = Field(description="The answers on the path, by question id.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "66a1f0c2e4b0a1b2c3d4e5f6",
                    "survey_id": "ice-cream",
                    "version": 1,
                    "status": "completed",
                    "respondent": {
                        "platform": "web",
                        "key": "9f2c…",
                        "user_id": "b3c1d2e4f5a6",
                        "name": "Ada",
                    },
                    "started_at": "2025-05-01T12:00:00.123Z",
                    "updated_at": "2025-05-01T12:01:10.456Z",
                    "completed_at": "2025-05-01T12:01:10.456Z",
                    "path": ["flavour", "wants_feedback"],
                    "answers": {
                        "flavour": {"value": "chocolate", "at": "2025-05-01T12:00:30.000Z"},
                        "wants_feedback": {"value": False, "at": "2025-05-01T12:01:10.456Z"},
                    },
                }
            ]
        }
    )


class CountOut(_Out):
    value: str
    label: str
    count: int


class QuestionSummaryOut(_Out):
    id: str
    type: str
    text: str
    answered: int
    skipped: int
    reached: int = Field(description="Responses that got to this question.")
    dropped: int = Field(description="Responses in progress that stopped at this question.")
    drop_off_rate: float = Field(description="dropped / reached")
    counts: list[CountOut]
    mean: float | None
    median: float | None
    nps: float | None = Field(description="NPS questions: % promoters (9-10) − % detractors (0-6).")
    promoters: int
    passives: int
    detractors: int


class SummaryOut(_Out):
    survey_id: str
    title: str
    version: int
    started: int
    completed: int
    in_progress: int
    completion_rate: float
    questions: list[QuestionSummaryOut]
    languages: dict[str, int] = Field(
        default={}, description='Responses started per language they were given in ("": none recorded).'
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "survey_id": "ice-cream",
                    "title": "Ice cream preferences",
                    "version": 1,
                    "started": 4,
                    "completed": 3,
                    "in_progress": 1,
                    "completion_rate": 0.75,
                    "questions": [
                        {
                            "id": "flavour",
                            "type": "single_choice",
                            "text": "Which flavour of ice cream do you prefer?",
                            "answered": 4,
                            "skipped": 0,
                            "reached": 4,
                            "dropped": 0,
                            "drop_off_rate": 0.0,
                            "counts": [
                                {"value": "vanilla", "label": "Vanilla", "count": 1},
                                {"value": "chocolate", "label": "Chocolate", "count": 3},
                                {"value": "strawberry", "label": "Strawberry", "count": 0},
                            ],
                            "mean": None,
                            "median": None,
                            "nps": None,
                            "promoters": 0,
                            "passives": 0,
                            "detractors": 0,
                        }
                    ],
                }
            ]
        }
    )


class ChartOut(_Out):
    name: str
    title: str
    url: str


# --- conversions --------------------------------------------------------------------------------------


def survey_detail(survey: Survey, archived: bool) -> SurveyDetail:
    assert survey.version is not None
    return SurveyDetail(
        id=survey.id,
        title=survey.title,
        version=survey.version,
        archived=archived,
        questions=[
            QuestionOut(
                id=q.id,
                type=q.type.value,
                text=q.text,
                required=q.required,
                choices=[ChoiceOut(id=c.id, label=c.label) for c in q.choices],
            )
            for q in survey.questions
        ],
        source=survey.source,
    )


def response_out(response: StoredResponse) -> ResponseOut:
    who = response.respondent
    return ResponseOut(
        id=response.id,
        survey_id=response.survey_id,
        version=response.version,
        status=response.status,
        respondent=RespondentOut(platform=who.platform, key=who.key, user_id=who.user_id, name=who.name),
        started_at=response.started_at,
        updated_at=response.updated_at,
        completed_at=response.completed_at,
        language=response.language,
        path=list(response.path),
        answers={
            qid: AnswerOut(value=answer.value, at=answer.at)
            for qid, answer in response.answers_on_path().items()
        },
    )


def summary_out(summary: SurveySummary) -> SummaryOut:
    """The summary as the API answers it: the same fields, read off the dataclasses (derived rates too)."""
    return SummaryOut.model_validate(summary, from_attributes=True)


# --- the router ---------------------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The value of ADMIN_API_TOKEN, sent as `Authorization: Bearer <token>`.",
)

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "No bearer token, or a wrong one."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Detail, "description": "No such survey."}}

StatusFilter = Annotated[
    Status | None,
    Query(description="Only responses with this status.", openapi_examples={"done": {"value": "completed"}}),
]
SinceFilter = Annotated[
    datetime | None,
    Query(
        description="Only responses started at or after this moment (ISO 8601).",
        openapi_examples={"may": {"value": "2025-05-01T00:00:00Z"}},
    ),
]
SurveyId = Annotated[str, Path(description="The survey's id.", examples=["ice-cream"])]


ADMIN_FAILURES_PER_MINUTE = 10
"""Wrong or missing admin tokens one client address may send in a minute before it is refused (429)."""


async def wrong_token_allowed(app: App, request: Request) -> bool:
    """Count one wrong or missing admin token from the request's address (all workers together): False
    past :data:`ADMIN_FAILURES_PER_MINUTE` in the minute, when it is refused without a comparison (the API
    and the console's sign-in share the budget, so guessing costs a minute per few tries either way)."""
    return await app.limiter.allow(
        "admin-auth-failures", client_address(request), ADMIN_FAILURES_PER_MINUTE, 60
    )


# --- the work the API and the console share -----------------------------------------------------------


async def survey_items(app: App) -> list[SurveyListItem]:
    """Every survey's newest version, archived ones too, with its responses in progress and completed."""
    offered = {s.id for s in await app.surveys.list_newest()}
    items = []
    for survey in await app.surveys.list_newest(include_archived=True):
        assert survey.version is not None
        counts = await app.responses.count(survey.id)
        items.append(
            SurveyListItem(
                id=survey.id,
                title=survey.title,
                version=survey.version,
                archived=survey.id not in offered,
                in_progress=counts.get(Status.IN_PROGRESS, 0),
                completed=counts.get(Status.COMPLETED, 0),
            )
        )
    return items


async def set_archived(app: App, survey_id: str, archived: bool) -> None:
    """Stop (or resume) offering a survey. Raises :class:`SurveyNotFound`."""
    await app.surveys.set_archived(survey_id, archived)
    app.cache.forget()


def charted(summary: SurveySummary) -> list[QuestionSummary]:
    """The questions that have a chart: answered, and counted (not free text)."""
    return [q for q in summary.questions if q.answered and q.counts]


async def chart_png(summary: SurveySummary, question_id: str) -> bytes | None:
    """One question's chart (None: unknown, no answers, or free text), rendered in a worker thread."""
    chosen = tuple(q for q in summary.questions if q.id == question_id)
    rendered = await asyncio.to_thread(render_charts, replace(summary, questions=chosen))
    return rendered[0].png if rendered else None


EXPORT_FORMATS = {"csv": (csv_lines, "text/csv; charset=utf-8"), "json": (json_chunks, "application/json")}


def export_download(table: Table, survey_id: str, kind: Literal["csv", "json"]) -> StreamingResponse:
    """``table`` streamed as a CSV or JSON file to save (``Content-Disposition: attachment``)."""
    chunks, media_type = EXPORT_FORMATS[kind]
    return StreamingResponse(
        _encoded(chunks(table)),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{survey_id}-responses.{kind}"'},
    )


async def campaign_out(app: App, campaign: Campaign, paused: bool) -> CampaignOut:
    counts = await app.responses.count_campaign(campaign.id)
    return CampaignOut(
        id=campaign.id,
        survey_id=campaign.survey_id,
        schedule=campaign.schedule.describe(),
        paused=paused,
        web_link=web_link(app.config.web.base_url, campaign),
        web_started=sum(counts.values()),
        web_completed=counts[Status.COMPLETED],
    )


async def campaign_rows(app: App, campaign_id: str) -> list[OccurrenceOut]:
    """A campaign's status per occurrence. Raises :class:`NotFound`."""
    return [OccurrenceOut(**vars(row)) for row in await campaign_status(app.campaign_runner({}), campaign_id)]


def admin_router(app: App, token: str) -> APIRouter:
    """The admin API, guarded by ``token``."""
    expected = token.encode()

    async def authorized(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if hmac.compare_digest(given, expected):
            return
        # Wrong or missing: counted per client address across workers; past the limit, refused
        # without a comparison for the rest of the minute (guessing costs a minute per few tries).
        if not await wrong_token_allowed(app, request):
            raise HTTPException(
                429, "too many wrong tokens from your address; wait a minute", {"Retry-After": "60"}
            )
        if credentials is None:
            raise HTTPException(401, "a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(
            401, "the bearer token is wrong", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )

    router = APIRouter(prefix="/api", dependencies=[Depends(authorized)], responses=_UNAUTHORIZED)

    async def newest(survey_id: str) -> Survey:
        try:
            return await app.cache.get(survey_id)
        except SurveyNotFound as error:
            raise HTTPException(404, str(error)) from None

    async def offered_ids() -> set[str]:
        return {s.id for s in await app.surveys.list_newest()}

    # --- surveys

    @router.get("/surveys", tags=["surveys"], summary="List surveys (newest versions, archived too)")
    async def list_surveys() -> list[SurveyListItem]:
        return await survey_items(app)

    @router.get(
        "/surveys/{survey_id}", tags=["surveys"], summary="Get a survey: the newest version, or a given one"
    )
    async def get_survey(
        survey_id: SurveyId,
        version: Annotated[
            int | None, Query(ge=1, description="A stored version; default the newest.")
        ] = None,
    ) -> SurveyDetail:
        try:
            survey = await app.surveys.get(survey_id, version)
        except SurveyNotFound as error:
            raise HTTPException(404, str(error)) from None
        return survey_detail(survey, archived=survey_id not in await offered_ids())

    @router.post(
        "/surveys",
        tags=["surveys"],
        summary="Upload a survey (YAML)",
        description=(
            "Validates the YAML like `surveybot validate` and stores a new version when its content differs "
            "from the newest stored one (201); the same content again changes nothing (200). A file that "
            "breaks the format is refused whole with every problem as `FILE:LINE: …` (422)."
        ),
        status_code=201,
        response_model=Uploaded,
        responses={
            200: {"model": Uploaded, "description": "The same content is stored already."},
            409: {"model": Detail, "description": "That version is stored with different content."},
            413: {"model": Detail, "description": "Larger than 1 MiB."},
            422: {"model": Problems, "description": "The file breaks the survey format."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/yaml": {
                        "schema": {"type": "string"},
                        "examples": {
                            "valid": {"summary": "A valid survey", "value": EXAMPLE_YAML},
                            "broken": {"summary": "A survey with a problem (422)", "value": BROKEN_YAML},
                        },
                    }
                },
            }
        },
    )
    async def upload_survey(
        request: Request,
        response: Response,
        filename: Annotated[
            str, Query(max_length=200, description="The name problems are reported under.")
        ] = "upload.yaml",
    ) -> Uploaded | JSONResponse:
        data = await request.body()
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, TOO_LARGE.format(name=filename))
        try:
            published = await publish_upload(app.surveys, app.cache, data, filename)
        except DefinitionError as error:
            body = Problems(
                detail=not_loaded(filename, len(error.problems)), problems=[str(p) for p in error.problems]
            )
            return JSONResponse(body.model_dump(), status_code=422)
        except VersionConflict as error:
            raise HTTPException(409, str(error)) from None
        if not published.stored:
            response.status_code = 200
        stored = published.survey
        assert stored.version is not None
        report = await check_stored(stored)
        return Uploaded(
            id=stored.id,
            title=stored.title,
            version=stored.version,
            stored=published.stored,
            warnings=[str(f) for f in report.findings],
        )

    @router.get(
        "/surveys/{survey_id}/check",
        tags=["surveys"],
        summary="What `surveybot check` says of a stored survey: its paths and warnings",
        responses={404: {"model": Detail, "description": "No such survey or version."}},
    )
    async def check_survey(
        survey_id: SurveyId,
        version: Annotated[
            int | None, Query(ge=1, description="A stored version; default the newest.")
        ] = None,
    ) -> CheckOut:
        try:
            survey = await app.cache.get(survey_id, version)
        except SurveyNotFound as error:
            raise HTTPException(404, str(error)) from None
        return CheckOut.model_validate((await check_stored(survey)).to_dict())

    async def archived_now(survey_id: str, archived: bool) -> Archived:
        try:
            await set_archived(app, survey_id, archived)
        except SurveyNotFound as error:
            raise HTTPException(404, str(error)) from None
        return Archived(id=survey_id, archived=archived)

    @router.post(
        "/surveys/{survey_id}/archive",
        tags=["surveys"],
        summary="Archive a survey: no longer offered to respondents; its data stays",
        responses=_NOT_FOUND,
    )
    async def archive(survey_id: SurveyId) -> Archived:
        return await archived_now(survey_id, True)

    @router.post(
        "/surveys/{survey_id}/unarchive",
        tags=["surveys"],
        summary="Offer an archived survey again",
        responses=_NOT_FOUND,
    )
    async def unarchive(survey_id: SurveyId) -> Archived:
        return await archived_now(survey_id, False)

    # --- responses

    @router.get(
        "/surveys/{survey_id}/responses",
        tags=["responses"],
        summary="List a survey's responses, oldest first",
        responses=_NOT_FOUND,
    )
    async def list_responses(
        survey_id: SurveyId, status: StatusFilter = None, since: SinceFilter = None
    ) -> list[ResponseOut]:
        await newest(survey_id)
        return [response_out(r) for r in await app.responses.list(survey_id, status=status, since=since)]

    @router.get(
        "/responses/{response_id}",
        tags=["responses"],
        summary="Get one response",
        responses={404: {"model": Detail, "description": "No such response."}},
    )
    async def get_response(response_id: str) -> ResponseOut:
        try:
            return response_out(await app.responses.get(response_id))
        except NotFound as error:
            raise HTTPException(404, str(error)) from None

    @router.get(
        "/surveys/{survey_id}/export.csv",
        tags=["responses"],
        summary="Export responses as CSV",
        description=(
            "One row per response, one column per question; several choices joined with `;`; a text that "
            "starts with `=`, `+`, `-` or `@` gets a leading `'` so that spreadsheets do not run it."
        ),
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}, **_NOT_FOUND},
    )
    async def export_csv(
        survey_id: SurveyId, status: StatusFilter = None, since: SinceFilter = None
    ) -> StreamingResponse:
        await newest(survey_id)
        table = await export_table(app.cache, app.responses, survey_id, status, since)
        return export_download(table, survey_id, "csv")

    @router.get(
        "/surveys/{survey_id}/export.json",
        tags=["responses"],
        summary="Export responses as JSON",
        description="A JSON array with one object per response, keyed like the CSV columns.",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/json": {}}}, **_NOT_FOUND},
    )
    async def export_json(
        survey_id: SurveyId, status: StatusFilter = None, since: SinceFilter = None
    ) -> StreamingResponse:
        await newest(survey_id)
        table = await export_table(app.cache, app.responses, survey_id, status, since)
        return export_download(table, survey_id, "json")

    # --- results

    async def summary_of(survey_id: str) -> SurveySummary:
        await newest(survey_id)
        return await summarize(app.cache, app.responses, survey_id)

    @router.get(
        "/surveys/{survey_id}/results",
        tags=["results"],
        summary="Per-question summary: counts, mean/median/distribution, NPS, completion and drop-off",
        responses=_NOT_FOUND,
    )
    async def results(survey_id: SurveyId) -> SummaryOut:
        return summary_out(await summary_of(survey_id))

    @router.get(
        "/surveys/{survey_id}/results.txt",
        tags=["results"],
        summary="The same summary as plain text (what the chat results commands send)",
        response_class=PlainTextResponse,
        responses=_NOT_FOUND,
    )
    async def results_text(survey_id: SurveyId) -> str:
        return summary_text(await summary_of(survey_id))

    @router.get(
        "/surveys/{survey_id}/charts",
        tags=["results"],
        summary="The charts there are: one per question with answers (not free text)",
        responses=_NOT_FOUND,
    )
    async def charts(survey_id: SurveyId) -> list[ChartOut]:
        summary = await summary_of(survey_id)
        return [
            ChartOut(name=q.id, title=q.text, url=f"/api/surveys/{survey_id}/charts/{q.id}.png")
            for q in charted(summary)
        ]

    @router.get(
        "/surveys/{survey_id}/charts/{question_id}.png",
        tags=["results"],
        summary="One question's chart as a PNG (800×450)",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: {"model": Detail}},
    )
    async def chart(survey_id: SurveyId, question_id: str) -> Response:
        png = await chart_png(await summary_of(survey_id), question_id)
        if png is None:
            raise HTTPException(
                404, f"no chart for question '{question_id}' (unknown, no answers, or free text)"
            )
        return Response(png, media_type="image/png")

    # --- campaigns

    @router.post(
        "/campaigns",
        tags=["campaigns"],
        summary="Upload a campaign (YAML): validated like `surveybot campaigns load`",
        status_code=201,
        response_model=CampaignStored,
        responses={422: {"model": Problems, "description": "Every problem as `FILE:LINE: …`."}},
    )
    async def upload_campaign(
        request: Request,
        response: Response,
        filename: Annotated[str, Query(max_length=200)] = "campaign.yaml",
    ) -> CampaignStored | JSONResponse:
        data = await request.body()
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, TOO_LARGE.format(name=filename))
        try:
            text = data.decode("utf-8-sig")
            campaign, changed = await store_campaign(
                app.campaigns, app.cache, text, filename, datetime.now(UTC)
            )
        except UnicodeDecodeError:
            problems = [f"{filename}:1: the file is not UTF-8 text"]
            return JSONResponse(Problems(detail=not_loaded(filename, 1), problems=problems).model_dump(), 422)
        except DefinitionError as error:
            body = Problems(
                detail=not_loaded(filename, len(error.problems)), problems=[str(p) for p in error.problems]
            )
            return JSONResponse(body.model_dump(), status_code=422)
        if not changed:
            response.status_code = 200
        return CampaignStored(id=campaign.id, stored=changed)

    @router.get("/campaigns", tags=["campaigns"], summary="The stored campaigns")
    async def list_campaigns() -> list[CampaignOut]:
        return [await campaign_out(app, c, paused) for c, paused in await app.campaigns.list()]

    @router.get(
        "/campaigns/{campaign_id}",
        tags=["campaigns"],
        summary="A campaign's status per occurrence: invited, reminded, started, completed, not sent",
        responses={404: {"model": Detail}},
    )
    async def campaign(campaign_id: str) -> list[OccurrenceOut]:
        try:
            return await campaign_rows(app, campaign_id)
        except NotFound as error:
            raise HTTPException(404, str(error)) from None

    async def set_paused(campaign_id: str, paused: bool) -> CampaignOut:
        try:
            await app.campaigns.set_paused(campaign_id, paused)
            return await campaign_out(app, *await app.campaigns.get(campaign_id))
        except NotFound as error:
            raise HTTPException(404, str(error)) from None

    @router.post("/campaigns/{campaign_id}/pause", tags=["campaigns"], summary="Stop planning and sending")
    async def pause(campaign_id: str) -> CampaignOut:
        return await set_paused(campaign_id, True)

    @router.post("/campaigns/{campaign_id}/resume", tags=["campaigns"], summary="Plan and send again")
    async def resume(campaign_id: str) -> CampaignOut:
        return await set_paused(campaign_id, False)

    # --- webhooks

    @router.get(
        "/surveys/{survey_id}/webhooks",
        tags=["webhooks"],
        summary="The newest version's webhooks, with each endpoint's signing secret",
        responses=_NOT_FOUND,
    )
    async def webhooks(survey_id: SurveyId) -> list[WebhookOut]:
        survey = await newest(survey_id)
        return [
            WebhookOut(url=h.url, events=sorted(h.events), secret=signing_secret(app.webhook_key, h.url))
            for h in survey.settings.webhooks
        ]

    @router.get(
        "/webhooks/deliveries",
        tags=["webhooks"],
        summary="Webhook deliveries, newest first: pending, delivered or failed for good",
    )
    async def deliveries(
        status: Annotated[
            DeliveryStatus | None, Query(description="Only deliveries with this status.")
        ] = None,
        survey_id: Annotated[str | None, Query(description="Only this survey's.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeliveryOut]:
        return [delivery_out(d) for d in await app.deliveries.list(status, survey_id, limit)]

    @router.post(
        "/webhooks/deliveries/{delivery_id}/retry",
        tags=["webhooks"],
        summary="Send a delivery that failed for good again, now",
        responses={404: {"model": Detail, "description": "No failed delivery with that id."}},
    )
    async def retry(delivery_id: str) -> Retried:
        if not await app.deliveries.retry(delivery_id, datetime.now(UTC)):
            raise HTTPException(404, f"no failed delivery '{delivery_id}'")
        return Retried(id=delivery_id, status=DeliveryStatus.PENDING)

    return router


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event=delivery.event,
        survey_id=delivery.survey_id,
        url=delivery.url,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_at=delivery.next_at,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
    )


async def _encoded(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")
