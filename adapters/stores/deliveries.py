"""Webhook deliveries in MongoDB (:class:`adapters.webhooks.DeliveryStore`; in memory in
:mod:`adapters.stores.memory`).

A claim is a find of due pending deliveries (served by the ``status, next_at`` index) followed by one
conditional ``update_one`` per delivery on its ``_id`` and the ``next_at`` it was read with: of workers
claiming the same delivery at once, exactly one matches. The winner's ``next_at`` becomes the end of its
lease, so the delivery is not due again until the lease lapses; an outcome is stored only by the
worker that still holds it.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import mongoengine
from mongoengine import fields
from pymongo import DESCENDING
from pymongo.collection import Collection

from adapters.stores.mongo import Document, _MongoStore, claim_due, insert_new
from adapters.webhooks import Delivery, DeliveryStatus
from bot.responses import stored_time


class DeliveryDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    event_id = fields.StringField(required=True)
    event = fields.StringField(required=True)
    survey_id = fields.StringField(required=True)
    url = fields.StringField(required=True)
    body = fields.StringField(required=True)
    created_at = fields.DateTimeField(required=True)
    next_at = fields.DateTimeField(required=True)
    status = fields.EnumField(DeliveryStatus, required=True)
    attempts = fields.IntField(required=True, default=0)
    owner = fields.StringField()
    last_error = fields.StringField()
    delivered_at = fields.DateTimeField()

    meta: ClassVar[dict[str, Any]] = {
        "collection": "webhook_deliveries",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["status", "next_at"]},  # claim
            {"fields": ["status", "-created_at"]},  # the admin's list by status
            {"fields": ["survey_id", "-created_at"]},  # the admin's list by survey
        ],
    }


def _raw(delivery: Delivery) -> Document:
    return {
        "_id": delivery.id,
        "event_id": delivery.event_id,
        "event": delivery.event,
        "survey_id": delivery.survey_id,
        "url": delivery.url,
        "body": delivery.body,
        "created_at": delivery.created_at,
        "next_at": delivery.next_at,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "owner": delivery.owner,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
    }


def _delivery(raw: Document) -> Delivery:
    delivered_at = raw.get("delivered_at")
    return Delivery(
        id=raw["_id"],
        event_id=raw["event_id"],
        event=raw["event"],
        survey_id=raw["survey_id"],
        url=raw["url"],
        body=raw["body"],
        created_at=stored_time(raw["created_at"]),
        next_at=stored_time(raw["next_at"]),
        status=DeliveryStatus(raw["status"]),
        attempts=int(raw.get("attempts", 0)),
        owner=raw.get("owner"),
        last_error=raw.get("last_error"),
        delivered_at=stored_time(delivered_at) if delivered_at is not None else None,
    )


class MongoDeliveryStore(_MongoStore):
    _document = DeliveryDocument

    async def add(self, deliveries: Sequence[Delivery]) -> None:
        raws = [_raw(d) for d in deliveries]
        await self._run(lambda c: insert_new(c, raws))

    async def claim(self, now: datetime, lease_until: datetime, owner: str, limit: int) -> list[Delivery]:
        due = {"status": DeliveryStatus.PENDING.value, "next_at": {"$lte": now}}
        won = await self._run(lambda c: claim_due(c, due, "next_at", lease_until, owner, limit))
        return [_delivery(raw) for raw in won]

    async def settle(self, delivery: Delivery) -> bool:
        fence = {"_id": delivery.id, "owner": delivery.owner, "status": DeliveryStatus.PENDING.value}
        outcome = {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "next_at": delivery.next_at,
            "last_error": delivery.last_error,
            "delivered_at": delivery.delivered_at,
        }
        result = await self._run(lambda c: c.update_one(fence, {"$set": outcome}))
        return bool(result.matched_count)

    async def list(
        self, status: DeliveryStatus | None = None, survey_id: str | None = None, limit: int = 100
    ) -> builtins.list[Delivery]:
        query: Document = {}
        if status is not None:
            query["status"] = status.value
        if survey_id is not None:
            query["survey_id"] = survey_id

        def fetch(collection: Collection[Document]) -> builtins.list[Document]:
            return list(collection.find(query).sort("created_at", DESCENDING).limit(limit))

        return [_delivery(raw) for raw in await self._run(fetch)]

    async def retry(self, delivery_id: str, now: datetime) -> bool:
        fence = {"_id": delivery_id, "status": DeliveryStatus.FAILED.value}
        again = {
            "$set": {"status": DeliveryStatus.PENDING.value, "next_at": now, "attempts": 0, "owner": None}
        }
        result = await self._run(lambda c: c.update_one(fence, again))
        return bool(result.matched_count)

    async def counts(self) -> dict[DeliveryStatus, int]:
        def count(collection: Collection[Document]) -> dict[DeliveryStatus, int]:
            return {s: collection.count_documents({"status": s.value}) for s in DeliveryStatus}

        return await self._run(count)
