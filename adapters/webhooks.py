"""Webhooks: a survey's HTTPS endpoints (``settings.webhooks``) are told of its responses, at least once.

The path of an event, each step durable in MongoDB before the next:

1. The engine's write that starts or completes a response puts the event in the response's ``outbox``
   (the same write: no event is lost between the change and its record).
2. :meth:`Webhooks.relay` turns each outbox event into one :class:`Delivery` per endpoint (its id fixed
   by the event and the endpoint, so a relay run twice adds nothing), then takes the event out of the
   outbox.
3. :meth:`Webhooks.deliver_due` claims due deliveries with a lease (a conditional update: one worker
   wins each), POSTs the signed JSON, and records the outcome: delivered; or tried again later with
   exponential back-off; or failed for good after ``max_attempts``, visible and retryable through the
   admin API and ``surveybot webhooks``. A worker killed mid-delivery leaves a lease that lapses: another
   worker sends it again, with the same event id for the receiver to deduplicate.

Requests carry ``X-Surveybot-Event``, ``X-Surveybot-Event-Id`` and ``X-Surveybot-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`` under the endpoint's signing secret, which
:func:`signing_secret` derives from ``SURVEYBOT_SECRET`` and the URL (docs/webhooks.md shows how a
receiver checks it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from adapters.background import repeat
from adapters.metrics import WEBHOOK_ATTEMPTS
from bot.answers import display
from bot.catalog import SurveyCache
from bot.errors import SurveyNotFound
from bot.ports import ResponseStore
from bot.responses import Response
from bot.survey import COMPLETED, Survey

log = logging.getLogger("surveybot.webhooks")

SIGNATURE_HEADER = "X-Surveybot-Signature"
EVENT_HEADER = "X-Surveybot-Event"
EVENT_ID_HEADER = "X-Surveybot-Event-Id"
USER_AGENT = "surveybot-webhooks/1"
TOLERANCE_S = 300
"""How old a signature's timestamp a receiver should accept (and how far in the future)."""
MAX_ERROR = 300
"""Characters of a failed attempt's error kept with the delivery."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint. ``next_at`` is when it is due; while a worker holds it, the end of
    that worker's lease."""

    id: str
    event_id: str
    event: str
    survey_id: str
    url: str
    body: str
    created_at: datetime
    next_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    owner: str | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class DeliveryStore(Protocol):
    """The deliveries (MongoDB in production; :mod:`adapters.stores.deliveries`). Every method may raise
    :class:`bot.errors.StorageUnavailable`."""

    async def add(self, deliveries: Sequence[Delivery]) -> None:
        """Store new deliveries; one whose id is stored already is left as it is."""

    async def claim(self, now: datetime, lease_until: datetime, owner: str, limit: int) -> list[Delivery]:
        """Up to ``limit`` pending deliveries due at ``now``, oldest due first, each now held by ``owner``
        until ``lease_until`` (one conditional update each: of workers claiming at once, one wins)."""

    async def settle(self, delivery: Delivery) -> bool:
        """Store the outcome of an attempt (status, attempts, next_at, last_error, delivered_at) if
        ``delivery.owner`` still holds it; False when its lease lapsed and another worker took it."""

    async def list(
        self, status: DeliveryStatus | None = None, survey_id: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries, newest first."""

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        """Make a failed delivery pending and due now, its attempts counted afresh; False when there is no
        failed delivery with that id."""

    async def counts(self) -> dict[DeliveryStatus, int]:
        """How many deliveries there are, by status."""


# --------------------------------------------------------------------------- signing


def webhook_key(secret: bytes) -> bytes:
    """The key endpoints' signing secrets are derived from, itself derived from SURVEYBOT_SECRET."""
    return hmac.new(secret, b"surveybot webhooks", hashlib.sha256).digest()


def signing_secret(key: bytes, url: str) -> str:
    """The secret an endpoint's requests are signed with: derived from ``key`` (from SURVEYBOT_SECRET)
    and the URL, so that it is never stored; ``surveybot webhooks secret SURVEY`` shows it."""
    return "whsec_" + hmac.new(key, b"webhook " + url.encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """A receiver's check of :data:`SIGNATURE_HEADER` (what docs/webhooks.md shows): a ``v1`` that
    matches, under a timestamp within :data:`TOLERANCE_S` of ``now``."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_S:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


# --------------------------------------------------------------------------- events


def event_id(response_id: str, event: str) -> str:
    """Stable per response and event: what a receiver deduplicates on."""
    return f"evt_{response_id}_{event.rsplit('.', 1)[-1]}"


def payload(event: str, survey: Survey, response: Response, at: datetime) -> dict[str, Any]:
    """The JSON an endpoint receives. An anonymous survey's responses carry no respondent."""
    who = response.respondent
    respondent = (
        None
        if survey.settings.anonymous
        else {"platform": who.platform, "user_id": who.user_id, "name": who.name}
    )
    answers = response.answers_on_path() if event == COMPLETED else {}
    return {
        "id": event_id(response.id, event),
        "type": event,
        "created_at": _iso(at),
        "survey": {"id": survey.id, "version": survey.version, "title": survey.title},
        "response": {
            "id": response.id,
            "status": response.status.value,
            "started_at": _iso(response.started_at),
            "completed_at": _iso(response.completed_at) if response.completed_at else None,
            "respondent": respondent,
            "answers": {qid: answer.value for qid, answer in answers.items()},
        },
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


MAX_BROADCAST = 3500
"""Characters of a broadcast at most (Telegram takes 4096; Slack escapes may lengthen it)."""


def broadcast_text(survey: Survey, response: Response) -> str:
    """A completed response as a chat message: who (unless anonymous) and each answer on the path."""
    who = response.respondent
    by = "anonymous" if survey.settings.anonymous or who.user_id is None else (who.name or who.user_id)
    lines = [f"New response to “{survey.title}” ({by}, {who.platform})"]
    for question_id, answer in response.answers_on_path().items():
        try:
            question = survey.question(question_id)
        except KeyError:
            continue
        lines.append(f"• {question.text}: {display(question, answer.value) or '–'}")
    text = "\n".join(lines)
    return text if len(text) <= MAX_BROADCAST else text[: MAX_BROADCAST - 1] + "…"


def _targets(survey: Survey, event: str) -> list[str]:
    """Where ``event`` of a response to ``survey`` goes: webhook URLs, and chats for a completion."""
    urls = [hook.url for hook in survey.settings.webhooks if event in hook.events]
    chats = [b.target for b in survey.settings.broadcasts] if event == COMPLETED else []
    return urls + chats


def _chat(target: str) -> tuple[str, str] | None:
    """(platform, chat) of a broadcast target; None for a webhook URL."""
    platform, _, chat = target.partition(":")
    return (platform, chat) if platform in CHAT_PLATFORMS else None


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base`` up to ``cap``, ±20 % jitter so
    that a receiver back from an outage is not hit by every worker at once."""
    return float(min(base * 2.0 ** (attempts - 1), cap) * random.uniform(0.8, 1.2))


# --------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class Policy:
    timeout_s: float = 10.0
    lease_s: float = 60.0
    max_attempts: int = 15
    backoff_s: float = 10.0
    max_backoff_s: float = 3600.0
    batch: int = 20
    allow_private_targets: bool = False
    """Private, loopback and link-local addresses refused unless this is set (receivers on this machine
    or in the same network, for development and tests)."""


class PostFailed(Exception):
    """A platform refused or could not take a message; ``retry_after``: seconds it asked to wait;
    ``permanent``: trying again cannot help (the person blocked the bot, never started it)."""

    def __init__(self, message: str, retry_after: float = 0.0, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


Poster = Callable[[str, str], Awaitable[None]]
"""Posts text to a chat of one platform; raises :class:`PostFailed`."""
CHAT_PLATFORMS = ("telegram", "slack")


class Refused(Exception):
    """An endpoint that is not called: its address is private, or cannot be resolved."""


class Webhooks:
    """Relays outbox events to deliveries and delivers them; one per worker process, any number of
    them together (see the module's docstring)."""

    def __init__(
        self,
        responses: ResponseStore,
        surveys: SurveyCache,
        deliveries: DeliveryStore,
        key: bytes,
        policy: Policy = Policy(),
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        posters: Mapping[str, Poster] | None = None,
    ) -> None:
        self.responses = responses
        self.surveys = surveys
        self.deliveries = deliveries
        self.key = key
        self.policy = policy
        self.clock = clock
        self.posters = dict(posters or {})
        """Each platform's way of posting a broadcast, by platform name (the configured ones)."""
        self.owner = f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self._client = client or httpx.AsyncClient(
            timeout=policy.timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def relay(self, limit: int = 100) -> int:
        """Turn outbox events into deliveries; how many events were handed over."""
        handed = 0
        for response in await self.responses.with_events(limit):
            try:
                survey = await self.surveys.get(response.survey_id, response.version)
            except SurveyNotFound:
                survey = None
            now = self.clock()
            new = [
                self._delivery(event, target, survey, response, now)
                for event in response.outbox
                if survey is not None
                for target in _targets(survey, event)
            ]
            await self.deliveries.add(new)
            await self.responses.clear_events(response.id, response.outbox)
            handed += len(response.outbox)
        return handed

    def _delivery(self, event: str, url: str, survey: Survey, response: Response, now: datetime) -> Delivery:
        ident = event_id(response.id, event)
        content = (
            {"text": broadcast_text(survey, response)}
            if _chat(url)
            else payload(event, survey, response, now)
        )
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
        endpoint = hashlib.sha256(url.encode()).hexdigest()[:12]
        return Delivery(
            id=f"{ident}:{endpoint}",
            event_id=ident,
            event=event,
            survey_id=survey.id,
            url=url,
            body=body,
            created_at=now,
            next_at=now,
        )

    async def deliver_due(self) -> int:
        """Claim what is due and deliver it, a batch at once; how many were attempted."""
        now = self.clock()
        lease = now + timedelta(seconds=self.policy.lease_s)
        claimed = await self.deliveries.claim(now, lease, self.owner, self.policy.batch)
        outcomes = await asyncio.gather(*(self._attempt(d) for d in claimed))
        for delivery in outcomes:
            if not await self.deliveries.settle(delivery):
                log.info("webhook delivery %s was taken over by another worker", delivery.id)
        return len(claimed)

    async def _attempt(self, delivery: Delivery) -> Delivery:
        attempts = delivery.attempts + 1
        chat = _chat(delivery.url)
        if chat is not None:
            return await self._post(delivery, attempts, *chat)
        try:
            await self._check_target(delivery.url)
            body = delivery.body.encode()
            headers = {
                "Content-Type": "application/json",
                EVENT_HEADER: delivery.event,
                EVENT_ID_HEADER: delivery.event_id,
                SIGNATURE_HEADER: signature(signing_secret(self.key, delivery.url), int(time.time()), body),
            }
            reply = await self._client.post(delivery.url, content=body, headers=headers)
            if 200 <= reply.status_code < 300:
                return self._delivered(delivery, attempts)
            error = f"HTTP {reply.status_code}"
        except Refused as refused:
            error = str(refused)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self._failed(delivery, attempts, error)

    async def _post(self, delivery: Delivery, attempts: int, platform: str, chat: str) -> Delivery:
        """A broadcast: the text posted to a chat by the platform's own client."""
        poster = self.posters.get(platform)
        if poster is None:
            return self._failed(delivery, attempts, f"{platform} is not configured in this process")
        try:
            await poster(chat, json.loads(delivery.body)["text"])
        except PostFailed as failure:
            return self._failed(delivery, attempts, str(failure), failure.retry_after)
        return self._delivered(delivery, attempts)

    def _delivered(self, delivery: Delivery, attempts: int) -> Delivery:
        WEBHOOK_ATTEMPTS.labels(outcome="delivered").inc()
        return replace(
            delivery,
            status=DeliveryStatus.DELIVERED,
            attempts=attempts,
            delivered_at=self.clock(),
            last_error=None,
        )

    def _failed(self, delivery: Delivery, attempts: int, error: str, at_least: float = 0.0) -> Delivery:
        policy = self.policy
        if attempts >= policy.max_attempts:
            WEBHOOK_ATTEMPTS.labels(outcome="failed").inc()
            log.warning(
                "webhook %s for survey %s failed for good after %d attempts: %s",
                delivery.event_id,
                delivery.survey_id,
                attempts,
                error,
            )
            return replace(
                delivery, status=DeliveryStatus.FAILED, attempts=attempts, last_error=error[:MAX_ERROR]
            )
        WEBHOOK_ATTEMPTS.labels(outcome="retry").inc()
        wait = max(backoff(attempts, policy.backoff_s, policy.max_backoff_s), at_least)
        log.info(
            "webhook %s: attempt %d failed (%s); next in %.0f s", delivery.event_id, attempts, error, wait
        )
        return replace(
            delivery,
            attempts=attempts,
            next_at=self.clock() + timedelta(seconds=wait),
            last_error=error[:MAX_ERROR],
        )

    async def _check_target(self, url: str) -> None:
        """Refuse an endpoint that resolves to a private, loopback, link-local or reserved address
        (unless allowed): a survey file must not make the bot call into its own network."""
        if self.policy.allow_private_targets:
            return
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                raise Refused(f"{host} resolves to a non-public address ({address})")

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Relay and deliver until ``stop`` is set; a store outage is waited out."""

        async def step() -> bool:
            relayed = await self.relay()
            return await self.deliver_due() > 0 or relayed > 0

        await repeat(stop, step, log, poll_s)
