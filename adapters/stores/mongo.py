"""MongoDB stores through mongoengine: the documents declare the schema and the indexes, the stores run
each query with the collection of their connection alias, in a worker thread.

The ``slot`` of a response (unique, sparse) is what keeps one response in progress per survey and
respondent, and one completed one when ``one_per_user``: ``{survey}|{respondent}|open`` while in progress,
``{survey}|{respondent}|done`` once completed, absent for a completed response that need not be alone.
Every write to a response is one conditional update on its id, status and revision (and, when it answers a
platform update, on that update not being among the response's ``applied`` ones), then a read by id.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import mongoengine
from bson import ObjectId
from mongoengine import fields
from mongoengine.connection import ConnectionFailure as MongoEngineConnectionFailure
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError, ServerSelectionTimeoutError

from bot.errors import (
    DefinitionError,
    DuplicateResponse,
    NotFound,
    StaleResponse,
    StorageUnavailable,
    SurveyNotFound,
    VersionConflict,
)
from bot.loader import load_text
from bot.responses import (
    APPLIED_KEPT,
    Answer,
    AnswerValue,
    Respondent,
    Response,
    Status,
    Ticks,
    response_slot,
    stored_time,
)
from bot.survey import EVENTS, Survey

log = logging.getLogger("surveybot.mongo")

Document = dict[str, Any]
T = TypeVar("T")

_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]+")


class SurveyDocument(mongoengine.Document):  # type: ignore[misc]
    survey_id = fields.StringField(required=True)
    version = fields.IntField(required=True, min_value=1)
    title = fields.StringField(required=True)
    source = fields.StringField(required=True)
    file = fields.StringField(required=True)
    content_hash = fields.StringField(required=True)
    archived = fields.BooleanField(required=True, default=False)
    created_at = fields.DateTimeField(required=True)

    meta: ClassVar[dict[str, Any]] = {
        "collection": "surveys",
        "auto_create_index": False,
        "indexes": [{"fields": ["survey_id", "-version"], "unique": True}],
    }


class RespondentDocument(mongoengine.EmbeddedDocument):  # type: ignore[misc]
    platform = fields.StringField(required=True)
    key = fields.StringField(required=True)
    user_id = fields.StringField()
    name = fields.StringField()


class AnswerDocument(mongoengine.EmbeddedDocument):  # type: ignore[misc]
    value = fields.DynamicField(null=True)
    at = fields.DateTimeField(required=True)


class ResponseDocument(mongoengine.Document):  # type: ignore[misc]
    id = fields.StringField(primary_key=True)
    survey_id = fields.StringField(required=True)
    version = fields.IntField(required=True)
    respondent = fields.EmbeddedDocumentField(RespondentDocument, required=True)
    status = fields.EnumField(Status, required=True)
    answers = fields.MapField(fields.EmbeddedDocumentField(AnswerDocument))
    path = fields.ListField(fields.StringField())
    started_at = fields.DateTimeField(required=True)
    updated_at = fields.DateTimeField(required=True)
    completed_at = fields.DateTimeField()
    one_per_user = fields.BooleanField(required=True, default=True)
    revision = fields.IntField(required=True, default=0)
    slot = fields.StringField()
    applied = fields.ListField(fields.StringField())
    ticks = fields.DictField()
    paused = fields.BooleanField(default=False)
    campaign = fields.StringField()
    language = fields.StringField()
    outbox = fields.ListField(fields.StringField(), default=None)
    """Absent when empty, so that its sparse index holds only the responses with events to hand over."""

    meta: ClassVar[dict[str, Any]] = {
        "collection": "responses",
        "auto_create_index": False,
        # Every query of the message path is served by _id or by one of these, with its filter fields
        # as the index's leading fields (the embedded server plans no other way): tests/integration/
        # test_query_plans.py runs explain on each and fails on a collection scan.
        "indexes": [
            {"fields": ["slot"], "unique": True, "sparse": True},
            {"fields": ["respondent.key", "status", "-updated_at"]},  # find_in_progress
            {"fields": ["respondent.key", "survey_id", "-status", "-updated_at"]},  # find (/start)
            {"fields": ["respondent.key", "applied"]},  # find_by_update (a message without a session)
            {"fields": ["outbox"], "sparse": True},  # with_events (the webhook relay)
            {"fields": ["campaign", "status"], "sparse": True},  # count_campaign
            {"fields": ["survey_id", "status", "started_at"]},  # results, exports, the cap
        ],
    }


def connect_mongo(
    uri: str,
    alias: str = "default",
    timeout_ms: int = 3000,
    write_concern: str = "majority",
    journal: bool = True,
    max_pool_size: int = 32,
    retry_writes: bool = False,
) -> None:
    """Register the connection ``alias`` to ``uri`` (whose path names the database).

    Every write is acknowledged only once ``write_concern`` members have it and, with ``journal``, once
    it is in the journal: what the respondent is told was saved survives a crash of the server.
    """
    mongoengine.connect(
        host=uri,
        alias=alias,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        w=int(write_concern) if write_concern.isdigit() else write_concern,
        journal=journal,
        maxPoolSize=max_pool_size,
        # Every write is conditional on the revision and on its update id, so neither the driver's retry
        # nor the platform's redelivery can apply it twice; retryable writes are on where they are cheap
        # (MongoDB) and off on the embedded server, which pays an O(n) bookkeeping for each.
        retryWrites=retry_writes,
        tz_aware=False,
        uuidRepresentation="standard",
    )


def disconnect_mongo(alias: str = "default") -> None:
    mongoengine.disconnect(alias)


def _field_name(question_id: str) -> str:
    if not _FIELD_NAME.fullmatch(question_id):
        raise ValueError(f"'{question_id}' cannot be stored as a field name")
    return question_id


def _answer_doc(answer: Answer) -> Document:
    value = list(answer.value) if isinstance(answer.value, list) else answer.value
    return {"value": value, "at": answer.at}


def _value(raw: Any) -> AnswerValue:
    if isinstance(raw, bool | str | float) or raw is None:
        return raw
    if isinstance(raw, int):
        return int(raw)  # BSON int64 decodes to bson.Int64
    return [str(item) for item in raw]


def _response(raw: Document) -> Response:
    who = raw["respondent"]
    completed_at = raw.get("completed_at")
    return Response(
        id=raw["_id"],
        survey_id=raw["survey_id"],
        version=int(raw["version"]),
        respondent=Respondent(who["platform"], who["key"], who.get("user_id"), who.get("name")),
        started_at=stored_time(raw["started_at"]),
        updated_at=stored_time(raw["updated_at"]),
        status=Status(raw["status"]),
        answers={
            qid: Answer(_value(answer.get("value")), stored_time(answer["at"]))
            for qid, answer in raw.get("answers", {}).items()
        },
        path=tuple(raw.get("path", ())),
        completed_at=stored_time(completed_at) if completed_at is not None else None,
        one_per_user=bool(raw.get("one_per_user", True)),
        revision=int(raw.get("revision", 0)),
        applied=tuple(raw.get("applied") or ()),
        ticks=_ticks(raw.get("ticks")),
        paused=bool(raw.get("paused", False)),
        outbox=tuple(raw.get("outbox") or ()),
        campaign=raw.get("campaign"),
        language=raw.get("language"),
    )


def _ticks(raw: Any) -> Ticks | None:
    if not raw:
        return None
    return Ticks(str(raw["q"]), tuple(int(i) for i in raw.get("x", ())))


def _ensure_indexes(document: type[mongoengine.Document], collection: Collection[Document]) -> None:
    """What ``Document.ensure_indexes`` does, on the collection of our alias rather than the class's."""
    for spec in document._meta["index_specs"]:
        options = dict(spec)
        collection.create_index(options.pop("fields"), **options)


def insert_new(collection: Collection[Document], raws: list[Document]) -> None:
    """Insert what is not stored yet; a document whose ``_id`` is stored already is left as it is (a
    relay or a planner that ran twice). Any other failure is raised."""
    if not raws:
        return
    try:
        collection.insert_many(raws, ordered=False)
    except BulkWriteError as error:
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise


def claim_due(
    collection: Collection[Document], due: Document, field: str, lease_until: datetime, owner: str, limit: int
) -> list[Document]:
    """Claim up to ``limit`` documents matching ``due``, oldest ``field`` first: one conditional update
    each on its ``_id``, status and the ``field`` it was read with, so of workers claiming at once one
    wins each; the winner's ``field`` becomes the end of its lease. Walks on past documents another
    worker won meanwhile."""
    won = []
    mine = {"$set": {field: lease_until, "owner": owner}}
    with collection.find(due).sort(field, ASCENDING).batch_size(limit * 2) as cursor:
        for raw in cursor:
            fence = {"_id": raw["_id"], "status": raw["status"], field: raw[field]}
            if collection.update_one(fence, mine).modified_count == 1:
                won.append({**raw, field: lease_until, "owner": owner})
                if len(won) == limit:
                    break
    return won


class _MongoStore:
    """Runs each call in ``executor`` (sized like the connection pool, so calls wait for a connection in
    its queue rather than in the driver), or in asyncio's default executor."""

    _document: type[mongoengine.Document]

    def __init__(self, alias: str = "default", executor: Executor | None = None) -> None:
        self.alias = alias
        self._executor = executor

    def _collection(self) -> Collection[Document]:
        collection: Collection[Document] = mongoengine.get_db(self.alias)[
            self._document._get_collection_name()
        ]
        return collection

    async def _run(self, call: Callable[[Collection[Document]], T]) -> T:
        """Run ``call`` with our collection in a worker thread, driver errors turned into ours."""

        def work() -> T:
            return call(self._collection())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except DuplicateKeyError as error:
            keys = set((error.details or {}).get("keyPattern") or {})
            if "slot" in keys or "_id" in keys:
                raise DuplicateResponse(str(error)) from error
            if "version" in keys:
                raise VersionConflict(str(error)) from error
            raise StorageUnavailable(str(error)) from error
        except (ServerSelectionTimeoutError, MongoEngineConnectionFailure) as error:
            # No server could be selected: the request never left, so a write was not applied.
            raise StorageUnavailable(f"MongoDB ({self.alias}): {error}", sent=False) from error
        except PyMongoError as error:
            raise StorageUnavailable(f"MongoDB ({self.alias}): {error}") from error

    async def ensure_indexes(self) -> None:
        await self._run(lambda c: _ensure_indexes(self._document, c))

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless MongoDB answers (the web server's readiness check)."""
        await self._run(lambda c: c.database.command("ping"))


class MongoSurveyStore(_MongoStore):
    _document = SurveyDocument

    def __init__(self, alias: str = "default", executor: Executor | None = None) -> None:
        super().__init__(alias, executor)
        self._parsed: dict[tuple[str, int], Survey] = {}

    def _survey(self, raw: Document) -> Survey:
        """The stored survey, parsed once per id and version (stored versions never change).

        A version stored by an older release that the loader now refuses (a bound it breaks) is
        logged, with its problems, and treated as absent rather than failing every message."""
        key = (raw["survey_id"], int(raw["version"]))
        survey = self._parsed.get(key)
        if survey is None:
            try:
                loaded = load_text(raw["source"], raw["file"])
            except DefinitionError as refused:
                log.error(
                    "stored survey %s version %s no longer loads; it is left out until a fixed version is "
                    "loaded: %s",
                    key[0],
                    key[1],
                    "; ".join(str(p) for p in refused.problems[:5]),
                )
                raise SurveyNotFound(*key) from None
            survey = dataclasses.replace(loaded, version=key[1])
            self._parsed[key] = survey
        return survey

    async def add(self, survey: Survey) -> None:
        if survey.version is None:
            raise ValueError(f"survey '{survey.id}' has no version to store it under")

        def insert(surveys: Collection[Document]) -> None:
            newest = surveys.find_one(
                {"survey_id": survey.id}, {"archived": 1}, sort=[("version", DESCENDING)]
            )
            document = SurveyDocument(
                survey_id=survey.id,
                version=survey.version,
                title=survey.title,
                source=survey.source,
                file=survey.file,
                content_hash=survey.content_hash,
                archived=bool(newest and newest.get("archived")),
                created_at=datetime.now(UTC),
            )
            document.validate()
            surveys.insert_one(document.to_mongo().to_dict())

        await self._run(insert)
        self._parsed[survey.id, survey.version] = survey

    async def get(self, survey_id: str, version: int | None = None) -> Survey:
        if version is not None and (survey_id, version) in self._parsed:
            return self._parsed[survey_id, version]
        query: Document = {"survey_id": survey_id}
        if version is not None:
            query["version"] = version
        # When some version of the survey is parsed already, the newest is likely one of them.
        known = version is None and any(sid == survey_id for sid, _ in self._parsed)
        projection = {"_id": 0, "survey_id": 1, "version": 1} if known else {"_id": 0}

        def fetch(surveys: Collection[Document]) -> Survey | None:
            raw = surveys.find_one(query, projection, sort=[("version", DESCENDING)])
            if raw is None:
                return None
            if (raw["survey_id"], raw["version"]) not in self._parsed and "source" not in raw:
                raw = surveys.find_one({"survey_id": survey_id, "version": raw["version"]})
                if raw is None:
                    return None
            return self._survey(raw)

        survey = await self._run(fetch)
        if survey is None:
            raise SurveyNotFound(survey_id, version)
        return survey

    async def list_newest(self, include_archived: bool = False) -> list[Survey]:
        pipeline: list[Document] = [
            {"$sort": {"survey_id": ASCENDING, "version": DESCENDING}},
            {
                "$group": {
                    "_id": "$survey_id",
                    "version": {"$first": "$version"},
                    "archived": {"$first": "$archived"},
                }
            },
            {"$sort": {"_id": ASCENDING}},
        ]
        if not include_archived:
            pipeline.append({"$match": {"archived": False}})

        def fetch(surveys: Collection[Document]) -> list[Survey]:
            newest = [(row["_id"], int(row["version"])) for row in surveys.aggregate(pipeline)]
            missing = [{"survey_id": sid, "version": v} for sid, v in newest if (sid, v) not in self._parsed]
            if missing:
                for raw in surveys.find({"$or": missing}):
                    with contextlib.suppress(SurveyNotFound):  # logged: refused by today's loader
                        self._survey(raw)
            return [self._parsed[key] for key in newest if key in self._parsed]

        return await self._run(fetch)

    async def set_archived(self, survey_id: str, archived: bool) -> None:
        result = await self._run(
            lambda surveys: surveys.update_many({"survey_id": survey_id}, {"$set": {"archived": archived}})
        )
        if result.matched_count == 0:
            raise SurveyNotFound(survey_id)


class MongoResponseStore(_MongoStore):
    _document = ResponseDocument

    async def create(self, response: Response) -> Response:
        raw = self._raw(response)

        def insert(responses: Collection[Document]) -> None:
            responses.insert_one(raw)

        await self._run(insert)
        return _response(raw)

    async def create_many(self, responses: Iterable[Response], batch: int = 1000) -> int:
        """Store many responses at once, validated like :meth:`create` (imports, benchmarks' seeds);
        how many were stored. Not for the message path: it checks no slot before inserting."""
        raws = [self._raw(response) for response in responses]

        def insert(collection: Collection[Document]) -> None:
            for start in range(0, len(raws), batch):
                collection.insert_many(raws[start : start + batch], ordered=False)

        await self._run(insert)
        return len(raws)

    @staticmethod
    def _raw(response: Response) -> Document:
        document = ResponseDocument(
            id=response.id or str(ObjectId()),
            survey_id=response.survey_id,
            version=response.version,
            respondent=RespondentDocument(**dataclasses.asdict(response.respondent)),
            status=response.status,
            answers={
                _field_name(qid): AnswerDocument(**_answer_doc(a)) for qid, a in response.answers.items()
            },
            path=list(response.path),
            started_at=response.started_at,
            updated_at=response.updated_at,
            completed_at=response.completed_at,
            one_per_user=response.one_per_user,
            revision=response.revision,
            slot=response_slot(response),
            applied=list(response.applied),
            paused=response.paused,
            outbox=list(response.outbox) or None,
            campaign=response.campaign,
            language=response.language,
        )
        document.validate()
        raw: Document = document.to_mongo().to_dict()
        return raw

    async def get(self, response_id: str) -> Response:
        raw = await self._run(lambda responses: responses.find_one({"_id": response_id}))
        if raw is None:
            raise NotFound(f"no response '{response_id}'")
        return _response(raw)

    async def find(self, survey_id: str, respondent_key: str) -> Response | None:
        # "in_progress" sorts after "completed": descending puts the one in progress first.
        raw = await self._run(
            lambda responses: responses.find_one(
                {"survey_id": survey_id, "respondent.key": respondent_key},
                sort=[("status", DESCENDING), ("updated_at", DESCENDING)],
            )
        )
        return _response(raw) if raw is not None else None

    async def find_in_progress(self, respondent_key: str) -> Response | None:
        raw = await self._run(
            lambda responses: responses.find_one(
                {"respondent.key": respondent_key, "status": Status.IN_PROGRESS.value},
                sort=[("updated_at", DESCENDING)],
            )
        )
        return _response(raw) if raw is not None else None

    async def find_by_update(self, respondent_key: str, update_id: str) -> Response | None:
        raw = await self._run(
            lambda responses: responses.find_one(
                {"respondent.key": respondent_key, "applied": update_id}, sort=[("updated_at", DESCENDING)]
            )
        )
        return _response(raw) if raw is not None else None

    async def discard(self, response_id: str, revision: int) -> None:
        query: Document = {
            "_id": response_id,
            "status": Status.IN_PROGRESS.value,
            "revision": revision,
            "path": {"$size": 0},
            "$or": [{"answers": {"$exists": False}}, {"answers": {}}],
        }

        def delete(responses: Collection[Document]) -> int:
            return responses.delete_one(query).deleted_count

        if await self._run(delete) == 0:
            raise StaleResponse(
                f"response '{response_id}' is not in progress and empty at revision {revision}"
            )

    async def _update(
        self,
        response_id: str,
        revision: int,
        update: Document | list[Document],
        update_id: str | None = None,
    ) -> Response:
        query: Document = {"_id": response_id, "status": Status.IN_PROGRESS.value, "revision": revision}
        if update_id is not None:
            query["applied"] = {"$ne": update_id}
        if isinstance(update, dict):  # a pipeline (complete) sets these itself
            update.setdefault("$set", {})["updated_at"] = datetime.now(UTC)
            update["$inc"] = {"revision": 1}
            if update_id is not None:
                update.setdefault("$push", {})["applied"] = {"$each": [update_id], "$slice": -APPLIED_KEPT}

        def write(responses: Collection[Document]) -> Document | None:
            # update_one + find_one by _id rather than findAndModify, which the embedded server runs as
            # a collection scan (its cost grew with every response stored); both are served by _id.
            if responses.update_one(query, update).matched_count == 0:
                return None
            return responses.find_one({"_id": response_id})

        raw = await self._run(write)
        if raw is None:
            raise StaleResponse(f"response '{response_id}' is not in progress at revision {revision}")
        return _response(raw)

    async def record(
        self,
        response_id: str,
        revision: int,
        question_id: str,
        answer: Answer | None,
        update_id: str | None = None,
    ) -> Response:
        field = f"answers.{_field_name(question_id)}"
        update: Document = {
            "$set": {"paused": False},
            "$unset": {"ticks": ""},
            "$push": {"path": question_id},
        }
        if answer is None:
            update["$unset"][field] = ""
        else:
            update["$set"][field] = _answer_doc(answer)
        return await self._update(response_id, revision, update, update_id)

    async def rewind(
        self,
        response_id: str,
        revision: int,
        path: tuple[str, ...],
        clear_answers: bool = False,
        update_id: str | None = None,
    ) -> Response:
        changes: Document = {"path": list(path), "paused": False}
        if clear_answers:
            changes["answers"] = {}
        update: Document = {"$set": changes, "$unset": {"ticks": ""}}
        return await self._update(response_id, revision, update, update_id)

    async def mark(
        self,
        response_id: str,
        revision: int,
        ticks: Ticks | None,
        paused: bool,
        update_id: str | None = None,
        language: str | None = None,
    ) -> Response:
        update: Document = {"$set": {"paused": paused}}
        if language is not None:
            update["$set"]["language"] = language
        if ticks is None:
            update["$unset"] = {"ticks": ""}
        else:
            update["$set"]["ticks"] = {"q": _field_name(ticks.question_id), "x": list(ticks.choices)}
        return await self._update(response_id, revision, update, update_id)

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
        # An update pipeline, so that the slot can follow the stored ``one_per_user`` in the same write.
        done = {"$concat": ["$survey_id", "|", "$respondent.key", "|done"]}
        stage = {
            "status": {"$literal": Status.COMPLETED.value},
            "answers": {"$literal": {_field_name(q): _answer_doc(a) for q, a in answers.items()}},
            "completed_at": {"$literal": completed_at},
            "updated_at": {"$literal": completed_at},
            "revision": {"$add": ["$revision", 1]},
            "slot": {"$cond": ["$one_per_user", done, "$$REMOVE"]},
            "ticks": "$$REMOVE",
            "paused": {"$literal": False},
        }
        if last is not None:
            stage["path"] = {"$concatArrays": ["$path", {"$literal": [last]}]}
        if update_id is not None:
            applied = {"$concatArrays": [{"$ifNull": ["$applied", []]}, {"$literal": [update_id]}]}
            stage["applied"] = {"$slice": [applied, -APPLIED_KEPT]}
        if events:
            stage["outbox"] = {"$setUnion": [{"$ifNull": ["$outbox", []]}, {"$literal": list(events)}]}
        return await self._update(response_id, revision, [{"$set": stage}], update_id)

    async def completed_at_least(self, survey_id: str, n: int) -> bool:
        done = {"survey_id": survey_id, "status": Status.COMPLETED.value}
        return await self._run(lambda responses: responses.count_documents(done, limit=n)) >= n

    async def count(self, survey_id: str) -> dict[Status, int]:
        rows = await self._run(
            lambda responses: list(
                responses.aggregate(
                    [{"$match": {"survey_id": survey_id}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
                )
            )
        )
        counts = dict.fromkeys(Status, 0)
        for row in rows:
            counts[Status(row["_id"])] = int(row["n"])
        return counts

    async def list(
        self, survey_id: str, status: Status | None = None, since: datetime | None = None
    ) -> builtins.list[Response]:
        query: Document = {"survey_id": survey_id}
        if status is not None:
            query["status"] = status.value
        if since is not None:
            query["started_at"] = {"$gte": since}
        order = [("started_at", ASCENDING), ("_id", ASCENDING)]
        raws = await self._run(lambda responses: list(responses.find(query).sort(order)))
        return [_response(raw) for raw in raws]

    async def count_campaign(self, campaign_id: str) -> dict[Status, int]:
        pipeline: list[Document] = [
            {"$match": {"campaign": campaign_id}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        rows = await self._run(lambda responses: list(responses.aggregate(pipeline)))
        counts = dict.fromkeys(Status, 0)
        for row in rows:
            counts[Status(row["_id"])] = int(row["n"])
        return counts

    async def with_events(self, limit: int) -> builtins.list[Response]:
        query = {"outbox": {"$in": list(EVENTS)}}
        raws = await self._run(lambda responses: list(responses.find(query).limit(limit)))
        return [_response(raw) for raw in raws]

    async def clear_events(self, response_id: str, events: tuple[str, ...]) -> None:
        left = {"$setDifference": [{"$ifNull": ["$outbox", []]}, {"$literal": list(events)}]}
        pipeline: list[Document] = [
            {"$set": {"outbox": left}},
            {"$set": {"outbox": {"$cond": [{"$eq": [{"$size": "$outbox"}, 0]}, "$$REMOVE", "$outbox"]}}},
        ]
        await self._run(lambda responses: responses.update_one({"_id": response_id}, pipeline))
