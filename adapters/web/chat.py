"""The web chat: the seed's websocket channel, as a thin adapter like the console.

``GET /ws/surveys/{survey_id}?respondent=ID&name=NAME`` opens a conversation; the protocol (JSON
text frames both ways) is documented in docs/web.md under "Websocket protocol". On connecting, the
server starts (or resumes) the survey, so a reconnect picks up where the respondent left off.

Every client frame, and the connection itself, gets exactly one server frame: a ``reply`` holding all
the messages to show, or an ``error``. One write per turn also means that no reply waits on TCP's
delayed acknowledgements (Nagle), whatever the socket options of the server in front.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from adapters.bootstrap import App
from adapters.logs import correlation_id, new_correlation_id
from adapters.metrics import handle_observed
from adapters.web import identity
from adapters.web.limits import TokenBucket, client_address
from bot import texts
from bot.i18n import parse_accept_language, speaking
from bot.messages import Button, Incoming, Outgoing

PLATFORM = "web"
NOT_ISSUED = "respondent: not an id this server issued; POST /chat/respondent for one"
TOO_MANY_IDS = texts.WEB_TOO_MANY_IDS
TOO_FAST = texts.WEB_TOO_FAST
MAX_NAME = 64
POLICY_VIOLATION = 1008

log = logging.getLogger("surveybot.web.chat")


class TextFrame(BaseModel):
    """Typed text: an answer, or a command such as ``/back``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str = Field(max_length=4000)
    id: str | None = Field(None, max_length=64)
    """The client's id of this frame: a frame sent again with the same id is applied once."""
    question_id: str | None = Field(None, max_length=64)
    """The question this text answers (the ``question_id`` of the question shown): text sent for a
    question that is answered already is never taken as the answer to the next one."""


class ButtonFrame(BaseModel):
    """A pressed button: its ``value``, and the id of the message it was on."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["button"]
    value: str = Field(max_length=200)
    message_id: str | None = Field(None, max_length=64)
    id: str | None = Field(None, max_length=64)


Frame = Annotated[TextFrame | ButtonFrame, Field(discriminator="type")]
_FRAME: TypeAdapter[TextFrame | ButtonFrame] = TypeAdapter(Frame)


def parse_frame(raw: str) -> TextFrame | ButtonFrame:
    """The client's frame; raises ValueError saying what is wrong with it."""
    try:
        return _FRAME.validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


def clean_name(name: str) -> str:
    """The display name as given, without control characters, at most :data:`MAX_NAME` characters."""
    return "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME]


def to_incoming(
    frame: TextFrame | ButtonFrame, respondent: str, name: str, language: str | None = None
) -> Incoming:
    # The client's frame id, made unique to the respondent without naming them: update ids are kept
    # with the response (its last writes) and in Redis, and an anonymous survey must not hold the
    # web respondent id there.
    update_id = hashlib.sha256(f"{respondent}\x00{frame.id}".encode()).hexdigest()[:32] if frame.id else None
    if isinstance(frame, ButtonFrame):
        return Incoming(
            platform=PLATFORM,
            user_id=respondent,
            user_name=name,
            chat_id=respondent,
            button=frame.value,
            message_id=frame.message_id,
            update_id=update_id,
            language=language,
        )
    return Incoming(
        platform=PLATFORM,
        user_id=respondent,
        user_name=name,
        chat_id=respondent,
        text=frame.text,
        update_id=update_id,
        question_id=frame.question_id,
        language=language,
    )


def start_incoming(
    survey_id: str, respondent: str, name: str, campaign: str | None = None, language: str | None = None
) -> Incoming:
    """Start (or resume) ``survey_id``; ``campaign``: the campaign whose shareable link was opened."""
    return Incoming(
        platform=PLATFORM,
        user_id=respondent,
        user_name=name,
        chat_id=respondent,
        text=f"/start {survey_id}",
        campaign=campaign,
        language=language,
    )


def browser_language(picked: str | None, accept_language: str) -> str | None:
    """The language the page's picker chose (``?lang=de``), else the browser's first one."""
    if picked:
        return picked
    wanted = parse_accept_language(accept_language)
    return wanted[0] if wanted else None


def _button(button: Button) -> dict[str, Any]:
    return {
        "label": button.label,
        "value": button.value,
        "selected": button.selected,
        "role": button.role.value,
    }


def render(message: Outgoing, message_id: str) -> dict[str, Any]:
    """``message`` as the web chat shows it. An edit keeps the id of the message it replaces, so that
    its buttons stay pressable (multi-choice toggles)."""
    return {
        "id": message.edit_of or message_id,
        "kind": message.kind.value,
        "text": message.text,
        "choices": [_button(b) for b in message.choices],
        "actions": [_button(b) for b in message.actions],
        "multi": message.multi,
        "question_type": message.question_type.value if message.question_type else None,
        "question_id": message.question_id,
        "hint": message.hint,
        "edit_of": message.edit_of,
    }


def new_message_id() -> str:
    return secrets.token_hex(6)


def reply_frame(replies: list[Outgoing]) -> dict[str, Any]:
    return {"type": "reply", "messages": [render(message, new_message_id()) for message in replies]}


def error_frame(error: str) -> dict[str, Any]:
    return {"type": "error", "error": error}


def chat_router(app: App) -> APIRouter:
    router = APIRouter(tags=["web chat"])

    @router.get("/chat/surveys", summary="Surveys offered to respondents (for the chat page)")
    async def offered() -> list[dict[str, str]]:
        return [{"id": s.id, "title": s.title} for s in await app.cache.offered()]

    @router.post(
        "/chat/respondent",
        summary="A new respondent id for the web chat, signed by the server",
        description=(
            "The chat page asks once and keeps the id in the browser; the websocket takes no other. "
            "Limited per client address (`web.respondent_ids_per_hour`); over it: 429."
        ),
        responses={429: {"description": "Too many new ids from this address within the hour."}},
    )
    async def new_respondent(request: Request) -> JSONResponse:
        address = client_address(request)
        if not await app.limiter.allow(
            "respondent-ids", address, app.config.web.respondent_ids_per_hour, 3600
        ):
            t = speaking(browser_language(None, request.headers.get("accept-language", "")))
            return JSONResponse(
                {"detail": t.gettext(TOO_MANY_IDS)}, status_code=429, headers={"Retry-After": "3600"}
            )
        return JSONResponse(
            {"respondent": identity.issue(app.web_key)}, headers={"Cache-Control": "no-store"}
        )

    @router.websocket("/ws/surveys/{survey_id}")
    async def conversation(
        websocket: WebSocket,
        survey_id: str,
        respondent: Annotated[str, Query(max_length=64)] = "",
        name: Annotated[str, Query(max_length=200)] = "",
        campaign: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = None,
        lang: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")] = None,
    ) -> None:
        await websocket.accept()
        token = correlation_id.set(new_correlation_id())
        try:
            if not identity.verify(app.web_key, respondent):
                await websocket.close(POLICY_VIOLATION, NOT_ISSUED)
                return
            log.debug("web chat opened for survey %s", survey_id[:40])
            language = browser_language(lang, websocket.headers.get("accept-language", ""))
            await _converse(app, websocket, survey_id, respondent, clean_name(name), campaign, language)
            log.debug("web chat closed")
        finally:
            correlation_id.reset(token)

    return router


async def _converse(
    app: App,
    websocket: WebSocket,
    survey_id: str,
    respondent: str,
    name: str,
    campaign: str | None = None,
    language: str | None = None,
) -> None:
    """Start (or resume) the survey, then answer every frame with one ``reply`` (or ``error``) frame."""
    t = speaking(language)

    async def reply(msg: Incoming) -> None:
        try:
            replies = await handle_observed(app.engine, msg)
        except Exception:
            log.exception("a web chat message failed")
            await websocket.send_json(error_frame(t.gettext(texts.WEB_FAILED)))
            return
        frame = reply_frame(replies)
        await websocket.send_json(frame)
        for out, shown in zip(replies, frame["messages"], strict=True):
            if out.live_question is not None:
                await app.engine.shown(PLATFORM, respondent, out.live_question, shown["id"])

    web = app.config.web
    budget = TokenBucket(web.messages_per_minute, web.message_burst)
    try:
        await reply(start_incoming(survey_id, respondent, name, campaign, language))
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            if not budget.take():
                await websocket.send_json(error_frame(t.gettext(TOO_FAST)))
                continue
            raw = received.get("text")
            if raw is None:
                await websocket.send_json(error_frame("frames are JSON text"))
                continue
            try:
                frame = parse_frame(raw)
            except ValueError as error:
                await websocket.send_json(error_frame(f"bad frame: {error}"))
                continue
            await reply(to_incoming(frame, respondent, name, language))
    except (WebSocketDisconnect, OSError):
        return
