"""The one place that wires real adapters to the core (cosmicpython's ``bootstrap.py``).

Nothing happens at import time: callers build what they need with :func:`open_app`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from adapters.campaigns import Campaigns, CampaignStore, InvitationStore, MemoryRate, Rate, Reach, RedisRate
from adapters.config import Config, respondent_secret
from adapters.stores.memory import (
    InMemoryCampaignStore,
    InMemoryContactStore,
    InMemoryDeliveryStore,
    InMemoryInvitationStore,
    InMemoryLinkStore,
    InMemoryOptOutStore,
)
from adapters.web.identity import web_key
from adapters.web.limits import Limiter, MemoryLimiter, RedisLimiter
from adapters.webhooks import DeliveryStore, Policy, Poster, Webhooks, webhook_key
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.messages import ConversationKey
from bot.ports import ContactStore, LinkStore, OptOutStore, ResponseStore, SessionStore, SurveyStore

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
    web_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Signs the web chat's respondent ids (derived from SURVEYBOT_SECRET by :func:`open_app`)."""
    limiter: Limiter = field(default_factory=MemoryLimiter)
    """Rate limits of the web edge (Redis-backed, across workers, by :func:`open_app`)."""
    deliveries: DeliveryStore = field(default_factory=InMemoryDeliveryStore)
    """Webhook deliveries (MongoDB, by :func:`open_app`)."""
    webhook_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Derives each webhook endpoint's signing secret (from SURVEYBOT_SECRET, by :func:`open_app`)."""
    campaigns: CampaignStore = field(default_factory=InMemoryCampaignStore)
    invitations: InvitationStore = field(default_factory=InMemoryInvitationStore)
    opt_outs: OptOutStore = field(default_factory=InMemoryOptOutStore)
    contacts: ContactStore = field(default_factory=InMemoryContactStore)
    """People who joined a list by a link, for campaigns' ``telegram_tags``."""
    links: LinkStore = field(default_factory=InMemoryLinkStore)
    """Cross-channel link codes (Redis) and aliases (MongoDB), by :func:`open_app`: docs/linking.md."""
    rate: Rate | None = None
    """Campaign sends' budget (in Redis, shared by every worker, by :func:`open_app`)."""

    def campaign_runner(
        self,
        reach: Mapping[str, Reach],
        *,
        rate: Rate | None = None,
        clock: Callable[[], datetime] | None = None,
        batch: int = 20,
    ) -> Campaigns:
        """Campaign planning and sending on these stores, through the platforms' ``reach``, within the
        shared send budget (``rate`` and ``clock``: another budget, a simulated clock, for tests)."""
        settings = self.config.campaigns
        per_second = {"telegram": settings.telegram_per_second, "slack": settings.slack_per_second}
        rate = rate or self.rate or MemoryRate(per_second, settings.burst)
        return Campaigns(
            self.campaigns,
            self.invitations,
            self.responses,
            self.opt_outs,
            self.cache,
            self.engine.respondent_key,
            reach,
            rate,
            clock=clock or (lambda: datetime.now(UTC)),
            lease=timedelta(seconds=settings.lease_seconds),
            batch=batch,
        )

    def webhooks(
        self, client: httpx.AsyncClient | None = None, posters: Mapping[str, Poster] | None = None
    ) -> Webhooks:
        """The webhook relay and deliverer on these stores, as configured; ``posters`` post broadcasts
        (each configured platform's)."""
        settings = self.config.webhooks
        policy = Policy(
            timeout_s=settings.timeout_seconds,
            lease_s=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            backoff_s=settings.backoff_seconds,
            max_backoff_s=settings.max_backoff_seconds,
            allow_private_targets=settings.allow_private_targets,
        )
        return Webhooks(
            self.responses, self.cache, self.deliveries, self.webhook_key, policy, client, posters=posters
        )

    @contextlib.asynccontextmanager
    async def once(self, platform: str, user_id: str, update_id: str | None) -> AsyncIterator[bool]:
        """``async with app.once(...) as first:`` do the work only when ``first``: False when a platform
        delivers again an update that was handled already, in any process.

        For what platforms ask of the adapters themselves (admin uploads and commands, mentions); the
        engine does the same for respondents' messages. The update is marked handled once the work is
        done, as the engine marks its messages: should the work fail or the process die, the
        redelivery is handled, not ignored. A second delivery while the first is at work waits for it.
        """
        if not update_id:
            yield True
            return
        key = ConversationKey(platform, f"{user_id}/admin")
        turn = await self.sessions.begin(key, update_id)
        if turn.duplicate:
            yield False
            return
        try:
            yield True
        except BaseException:
            await self.sessions.abort(key, turn)
            raise
        await self.sessions.commit(key, turn, None, 1, update_id)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()


async def open_app(config: Config, state_dir: Path = STATE_DIR, alias: str = "default") -> App:
    """Connect to MongoDB and Redis as configured and build the engine on them."""
    from adapters.metrics import record_event
    from adapters.stores.campaigns import (
        MongoCampaignStore,
        MongoContactStore,
        MongoInvitationStore,
        MongoOptOutStore,
    )
    from adapters.stores.deliveries import MongoDeliveryStore
    from adapters.stores.links import RedisMongoLinkStore
    from adapters.stores.mongo import MongoResponseStore, MongoSurveyStore, connect_mongo, disconnect_mongo
    from adapters.stores.redis_store import RedisSessionStore, key_secret, redis_from_url

    mongo = config.mongodb
    executor = ThreadPoolExecutor(max_workers=mongo.max_pool_size, thread_name_prefix="mongodb")

    async def close_mongo() -> None:
        disconnect_mongo(alias)
        executor.shutdown(wait=False, cancel_futures=True)

    connect_mongo(
        mongo.uri,
        alias=alias,
        timeout_ms=mongo.timeout_ms,
        write_concern=mongo.write_concern,
        journal=mongo.journal,
        max_pool_size=mongo.max_pool_size,
        retry_writes=mongo.retry_writes,
    )
    surveys = MongoSurveyStore(alias, executor)
    responses = MongoResponseStore(alias, executor)
    deliveries = MongoDeliveryStore(alias, executor)
    campaigns = MongoCampaignStore(alias, executor)
    invitations = MongoInvitationStore(alias, executor)
    opt_outs = MongoOptOutStore(alias, executor)
    contacts = MongoContactStore(alias, executor)
    deadline = config.engine.message_deadline
    secret = respondent_secret(config, state_dir)
    keys = key_secret(secret)  # names Redis keys (sessions, rate limits) without platform ids
    sessions = RedisSessionStore(
        redis_from_url(config.redis.url, config.redis.max_connections, pool_wait_s=deadline),
        lock_ttl_ms=config.redis.lock_ttl_ms,
        wait_s=min(config.redis.lock_wait_seconds, deadline),
        dedupe_ttl_s=config.redis.dedupe_ttl,
        key_secret=keys,
    )
    links = RedisMongoLinkStore.on(sessions.client, alias, executor)
    try:
        await surveys.ensure_indexes()
        await responses.ensure_indexes()
        for store in (deliveries, campaigns, invitations, opt_outs, contacts, links):
            await store.ensure_indexes()
    except BaseException:
        await sessions.aclose()
        await close_mongo()
        raise
    cache = SurveyCache(surveys)
    engine = Engine(
        cache,
        responses,
        sessions,
        secret,
        events=record_event,
        deadline=deadline,
        opt_outs=opt_outs,
        contacts=contacts,
        links=links,
    )
    probes: dict[str, Callable[[], Awaitable[None]]] = {"mongodb": surveys.ping, "redis": sessions.ping}
    return App(
        config,
        surveys,
        responses,
        sessions,
        cache,
        engine,
        [close_mongo, sessions.aclose],
        probes,
        web_key=web_key(secret),
        limiter=RedisLimiter(sessions.client, keys),
        deliveries=deliveries,
        webhook_key=webhook_key(secret),
        campaigns=campaigns,
        invitations=invitations,
        opt_outs=opt_outs,
        contacts=contacts,
        links=links,
        rate=RedisRate(
            sessions.client,
            {"telegram": config.campaigns.telegram_per_second, "slack": config.campaigns.slack_per_second},
            config.campaigns.burst,
        ),
    )
