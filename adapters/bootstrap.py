"""The one place that wires real adapters to the core (cosmicpython's ``bootstrap.py``).

Nothing happens at import time: callers build what they need with :func:`open_app`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.config import Config, respondent_secret
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.messages import ConversationKey
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
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    probes: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """Readiness checks by store name (``/readyz``): each raises StorageUnavailable when it fails."""

    async def first_delivery(self, platform: str, user_id: str, update_id: str | None) -> bool:
        """False when a platform delivers again an update that was handled already, in any process.

        For what platforms ask of the adapters themselves (admin uploads and commands, mentions); the
        engine does the same for respondents' messages. The update id is remembered as long as those.
        """
        if not update_id:
            return True
        key = ConversationKey(platform, f"{user_id}/admin")
        turn = await self.sessions.begin(key, update_id)
        if turn.duplicate:
            return False
        await self.sessions.commit(key, turn, None, 1)
        return True

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()


async def open_app(config: Config, state_dir: Path = STATE_DIR, alias: str = "default") -> App:
    """Connect to MongoDB and Redis as configured and build the engine on them."""
    from adapters.metrics import record_event
    from adapters.mongo import MongoResponseStore, MongoSurveyStore, connect_mongo, disconnect_mongo
    from adapters.redis_store import RedisSessionStore, redis_from_url

    async def close_mongo() -> None:
        disconnect_mongo(alias)

    connect_mongo(config.mongodb.uri, alias=alias, timeout_ms=config.mongodb.timeout_ms)
    surveys = MongoSurveyStore(alias)
    responses = MongoResponseStore(alias)
    sessions = RedisSessionStore(
        redis_from_url(config.redis.url),
        wait_s=config.redis.lock_wait_seconds,
        dedupe_ttl_s=config.redis.dedupe_ttl,
    )
    try:
        await surveys.ensure_indexes()
        await responses.ensure_indexes()
    except BaseException:
        await sessions.aclose()
        await close_mongo()
        raise
    cache = SurveyCache(surveys)
    engine = Engine(cache, responses, sessions, respondent_secret(config, state_dir), events=record_event)
    probes: dict[str, Callable[[], Awaitable[None]]] = {"mongodb": surveys.ping, "redis": sessions.ping}
    return App(config, surveys, responses, sessions, cache, engine, [close_mongo, sessions.aclose], probes)
