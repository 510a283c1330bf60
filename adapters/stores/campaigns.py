"""Campaigns, their invitations and the opt-outs in MongoDB (the ports of :mod:`adapters.campaigns` and
:class:`bot.ports.OptOutStore`).

A campaign is stored as its YAML source and read back through the campaign loader. Invitations are
claimed like webhook deliveries (:mod:`adapters.stores.deliveries`): a find of due ones served by the
``status, due_at`` index, then one conditional update each on its id and the ``due_at`` it was read
with, which makes the winner's ``due_at`` the end of its lease.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import mongoengine
from mongoengine import fields
from pymongo import ASCENDING
from pymongo.collection import Collection as MongoCollection

from adapters.campaigns import Invitation, InvitationStatus
from adapters.stores.mongo import Document, _MongoStore, claim_due, insert_new
from bot.campaign_file import load_campaign_text
from bot.campaigns import Campaign
from bot.errors import NotFound
from bot.responses import stored_time

_WALL = "%Y-%m-%dT%H:%M"


class CampaignDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    source = fields.StringField(required=True)
    file = fields.StringField(required=True)
    content_hash = fields.StringField(required=True)
    paused = fields.BooleanField(required=True, default=False)
    planned_until = fields.StringField(required=True)
    """The wall time (campaign's zone, minutes) up to which occurrences are planned."""
    plan_owner = fields.StringField()
    plan_lease = fields.DateTimeField()
    created_at = fields.DateTimeField(required=True)

    meta: ClassVar[dict[str, Any]] = {"collection": "campaigns", "auto_create_index": False, "indexes": []}


class InvitationDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    campaign_id = fields.StringField(required=True)
    occurrence = fields.StringField(required=True)
    platform = fields.StringField(required=True)
    user_id = fields.StringField(required=True)
    name = fields.StringField()
    zone = fields.StringField(required=True)
    survey_id = fields.StringField(required=True)
    reminder = fields.IntField(required=True)
    due_at = fields.DateTimeField(required=True)
    scheduled_at = fields.DateTimeField(required=True)
    status = fields.EnumField(InvitationStatus, required=True)
    attempts = fields.IntField(required=True, default=0)
    owner = fields.StringField()
    sent_at = fields.DateTimeField()
    invited_at = fields.DateTimeField()
    note = fields.StringField()
    digest = fields.BooleanField(default=False)

    meta: ClassVar[dict[str, Any]] = {
        "collection": "invitations",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["status", "due_at"]},  # claim, and the stale sending ones
            {"fields": ["campaign_id", "occurrence"]},  # status
        ],
    }


class ContactDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    """``platform:user id``."""
    platform = fields.StringField(required=True)
    user_id = fields.StringField(required=True)
    name = fields.StringField()
    tags = fields.ListField(fields.StringField())
    updated_at = fields.DateTimeField(required=True)

    meta: ClassVar[dict[str, Any]] = {
        "collection": "contacts",
        "auto_create_index": False,
        "indexes": [{"fields": ["platform", "tags"]}],  # tagged
    }


class OptOutDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    """The respondent key."""
    at = fields.DateTimeField(required=True)

    meta: ClassVar[dict[str, Any]] = {"collection": "opt_outs", "auto_create_index": False, "indexes": []}


def _hash(campaign: Campaign) -> str:
    return hashlib.sha256(campaign.source.encode()).hexdigest()


def _campaign(raw: Document) -> Campaign:
    return _parsed(raw["source"], raw["file"])


@functools.lru_cache(maxsize=256)
def _parsed(source: str, file: str) -> Campaign:
    """A stored campaign's definition (frozen, so shared): every worker lists every campaign each
    second, and the YAML is parsed again only when it changed."""
    return load_campaign_text(source, file)


class MongoCampaignStore(_MongoStore):
    _document = CampaignDocument

    async def put(self, campaign: Campaign, now: datetime) -> bool:
        digest = _hash(campaign)

        def write(collection: MongoCollection[Document]) -> bool:
            result = collection.update_one(
                {"_id": campaign.id},
                {
                    "$set": {"source": campaign.source, "file": campaign.file, "content_hash": digest},
                    "$setOnInsert": {
                        "paused": False,
                        "planned_until": campaign.schedule.start(now).strftime(_WALL),
                        "created_at": now,
                    },
                },
                upsert=True,
            )
            return result.upserted_id is not None or result.modified_count == 1

        return await self._run(write)

    async def get(self, campaign_id: str) -> tuple[Campaign, bool]:
        raw = await self._run(lambda c: c.find_one({"_id": campaign_id}))
        if raw is None:
            raise NotFound(f"no campaign '{campaign_id}'")
        return _campaign(raw), bool(raw.get("paused"))

    async def list(self) -> builtins.list[tuple[Campaign, bool]]:
        raws = await self._run(lambda c: list(c.find({}).sort("_id", ASCENDING)))
        return [(_campaign(raw), bool(raw.get("paused"))) for raw in raws]

    async def set_paused(self, campaign_id: str, paused: bool) -> None:
        result = await self._run(lambda c: c.update_one({"_id": campaign_id}, {"$set": {"paused": paused}}))
        if result.matched_count == 0:
            raise NotFound(f"no campaign '{campaign_id}'")

    async def take_planning(
        self, campaign_id: str, owner: str, now: datetime, until: datetime
    ) -> datetime | None:
        free = {"$or": [{"plan_lease": None}, {"plan_lease": {"$lt": now}}, {"plan_owner": owner}]}
        query = {"_id": campaign_id, "paused": False, **free}

        def take(collection: MongoCollection[Document]) -> Document | None:
            if (
                collection.update_one(
                    query, {"$set": {"plan_owner": owner, "plan_lease": until}}
                ).matched_count
                == 0
            ):
                return None
            return collection.find_one({"_id": campaign_id}, {"planned_until": 1})

        raw = await self._run(take)
        return None if raw is None else datetime.strptime(raw["planned_until"], _WALL)

    async def planned(self, campaign_id: str, owner: str, upto: datetime) -> None:
        done = {"$set": {"planned_until": upto.strftime(_WALL), "plan_lease": None}}
        await self._run(lambda c: c.update_one({"_id": campaign_id, "plan_owner": owner}, done))


def _raw(invitation: Invitation) -> Document:
    return {
        "_id": invitation.id,
        "campaign_id": invitation.campaign_id,
        "occurrence": invitation.occurrence,
        "platform": invitation.platform,
        "user_id": invitation.user_id,
        "name": invitation.name,
        "zone": invitation.zone,
        "survey_id": invitation.survey_id,
        "reminder": invitation.reminder,
        "due_at": invitation.due_at,
        "scheduled_at": invitation.scheduled_at,
        "status": invitation.status.value,
        "attempts": invitation.attempts,
        "owner": invitation.owner,
        "sent_at": invitation.sent_at,
        "invited_at": invitation.invited_at,
        "note": invitation.note,
        "digest": invitation.digest,
    }


def _invitation(raw: Document) -> Invitation:
    def moment(name: str) -> datetime | None:
        value = raw.get(name)
        return stored_time(value) if value is not None else None

    return Invitation(
        id=raw["_id"],
        campaign_id=raw["campaign_id"],
        occurrence=raw["occurrence"],
        platform=raw["platform"],
        user_id=raw["user_id"],
        name=raw.get("name") or "",
        zone=raw["zone"],
        survey_id=raw["survey_id"],
        reminder=int(raw["reminder"]),
        due_at=stored_time(raw["due_at"]),
        scheduled_at=stored_time(raw["scheduled_at"]),
        status=InvitationStatus(raw["status"]),
        attempts=int(raw.get("attempts", 0)),
        owner=raw.get("owner"),
        sent_at=moment("sent_at"),
        invited_at=moment("invited_at"),
        note=raw.get("note"),
        digest=bool(raw.get("digest", False)),
    )


class MongoInvitationStore(_MongoStore):
    _document = InvitationDocument

    async def add(self, invitations: Sequence[Invitation]) -> None:
        raws = [_raw(i) for i in invitations]
        await self._run(lambda c: insert_new(c, raws))

    async def claim(
        self, now: datetime, lease_until: datetime, owner: str, limit: int
    ) -> builtins.list[Invitation]:
        due = {"status": InvitationStatus.PENDING.value, "due_at": {"$lte": now}}
        won = await self._run(lambda c: claim_due(c, due, "due_at", lease_until, owner, limit))
        return [_invitation(raw) for raw in won]

    async def sending(self, invitation: Invitation) -> bool:
        fence = {"_id": invitation.id, "owner": invitation.owner, "status": InvitationStatus.PENDING.value}
        result = await self._run(
            lambda c: c.update_one(fence, {"$set": {"status": InvitationStatus.SENDING.value}})
        )
        return bool(result.matched_count)

    async def settle(self, invitation: Invitation) -> bool:
        busy = [InvitationStatus.PENDING.value, InvitationStatus.SENDING.value]
        fence = {"_id": invitation.id, "owner": invitation.owner, "status": {"$in": busy}}
        outcome = {k: v for k, v in _raw(invitation).items() if k != "_id"}
        result = await self._run(lambda c: c.update_one(fence, {"$set": outcome}))
        return bool(result.matched_count)

    async def unconfirm_stale(self, now: datetime) -> int:
        stale = {"status": InvitationStatus.SENDING.value, "due_at": {"$lt": now}}
        change = {"$set": {"status": InvitationStatus.UNCONFIRMED.value}}
        result = await self._run(lambda c: c.update_many(stale, change))
        return int(result.modified_count)

    async def sent(self, campaign_id: str) -> builtins.list[Invitation]:
        query = {
            "campaign_id": campaign_id,
            "reminder": 0,
            "status": InvitationStatus.SENT.value,
            "digest": False,
        }
        return [_invitation(raw) for raw in await self._run(lambda c: list(c.find(query)))]

    async def counts(self, campaign_id: str) -> dict[tuple[str, int, InvitationStatus], int]:
        pipeline: builtins.list[Document] = [
            {"$match": {"campaign_id": campaign_id, "digest": {"$ne": True}}},
            {"$group": {"_id": {"o": "$occurrence", "r": "$reminder", "s": "$status"}, "n": {"$sum": 1}}},
        ]
        rows = await self._run(lambda c: list(c.aggregate(pipeline)))
        return {
            (r["_id"]["o"], int(r["_id"]["r"]), InvitationStatus(r["_id"]["s"])): int(r["n"]) for r in rows
        }


class MongoOptOutStore(_MongoStore):
    _document = OptOutDocument

    async def record(self, respondent_key: str, opted_out: bool) -> None:
        if opted_out:
            now = datetime.now(UTC)
            await self._run(
                lambda c: c.update_one({"_id": respondent_key}, {"$setOnInsert": {"at": now}}, upsert=True)
            )
        else:
            await self._run(lambda c: c.delete_one({"_id": respondent_key}))

    async def opted_out(self, respondent_keys: Collection[str]) -> builtins.set[str]:
        keys = list(respondent_keys)
        raws = await self._run(lambda c: list(c.find({"_id": {"$in": keys}}, {"_id": 1})))
        return {raw["_id"] for raw in raws}


class MongoContactStore(_MongoStore):
    _document = ContactDocument

    async def tag(self, platform: str, user_id: str, name: str, tag: str) -> None:
        change = {
            "$set": {"platform": platform, "user_id": user_id, "name": name, "updated_at": datetime.now(UTC)},
            "$addToSet": {"tags": tag},
        }
        await self._run(lambda c: c.update_one({"_id": f"{platform}:{user_id}"}, change, upsert=True))

    async def tagged(self, platform: str, tags: Collection[str]) -> builtins.list[tuple[str, str]]:
        query = {"platform": platform, "tags": {"$in": list(tags)}}
        raws = await self._run(
            lambda c: list(c.find(query, {"user_id": 1, "name": 1}).sort("_id", ASCENDING))
        )
        return [(raw["user_id"], raw.get("name") or "") for raw in raws]
