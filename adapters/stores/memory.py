"""In-memory stores: the ports' semantics without a server, for unit tests and the engine benchmark.

They behave like :mod:`adapters.stores.mongo` and :mod:`adapters.stores.redis_store` (one contract suite
runs against both): revisions, the unique slots, time-to-lives and the per-respondent lock. Datetimes are
kept in UTC at millisecond precision, as MongoDB keeps them. Setting ``fail`` makes every method raise
:class:`bot.errors.StorageUnavailable`, as an unreachable server would.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import math
import secrets
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.campaigns import Invitation, InvitationStatus
from adapters.webhooks import Delivery, DeliveryStatus
from bot.campaigns import Campaign
from bot.errors import (
    DuplicateResponse,
    NotFound,
    RespondentBusy,
    StaleResponse,
    StorageUnavailable,
    SurveyNotFound,
    VersionConflict,
)
from bot.links import REDEEMED_KEPT_S, GuessPolicy, RedeemStatus, Redemption
from bot.messages import ConversationKey
from bot.responses import (
    APPLIED_KEPT,
    Answer,
    Response,
    Session,
    Status,
    Ticks,
    Turn,
    response_slot,
    stored_time,
)
from bot.survey import Survey


def _answer(answer: Answer) -> Answer:
    value = list(answer.value) if isinstance(answer.value, list) else answer.value
    return Answer(value, stored_time(answer.at))


class _Switch:
    fail = False

    def _check(self) -> None:
        if self.fail:
            raise StorageUnavailable(f"{type(self).__name__} is failing on purpose", sent=False)


class InMemorySurveyStore(_Switch):
    def __init__(self) -> None:
        self._surveys: dict[str, dict[int, Survey]] = {}
        self._archived: dict[str, bool] = {}

    async def add(self, survey: Survey) -> None:
        self._check()
        if survey.version is None:
            raise ValueError(f"survey '{survey.id}' has no version to store it under")
        versions = self._surveys.setdefault(survey.id, {})
        if survey.version in versions:
            raise VersionConflict(f"survey '{survey.id}' version {survey.version} is stored already")
        versions[survey.version] = survey
        self._archived.setdefault(survey.id, False)

    async def get(self, survey_id: str, version: int | None = None) -> Survey:
        self._check()
        versions = self._surveys.get(survey_id, {})
        if version is None and versions:
            version = max(versions)
        if version not in versions:
            raise SurveyNotFound(survey_id, version)
        return versions[version]

    async def list_newest(self, include_archived: bool = False) -> list[Survey]:
        self._check()
        return [
            versions[max(versions)]
            for survey_id, versions in sorted(self._surveys.items())
            if include_archived or not self._archived[survey_id]
        ]

    async def set_archived(self, survey_id: str, archived: bool) -> None:
        self._check()
        if survey_id not in self._surveys:
            raise SurveyNotFound(survey_id)
        self._archived[survey_id] = archived


class InMemoryResponseStore(_Switch):
    def __init__(self) -> None:
        self._responses: dict[str, Response] = {}
        self._slots: dict[str, str] = {}
        self._of: dict[str, list[str]] = {}
        """Respondent key → ids of their responses: the index MongoDB serves these look-ups from."""

    async def create(self, response: Response) -> Response:
        self._check()
        stored = dataclasses.replace(
            response,
            id=response.id or secrets.token_hex(12),
            started_at=stored_time(response.started_at),
            updated_at=stored_time(response.updated_at),
            completed_at=response.completed_at and stored_time(response.completed_at),
            answers={qid: _answer(a) for qid, a in response.answers.items()},
        )
        slot = response_slot(stored)
        if stored.id in self._responses or (slot is not None and slot in self._slots):
            raise DuplicateResponse(f"survey '{stored.survey_id}' already has a response of this respondent")
        self._responses[stored.id] = stored
        self._of.setdefault(stored.respondent.key, []).append(stored.id)
        if slot is not None:
            self._slots[slot] = stored.id
        return stored

    async def get(self, response_id: str) -> Response:
        self._check()
        try:
            return self._responses[response_id]
        except KeyError:
            raise NotFound(f"no response '{response_id}'") from None

    async def find(self, survey_id: str, respondent_key: str) -> Response | None:
        self._check()
        mine = [r for r in self._mine(respondent_key) if r.survey_id == survey_id]
        return max(mine, key=lambda r: (r.status is Status.IN_PROGRESS, r.updated_at), default=None)

    async def find_in_progress(self, respondent_key: str) -> Response | None:
        self._check()
        open_ = [r for r in self._mine(respondent_key) if r.status is Status.IN_PROGRESS]
        return max(open_, key=lambda r: r.updated_at, default=None)

    async def find_by_update(self, respondent_key: str, update_id: str) -> Response | None:
        self._check()
        mine = [r for r in self._mine(respondent_key) if update_id in r.applied]
        return max(mine, key=lambda r: r.updated_at, default=None)

    def _mine(self, respondent_key: str) -> list[Response]:
        return [self._responses[i] for i in self._of.get(respondent_key, ())]

    async def discard(self, response_id: str, revision: int) -> None:
        self._check()
        response = self._current(response_id, revision)
        if response.path or response.answers:
            raise StaleResponse(f"response '{response_id}' holds answers")
        slot = response_slot(response)
        if slot is not None:
            del self._slots[slot]
        del self._responses[response_id]
        self._of[response.respondent.key].remove(response_id)

    def _current(self, response_id: str, revision: int, update_id: str | None = None) -> Response:
        response = self._responses.get(response_id)
        if (
            response is None
            or response.status is not Status.IN_PROGRESS
            or response.revision != revision
            or (update_id is not None and update_id in response.applied)
        ):
            raise StaleResponse(f"response '{response_id}' is not in progress at revision {revision}")
        return response

    def _write(self, old: Response, new: Response) -> Response:
        old_slot, new_slot = response_slot(old), response_slot(new)
        if new_slot is not None and self._slots.get(new_slot, new.id) != new.id:
            raise DuplicateResponse(f"the respondent already completed survey '{new.survey_id}'")
        if old_slot is not None:
            del self._slots[old_slot]
        if new_slot is not None:
            self._slots[new_slot] = new.id
        self._responses[new.id] = new
        return new

    def _change(self, old: Response, update_id: str | None, **changes: Any) -> Response:
        """``old`` with ``changes`` (updated now, unless they say when), the next revision, and
        ``update_id`` among the applied ones."""
        applied = old.applied if update_id is None else (*old.applied, update_id)[-APPLIED_KEPT:]
        changes = {"updated_at": stored_time(datetime.now(UTC)), **changes}
        return self._write(
            old, dataclasses.replace(old, revision=old.revision + 1, applied=applied, **changes)
        )

    async def record(
        self,
        response_id: str,
        revision: int,
        question_id: str,
        answer: Answer | None,
        update_id: str | None = None,
    ) -> Response:
        self._check()
        old = self._current(response_id, revision, update_id)
        answers = dict(old.answers)
        if answer is None:
            answers.pop(question_id, None)
        else:
            answers[question_id] = _answer(answer)
        return self._change(
            old, update_id, answers=answers, path=(*old.path, question_id), ticks=None, paused=False
        )

    async def rewind(
        self,
        response_id: str,
        revision: int,
        path: tuple[str, ...],
        clear_answers: bool = False,
        update_id: str | None = None,
    ) -> Response:
        self._check()
        old = self._current(response_id, revision, update_id)
        answers = {} if clear_answers else old.answers
        return self._change(old, update_id, answers=answers, path=tuple(path), ticks=None, paused=False)

    async def mark(
        self,
        response_id: str,
        revision: int,
        ticks: Ticks | None,
        paused: bool,
        update_id: str | None = None,
        language: str | None = None,
    ) -> Response:
        self._check()
        old = self._current(response_id, revision, update_id)
        return self._change(old, update_id, ticks=ticks, paused=paused, language=language or old.language)

    async def complete(
        self,
        response_id: str,
        revision: int,
        answers: Mapping[str, Answer],
        completed_at: datetime,
        last: str | None = None,
        update_id: str | None = None,
        events: tuple[str, ...] = (),
    ) -> Response:
        self._check()
        old = self._current(response_id, revision, update_id)
        return self._change(
            old,
            update_id,
            path=old.path if last is None else (*old.path, last),
            status=Status.COMPLETED,
            answers={qid: _answer(a) for qid, a in answers.items()},
            completed_at=stored_time(completed_at),
            updated_at=stored_time(completed_at),
            ticks=None,
            paused=False,
            outbox=(*old.outbox, *(e for e in events if e not in old.outbox)),
        )

    async def completed_at_least(self, survey_id: str, n: int) -> bool:
        return (await self.count(survey_id))[Status.COMPLETED] >= n

    async def count(self, survey_id: str) -> dict[Status, int]:
        self._check()
        counts = dict.fromkeys(Status, 0)
        for r in self._responses.values():
            if r.survey_id == survey_id:
                counts[r.status] += 1
        return counts

    async def list(
        self, survey_id: str, status: Status | None = None, since: datetime | None = None
    ) -> builtins.list[Response]:
        self._check()
        return sorted(
            (
                r
                for r in self._responses.values()
                if r.survey_id == survey_id
                and (status is None or r.status is status)
                and (since is None or r.started_at >= stored_time(since))
            ),
            key=lambda r: (r.started_at, r.id),
        )

    async def count_campaign(self, campaign_id: str) -> dict[Status, int]:
        self._check()
        counts = dict.fromkeys(Status, 0)
        for r in self._responses.values():
            if r.campaign == campaign_id:
                counts[r.status] += 1
        return counts

    async def with_events(self, limit: int) -> builtins.list[Response]:
        self._check()
        return [r for r in self._responses.values() if r.outbox][:limit]

    async def clear_events(self, response_id: str, events: tuple[str, ...]) -> None:
        self._check()
        old = self._responses[response_id]
        self._responses[response_id] = dataclasses.replace(
            old, outbox=tuple(e for e in old.outbox if e not in events)
        )


class InMemorySessionStore(_Switch):
    """Sessions, handled update ids and respondent locks, with the Redis store's time-to-lives."""

    def __init__(self, lock_ttl_ms: int = 6_000, wait_s: float = 5.0, dedupe_ttl_s: int = 2 * 86400) -> None:
        self.lock_ttl_ms = lock_ttl_ms
        self.wait_s = wait_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self._sessions: dict[ConversationKey, tuple[Session, float]] = {}
        self._locks: dict[ConversationKey, tuple[str, float]] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._released: dict[ConversationKey, asyncio.Event] = {}
        self._next_purge = 0.0
        self._languages: dict[ConversationKey, str] = {}

    async def preferred_language(self, key: ConversationKey) -> str | None:
        self._check()
        return self._languages.get(key)

    async def prefer_language(self, key: ConversationKey, language: str) -> None:
        self._check()
        self._languages[key] = language

    def _purge(self, now: float) -> None:
        """Drop what expired: each table at most once a second, so that a busy store stays cheap."""
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for table in (self._sessions, self._locks):
            for key in [k for k, (_, expires) in table.items() if expires <= now]:
                del table[key]
        for seen in [s for s, expires in self._seen.items() if expires <= now]:
            del self._seen[seen]

    def _session(self, key: ConversationKey, now: float) -> Session | None:
        stored = self._sessions.get(key)
        return stored[0] if stored is not None and stored[1] > now else None

    async def begin(self, key: ConversationKey, update_id: str | None) -> Turn:
        self._check()
        deadline = time.monotonic() + self.wait_s
        while True:
            now = time.monotonic()
            self._purge(now)
            if update_id is not None and self._seen.get((key.platform, update_id), now) > now:
                return Turn(token="", duplicate=True, session=self._session(key, now))
            held = self._locks.get(key)
            if held is None or held[1] <= now:
                token = secrets.token_hex(8)
                self._locks[key] = (token, now + self.lock_ttl_ms / 1000)
                return Turn(token=token, session=self._session(key, now))
            if now >= deadline:
                raise RespondentBusy(f"a {key.platform} respondent stayed busy for {self.wait_s} s")
            released = self._released.setdefault(key, asyncio.Event())
            try:
                async with asyncio.timeout(min(deadline, held[1]) - now):
                    await released.wait()
            except TimeoutError:
                pass

    def _release(self, key: ConversationKey, turn: Turn) -> bool:
        held = self._locks.get(key)
        if held is None or held[0] != turn.token or held[1] <= time.monotonic():
            return False
        del self._locks[key]
        released = self._released.pop(key, None)
        if released is not None:
            released.set()
        return True

    async def commit(
        self, key: ConversationKey, turn: Turn, session: Session | None, ttl: int, update_id: str | None
    ) -> bool:
        self._check()
        if ttl <= 0:
            raise ValueError(f"a session's time-to-live must be positive, not {ttl}")
        if turn.duplicate:
            return True
        now = time.monotonic()
        if update_id is not None:
            self._seen[key.platform, update_id] = now + self.dedupe_ttl_s
        if not self._release(key, turn):
            # Our lock expired: keep our session only if no newer one was stored meanwhile.
            stored = self._session(key, now)
            if session is not None and (stored is None or stored.revision < session.revision):
                self._sessions[key] = (session, now + ttl)
            return False
        if session is None:
            self._sessions.pop(key, None)
        else:
            self._sessions[key] = (session, now + ttl)
        return True

    async def mark_live(self, key: ConversationKey, question_id: str, message_id: str) -> None:
        self._check()
        stored = self._sessions.get(key)
        if stored is not None and stored[0].question_id == question_id:
            live = dataclasses.replace(stored[0], live=message_id)
            self._sessions[key] = (live, stored[1])

    async def abort(self, key: ConversationKey, turn: Turn) -> None:
        if turn.duplicate:
            return
        self._release(key, turn)


class InMemoryDeliveryStore(_Switch):
    def __init__(self) -> None:
        self.stored: dict[str, Delivery] = {}

    async def add(self, deliveries: Sequence[Delivery]) -> None:
        self._check()
        for delivery in deliveries:
            self.stored.setdefault(delivery.id, _at_ms(delivery))

    async def claim(self, now: datetime, lease_until: datetime, owner: str, limit: int) -> list[Delivery]:
        self._check()
        due = sorted(
            (d for d in self.stored.values() if d.status is DeliveryStatus.PENDING and d.next_at <= now),
            key=lambda d: d.next_at,
        )[:limit]
        won = []
        for delivery in due:
            mine = _at_ms(_with(delivery, next_at=lease_until, owner=owner))
            self.stored[delivery.id] = mine
            won.append(mine)
        return won

    async def settle(self, delivery: Delivery) -> bool:
        self._check()
        held = self.stored.get(delivery.id)
        if held is None or held.owner != delivery.owner or held.status is not DeliveryStatus.PENDING:
            return False
        self.stored[delivery.id] = _at_ms(delivery)
        return True

    async def list(
        self, status: DeliveryStatus | None = None, survey_id: str | None = None, limit: int = 100
    ) -> builtins.list[Delivery]:
        self._check()
        chosen = [
            d
            for d in self.stored.values()
            if (status is None or d.status is status) and (survey_id is None or d.survey_id == survey_id)
        ]
        return sorted(chosen, key=lambda d: d.created_at, reverse=True)[:limit]

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        self._check()
        held = self.stored.get(delivery_id)
        if held is None or held.status is not DeliveryStatus.FAILED:
            return False
        self.stored[delivery_id] = _at_ms(
            _with(held, status=DeliveryStatus.PENDING, next_at=now, attempts=0, owner=None)
        )
        return True

    async def counts(self) -> dict[DeliveryStatus, int]:
        self._check()
        counts = dict.fromkeys(DeliveryStatus, 0)
        for delivery in self.stored.values():
            counts[delivery.status] += 1
        return counts


def _with(delivery: Delivery, **changes: Any) -> Delivery:
    return dataclasses.replace(delivery, **changes)


def _at_ms(delivery: Delivery) -> Delivery:
    """Times at MongoDB's millisecond precision, as the Mongo store returns them."""
    return _with(
        delivery,
        created_at=stored_time(delivery.created_at),
        next_at=stored_time(delivery.next_at),
        delivered_at=stored_time(delivery.delivered_at) if delivery.delivered_at else None,
    )


class InMemoryOptOutStore(_Switch):
    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def record(self, respondent_key: str, opted_out: bool) -> None:
        self._check()
        (self.keys.add if opted_out else self.keys.discard)(respondent_key)

    async def opted_out(self, respondent_keys: Collection[str]) -> builtins.set[str]:
        self._check()
        return self.keys & set(respondent_keys)


class InMemoryCampaignStore(_Switch):
    def __init__(self) -> None:
        self.stored: dict[str, Campaign] = {}
        self.paused: dict[str, bool] = {}
        self.planned_until: dict[str, datetime] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}

    async def put(self, campaign: Campaign, now: datetime) -> bool:
        self._check()
        if self.stored.get(campaign.id) == campaign:
            return False
        if campaign.id not in self.stored:
            self.planned_until[campaign.id] = campaign.schedule.start(now)
            self.paused[campaign.id] = False
        self.stored[campaign.id] = campaign
        return True

    async def get(self, campaign_id: str) -> tuple[Campaign, bool]:
        self._check()
        if campaign_id not in self.stored:
            raise NotFound(f"no campaign '{campaign_id}'")
        return self.stored[campaign_id], self.paused[campaign_id]

    async def list(self) -> builtins.list[tuple[Campaign, bool]]:
        self._check()
        return [(c, self.paused[i]) for i, c in sorted(self.stored.items())]

    async def set_paused(self, campaign_id: str, paused: bool) -> None:
        await self.get(campaign_id)
        self.paused[campaign_id] = paused

    async def take_planning(
        self, campaign_id: str, owner: str, now: datetime, until: datetime
    ) -> datetime | None:
        self._check()
        held = self.leases.get(campaign_id)
        if self.paused.get(campaign_id, True) or (held is not None and held[0] != owner and held[1] > now):
            return None
        self.leases[campaign_id] = (owner, until)
        return self.planned_until[campaign_id]

    async def planned(self, campaign_id: str, owner: str, upto: datetime) -> None:
        self._check()
        if self.leases.get(campaign_id, ("", None))[0] == owner:
            self.planned_until[campaign_id] = upto
            del self.leases[campaign_id]


class InMemoryInvitationStore(_Switch):
    def __init__(self) -> None:
        self.stored: dict[str, Invitation] = {}

    async def add(self, invitations: Sequence[Invitation]) -> None:
        self._check()
        for invitation in invitations:
            self.stored.setdefault(invitation.id, invitation)

    async def claim(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> builtins.list[Invitation]:
        self._check()
        due = sorted(
            (i for i in self.stored.values() if i.status is InvitationStatus.PENDING and i.due_at <= now),
            key=lambda i: i.due_at,
        )[:limit]
        for invitation in due:
            self.stored[invitation.id] = dataclasses.replace(invitation, due_at=lease_until, owner=owner)
        return [self.stored[i.id] for i in due]

    async def sending(self, invitation: Invitation) -> bool:
        self._check()
        held = self.stored.get(invitation.id)
        if held is None or held.owner != invitation.owner or held.status is not InvitationStatus.PENDING:
            return False
        self.stored[invitation.id] = dataclasses.replace(held, status=InvitationStatus.SENDING)
        return True

    async def settle(self, invitation: Invitation) -> bool:
        self._check()
        held = self.stored.get(invitation.id)
        busy = (InvitationStatus.PENDING, InvitationStatus.SENDING)
        if held is None or held.owner != invitation.owner or held.status not in busy:
            return False
        self.stored[invitation.id] = invitation
        return True

    async def unconfirm_stale(self, now: datetime) -> int:
        self._check()
        stale = [i for i in self.stored.values() if i.status is InvitationStatus.SENDING and i.due_at < now]
        for invitation in stale:
            self.stored[invitation.id] = dataclasses.replace(invitation, status=InvitationStatus.UNCONFIRMED)
        return len(stale)

    async def sent(self, campaign_id: str) -> builtins.list[Invitation]:
        self._check()
        return [
            i
            for i in self.stored.values()
            if i.campaign_id == campaign_id
            and i.reminder == 0
            and i.status is InvitationStatus.SENT
            and not i.digest
        ]

    async def counts(self, campaign_id: str) -> dict[tuple[str, int, InvitationStatus], int]:
        self._check()
        counts: dict[tuple[str, int, InvitationStatus], int] = {}
        for i in self.stored.values():
            if i.campaign_id == campaign_id and not i.digest:
                counts[(i.occurrence, i.reminder, i.status)] = (
                    counts.get((i.occurrence, i.reminder, i.status), 0) + 1
                )
        return counts


class InMemoryContactStore(_Switch):
    def __init__(self) -> None:
        self.people: dict[tuple[str, str], tuple[str, builtins.set[str]]] = {}

    async def tag(self, platform: str, user_id: str, name: str, tag: str) -> None:
        self._check()
        _, tags = self.people.get((platform, user_id), (name, set()))
        self.people[(platform, user_id)] = (name, tags | {tag})

    async def tagged(self, platform: str, tags: Collection[str]) -> builtins.list[tuple[str, str]]:
        self._check()
        return sorted(
            (user, name)
            for (p, user), (name, have) in self.people.items()
            if p == platform and have & set(tags)
        )


class InMemoryLinkStore(_Switch):
    """Link codes, guessing counters and aliases with the semantics of the Redis and MongoDB stores."""

    _EVERYONE = ""
    """The overall counter's key: no identity (a respondent key) is empty."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[str, float]] = {}
        """Code hash → (issuer, expires)."""
        self._issued: dict[str, str] = {}
        """Identity → the hash of its code."""
        self._taken: dict[str, tuple[str, str, float]] = {}
        """Code hash → (redeemer, issuer, until when the redeemer gets the same answer)."""
        self._failures: dict[str, tuple[int, float]] = {}
        """Identity (or everyone) → (failures, end of the window that began at the first)."""
        self._aliases: dict[str, str] = {}
        self._next_purge = 0.0

    def _purge(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for table in (self._codes, self._failures):
            for key in [k for k, v in table.items() if v[-1] <= now]:
                del table[key]
        for key in [k for k, v in self._taken.items() if v[2] <= now]:
            del self._taken[key]
        for identity in [i for i, h in self._issued.items() if h not in self._codes]:
            del self._issued[identity]

    async def issue(self, identity: str, code_hash: str, ttl_s: int) -> bool:
        self._check()
        now = time.monotonic()
        self._purge(now)
        held = self._codes.get(code_hash)
        if held is not None and held[1] > now and held[0] != identity:
            return False
        old = self._issued.get(identity)
        old_held = self._codes.get(old) if old is not None and old != code_hash else None
        if old is not None and old_held is not None and old_held[0] == identity:
            del self._codes[old]
        self._codes[code_hash] = (identity, now + ttl_s)
        self._issued[identity] = code_hash
        return True

    async def redeem(self, identity: str, code_hash: str, policy: GuessPolicy) -> Redemption:
        self._check()
        now = time.monotonic()
        self._purge(now)
        taken = self._taken.get(code_hash)
        if taken is not None and taken[2] > now and taken[0] == identity:
            return Redemption(RedeemStatus.TAKEN, taken[1])
        for who, limit, overall in (
            (identity, policy.per_identity, False),
            (self._EVERYONE, policy.overall, True),
        ):
            failed, until = self._failures.get(who, (0, now))
            if until > now and failed >= limit:
                return Redemption(RedeemStatus.REFUSED, retry_after_s=math.ceil(until - now), overall=overall)
        held = self._codes.get(code_hash)
        if held is not None and held[1] > now:
            issuer = held[0]
            if issuer == identity:
                return Redemption(RedeemStatus.OWN, issuer)
            del self._codes[code_hash]
            if self._issued.get(issuer) == code_hash:
                del self._issued[issuer]
            self._taken[code_hash] = (identity, issuer, now + REDEEMED_KEPT_S)
            return Redemption(RedeemStatus.TAKEN, issuer)
        for who, window_s in (
            (identity, policy.identity_window_s),
            (self._EVERYONE, policy.overall_window_s),
        ):
            failed, until = self._failures.get(who, (0, now))
            self._failures[who] = (failed + 1, until) if until > now else (1, now + window_s)
        return Redemption(RedeemStatus.UNKNOWN)

    async def alias(self, identity: str) -> str | None:
        self._check()
        return self._aliases.get(identity)

    async def aliases(self, canonical: str) -> builtins.list[str]:
        self._check()
        return sorted(a for a, c in self._aliases.items() if c == canonical)

    async def link(self, identity: str, canonical: str) -> str:
        self._check()
        root = self._aliases.get(canonical, canonical)
        joining = self._aliases.get(identity, identity)
        if root == joining:
            return root
        for alias, of in builtins.list(self._aliases.items()):
            if of == joining:
                self._aliases[alias] = root
        self._aliases[joining] = root
        return root

    async def unlink(self, identity: str) -> builtins.list[str]:
        self._check()
        if identity in self._aliases:
            del self._aliases[identity]
            return [identity]
        gone = sorted(a for a, c in self._aliases.items() if c == identity)
        for alias in gone:
            del self._aliases[alias]
        return gone
