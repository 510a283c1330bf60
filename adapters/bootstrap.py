"""The one place that wires real adapters to the core (cosmicpython's ``bootstrap.py``).

Nothing happens at import time: callers build what they need with :func:`open_app`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from adapters.config import Config, respondent_secret
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.ports import ResponseStore, SessionStore, SurveyStore

STATE_DIR = Path("var")


@dataclass
class App:
    """The wired product: stores, the survey cache and the engine, and how to close them."""

    config: Config
    surveys: SurveyStore
    responses: ResponseStore
    sessions: SessionStore
    cache: SurveyCache
    engine: Engine
    _redis: object
    _mongo_alias: str

    async def aclose(self) -> None:
        from adapters.mongo import disconnect_mongo

        await self._redis.aclose()  # type: ignore[attr-defined]
        disconnect_mongo(self._mongo_alias)


async def open_app(config: Config, state_dir: Path = STATE_DIR, alias: str = "default") -> App:
    """Connect to MongoDB and Redis as configured and build the engine on them."""
    from adapters.mongo import MongoResponseStore, MongoSurveyStore, connect_mongo
    from adapters.redis_store import RedisSessionStore, redis_from_url

    logging.getLogger("surveybot").debug("connecting to the stores")
    connect_mongo(config.mongodb.uri, alias=alias, timeout_ms=config.mongodb.timeout_ms)
    surveys = MongoSurveyStore(alias)
    responses = MongoResponseStore(alias)
    await surveys.ensure_indexes()
    await responses.ensure_indexes()
    client = redis_from_url(config.redis.url)
    sessions = RedisSessionStore(
        client, wait_s=config.redis.lock_wait_seconds, dedupe_ttl_s=config.redis.dedupe_ttl
    )
    cache = SurveyCache(surveys)
    engine = Engine(cache, responses, sessions, respondent_secret(config, state_dir))
    return App(config, surveys, responses, sessions, cache, engine, client, alias)
