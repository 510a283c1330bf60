"""The operators' web console under ``/console``: surveys, uploads, check reports, results with charts,
responses, exports and campaigns, as server-rendered HTML (Jinja2, autoescaped; no script at all).

Signing in with ``ADMIN_API_TOKEN`` sets a session cookie (HttpOnly, SameSite=Strict, Path=/console;
Secure over https) holding an expiry and its HMAC under a key derived from the token, so that every
worker accepts it and a new token ends every session. Each form that changes something carries a CSRF
token bound to the session. The work itself is the admin API's (:mod:`adapters.web.admin`); without a
configured token the console is not mounted at all (see :func:`adapters.web.app.create_web_app`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from adapters.bootstrap import App
from adapters.check import check_stored
from adapters.reports.export import META_COLUMNS, Cell, Table, export_table
from adapters.survey_admin import MAX_UPLOAD_BYTES, NOT_YAML, TOO_LARGE, is_survey_file, not_loaded
from adapters.web.admin import (
    campaign_out,
    campaign_rows,
    chart_png,
    charted,
    export_download,
    set_archived,
    survey_items,
    wrong_token_allowed,
)
from bot.catalog import publish_upload
from bot.errors import DefinitionError, NotFound, SurveyNotFound, VersionConflict
from bot.responses import Status
from bot.results import summarize
from bot.survey import Survey

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"
COOKIE = "surveybot_console"
SESSION_SECONDS = 8 * 3600
"""How long a sign-in lasts; signing out ends it in that browser (the cookie is not stored server-side)."""
PAGE_SIZE = 25
"""Responses per page of the responses table."""
VERSIONS_LISTED = 50
"""The survey page lists at most this many of the newest versions."""

log = logging.getLogger("surveybot.console")

# --- sessions and CSRF tokens -------------------------------------------------------------------------


def session_key(token: str) -> bytes:
    """Signs console sessions: derived from the admin token, so that changing it ends every session."""
    return hmac.new(token.encode(), b"surveybot console sessions", hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def new_session(key: bytes, now: float) -> str:
    """A session value: ``EXPIRES.NONCE.MAC`` (expiry in Unix seconds, 32 random hex digits, HMAC)."""
    body = f"{int(now) + SESSION_SECONDS}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(key, body)}"


def valid_session(key: bytes, value: str, now: float) -> bool:
    """Whether ``value`` is a session signed with ``key`` that has not expired (compared in constant time)."""
    expires, _, rest = value.partition(".")
    nonce, _, mac = rest.partition(".")
    if not (expires.isdigit() and nonce and mac):
        return False
    return hmac.compare_digest(_mac(key, f"{expires}.{nonce}"), mac) and int(expires) > now


def csrf_token(key: bytes, session: str) -> str:
    """The token the session's forms carry: only a page of that session can know it."""
    return _mac(key, f"csrf {session}")


# --- annotated YAML -----------------------------------------------------------------------------------

_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
"""What PyYAML counts as a line break, so that line N here is line N of a problem."""


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    notes: tuple[str, ...] = ()
    """Problems or findings located at this line."""


def annotate(source: str, notes: Iterable[tuple[int, str]]) -> list[SourceLine]:
    """``source`` line by line, each with the notes located at it; a note past the end (or before the
    start) goes to the last (or first) line, so that none is lost."""
    texts = _LINE_BREAK.split(source)
    if len(texts) > 1 and texts[-1] == "":
        texts.pop()  # the final line break ends the last line; it does not start another
    at: dict[int, list[str]] = {}
    for line, note in notes:
        at.setdefault(min(max(line, 1), len(texts)), []).append(note)
    return [SourceLine(n, text, tuple(at.get(n, ()))) for n, text in enumerate(texts, 1)]


# --- responses filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseFilter:
    """The responses table's and the exports' filters: status, and the days they started (UTC)."""

    status: Status | None = None
    start: date | None = None
    end: date | None = None

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.start, datetime.min.time(), UTC) if self.start else None

    def keeps(self, started_at: datetime) -> bool:
        """Whether a response started at ``started_at`` is within ``end`` (the store filters ``start``)."""
        if self.end is None:
            return True
        return started_at < datetime.combine(self.end + timedelta(days=1), datetime.min.time(), UTC)

    def query(self, **more: str | int) -> str:
        """The filters (and ``more``) as a query string for links."""
        values: dict[str, str | int] = {
            "status": self.status.value if self.status else "",
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
            **more,
        }
        return urlencode({k: v for k, v in values.items() if v != ""})


def response_filter(status: str, start: str, end: str) -> ResponseFilter:
    """The filters as a form sends them (empty: any). Raises :class:`Refusal` (400) naming a bad one."""
    try:
        chosen = Status(status) if status else None
    except ValueError:
        raise Refusal(400, f"status: not one of {', '.join(s.value for s in Status)}") from None
    days: list[date | None] = []
    for name, text in (("from", start), ("to", end)):
        try:
            days.append(date.fromisoformat(text) if text else None)
        except ValueError:
            raise Refusal(400, f"{name}: not a date YYYY-MM-DD: {text!r}") from None
    return ResponseFilter(chosen, days[0], days[1])


async def filtered_table(app: App, survey_id: str, chosen: ResponseFilter) -> Table:
    """The export table of ``survey_id``'s responses within ``chosen``, oldest first."""
    table = await export_table(app.cache, app.responses, survey_id, chosen.status, chosen.since)
    rows = tuple(row for row in table.rows if chosen.keeps(_started(row["response.started_at"])))
    return Table(table.columns, rows)


def _started(cell: Cell) -> datetime:
    assert isinstance(cell, datetime)
    return cell if cell.tzinfo else cell.replace(tzinfo=UTC)


def shown(cell: Cell) -> str:
    """How a table cell reads on the page (escaped by the template, like everything)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d %H:%M")
    if isinstance(cell, list):
        return ", ".join(cell)
    return str(cell)


# --- refusals and pages -------------------------------------------------------------------------------


class Refusal(Exception):
    """A console request refused: shown as a page with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class SignInFirst(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class Pages:
    """The console's templates, rendered with autoescaping; every page knows whether a session is on."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["percent"] = lambda rate: f"{rate * 100:.0f} %"
        self.env.filters["shown"] = shown

    def session(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE, "")
        return value if valid_session(self.key, value, time.time()) else None

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        session = self.session(request)
        html = self.env.get_template(template).render(
            signed_in=session is not None,
            csrf=csrf_token(self.key, session) if session else "",
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=headers)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _route_class(pages: Pages) -> type[APIRoute]:
    class ConsoleRoute(APIRoute):
        """Refusals, unknown surveys and missing sessions become pages; nothing of the console is cached."""

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                response: Response
                try:
                    response = await handler(request)
                except SignInFirst:
                    response = RedirectResponse(SIGN_IN, 303)
                except Refusal as refusal:
                    response = pages.render(
                        request, "error.html", refusal.status, refusal.headers, message=refusal.message
                    )
                except NotFound as error:
                    response = pages.render(request, "error.html", 404, message=str(error))
                response.headers["Cache-Control"] = "no-store"
                return response

            return guarded

    return ConsoleRoute


# --- the router ---------------------------------------------------------------------------------------


def console_router(app: App, token: str) -> APIRouter:
    """The console, signed into with ``token``."""
    key = session_key(token)
    expected = token.encode()
    pages = Pages(key)
    router = APIRouter(prefix=PREFIX, route_class=_route_class(pages), include_in_schema=False)

    def same_site(request: Request) -> None:
        # Browsers say where a request comes from; a form posted from another site is refused outright
        # (SameSite=Strict already keeps the cookie off it, and the CSRF token is checked besides).
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Refusal(403, "this form was sent from another site")

    async def signed_in(request: Request) -> str:
        value = pages.session(request)
        if value is None:
            raise SignInFirst
        return value

    async def checked(request: Request, csrf: Annotated[str, Form()] = "") -> None:
        value = await signed_in(request)
        same_site(request)
        if not hmac.compare_digest(csrf.encode(), csrf_token(key, value).encode()):
            log.info("console form refused: missing or wrong CSRF token")
            raise Refusal(403, "this form has expired or was not sent from the console; reload the page")

    # Dependencies by list, not by annotation: these are closures, which string annotations cannot name.
    session = [Depends(signed_in)]
    form = [Depends(checked)]

    # --- signing in and out

    @router.get("", dependencies=session)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/surveys", 303)

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        if pages.session(request) is not None:
            return RedirectResponse(f"{PREFIX}/surveys", 303)
        return pages.render(request, "sign_in.html")

    @router.post("/sign-in")
    async def sign_in(request: Request, token: Annotated[str, Form()] = "") -> Response:
        same_site(request)
        if hmac.compare_digest(token.strip().encode(), expected):
            log.info("console: signed in")
            response = RedirectResponse(f"{PREFIX}/surveys", 303)
            response.set_cookie(
                COOKIE,
                new_session(key, time.time()),
                max_age=SESSION_SECONDS,
                path=PREFIX,
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
            return response
        if not await wrong_token_allowed(app, request):
            log.info("console sign-in refused: too many wrong tokens")
            raise Refusal(
                429, "Too many wrong tokens from your address; wait a minute.", {"Retry-After": "60"}
            )
        log.info("console sign-in refused: wrong token")
        return pages.render(request, "sign_in.html", 401, error="That is not the admin token.")

    @router.post("/sign-out", dependencies=form)
    async def sign_out() -> RedirectResponse:
        response = RedirectResponse(SIGN_IN, 303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    # --- surveys

    @router.get("/surveys", dependencies=session)
    async def surveys(request: Request) -> HTMLResponse:
        return pages.render(request, "surveys.html", surveys=await survey_items(app))

    @router.get("/surveys/{survey_id}", dependencies=session)
    async def survey(request: Request, survey_id: str, loaded: str = "") -> HTMLResponse:
        newest = await app.cache.get(survey_id)
        assert newest.version is not None
        offered = {s.id for s in await app.surveys.list_newest()}
        summary = await summarize(app.cache, app.responses, survey_id)
        return pages.render(
            request,
            "survey.html",
            survey=newest,
            archived=survey_id not in offered,
            versions=await _versions(app, newest),
            report=await check_stored(newest),
            summary=summary,
            charted={q.id for q in charted(summary)},
            loaded=loaded if loaded in ("stored", "unchanged") else "",
        )

    @router.get("/surveys/{survey_id}/source", dependencies=session)
    async def source(
        request: Request, survey_id: str, version: Annotated[int | None, Query(ge=1)] = None
    ) -> HTMLResponse:
        chosen = await app.cache.get(survey_id, version)
        report = await check_stored(chosen)
        findings = [(f.line, str(f)) for f in report.findings]
        return pages.render(request, "source.html", survey=chosen, lines=annotate(chosen.source, findings))

    @router.post("/surveys/{survey_id}/archive", dependencies=form)
    async def archive(survey_id: str) -> RedirectResponse:
        await set_archived(app, survey_id, True)
        return RedirectResponse(f"{PREFIX}/surveys/{survey_id}", 303)

    @router.post("/surveys/{survey_id}/unarchive", dependencies=form)
    async def unarchive(survey_id: str) -> RedirectResponse:
        await set_archived(app, survey_id, False)
        return RedirectResponse(f"{PREFIX}/surveys/{survey_id}", 303)

    @router.get("/surveys/{survey_id}/charts/{question_id}.png", dependencies=session)
    async def chart(survey_id: str, question_id: str) -> Response:
        png = await chart_png(await summarize(app.cache, app.responses, survey_id), question_id)
        if png is None:
            raise Refusal(404, f"no chart for question '{question_id}' (unknown, no answers, or free text)")
        return Response(png, media_type="image/png")

    # --- uploading

    @router.get("/upload", dependencies=session)
    async def upload_page(request: Request) -> HTMLResponse:
        return pages.render(request, "upload.html")

    @router.post("/upload", dependencies=form)
    async def upload(request: Request, survey: Annotated[UploadFile | None, File()] = None) -> Response:
        if survey is None or not survey.filename:
            return pages.render(request, "upload.html", 400, message="Choose a survey file (.yaml) first.")
        name = Path(survey.filename.replace("\\", "/")).name[:200] or "upload.yaml"
        if not is_survey_file(name):
            return pages.render(request, "upload.html", 400, message=NOT_YAML.format(name=name))
        data = await survey.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return pages.render(request, "upload.html", 413, message=TOO_LARGE.format(name=name))
        text = data.decode("utf-8-sig", errors="replace")
        try:
            published = await publish_upload(app.surveys, app.cache, data, name)
        except DefinitionError as error:
            problems = [str(p) for p in error.problems]
            return pages.render(
                request,
                "upload.html",
                422,
                message=not_loaded(name, len(problems)),
                problems=problems,
                lines=annotate(text, [(p.line, str(p)) for p in error.problems]),
            )
        except VersionConflict as error:
            return pages.render(
                request, "upload.html", 409, message=str(error), problems=[], lines=annotate(text, [])
            )
        log.info("survey loaded from the console: %s", published.line())
        loaded = "stored" if published.stored else "unchanged"
        return RedirectResponse(f"{PREFIX}/surveys/{published.survey.id}?loaded={loaded}", 303)

    # --- responses and exports

    @router.get("/surveys/{survey_id}/responses", dependencies=session)
    async def responses(
        request: Request,
        survey_id: str,
        status: str = "",
        start: Annotated[str, Query(alias="from")] = "",
        end: Annotated[str, Query(alias="to")] = "",
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> HTMLResponse:
        newest = await app.cache.get(survey_id)
        chosen = response_filter(status, start, end)
        table = await filtered_table(app, survey_id, chosen)
        newest_first = table.rows[::-1]
        pages_count = max(1, -(-len(newest_first) // PAGE_SIZE))
        page = min(page, pages_count)  # past the end (the filters kept fewer): the last page
        rows = newest_first[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        questions = {q.id: q.text for q in newest.questions}
        return pages.render(
            request,
            "responses.html",
            survey=newest,
            chosen=chosen,
            statuses=[s.value for s in Status],
            total=len(newest_first),
            page=page,
            pages_count=pages_count,
            rows=rows,
            question_columns=[(c, questions.get(c, "")) for c in table.columns[len(META_COLUMNS) :]],
        )

    @router.get("/surveys/{survey_id}/export.{kind}", dependencies=session)
    async def export(
        survey_id: str,
        kind: Literal["csv", "json"],
        status: str = "",
        start: Annotated[str, Query(alias="from")] = "",
        end: Annotated[str, Query(alias="to")] = "",
    ) -> Response:
        await app.cache.get(survey_id)
        table = await filtered_table(app, survey_id, response_filter(status, start, end))
        return export_download(table, survey_id, kind)

    # --- campaigns

    @router.get("/campaigns", dependencies=session)
    async def campaigns(request: Request) -> HTMLResponse:
        listed = [await campaign_out(app, c, paused) for c, paused in await app.campaigns.list()]
        return pages.render(request, "campaigns.html", campaigns=listed)

    @router.get("/campaigns/{campaign_id}", dependencies=session)
    async def campaign(request: Request, campaign_id: str) -> HTMLResponse:
        stored, paused = await app.campaigns.get(campaign_id)
        return pages.render(
            request,
            "campaign.html",
            campaign=await campaign_out(app, stored, paused),
            rows=await campaign_rows(app, campaign_id),
        )

    return router


async def _versions(app: App, newest: Survey) -> list[Survey]:
    """The stored versions, newest first (at most :data:`VERSIONS_LISTED`); numbers may have gaps."""
    assert newest.version is not None
    found = [newest]
    for version in range(newest.version - 1, max(0, newest.version - VERSIONS_LISTED), -1):
        try:
            found.append(await app.cache.get(newest.id, version))
        except SurveyNotFound:
            continue
    return found
