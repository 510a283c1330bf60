"""Settings: ``config.yaml`` for defaults, the environment for overrides and for every secret."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from bot.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MongoSettings(_Section):
    uri: str = "mongodb://127.0.0.1:27117/surveybot"
    timeout_ms: int = Field(2000, gt=0)
    """Connecting, selecting a server and each call; below ``engine.message_deadline``, so that an
    unreachable server is reported as such before the message's time runs out."""
    write_concern: str = Field("majority", pattern=r"^(majority|[0-9]+)$")
    """``w`` of every write: acknowledged by a majority of the replica set (or by N members)."""
    journal: bool = True
    """``j`` of every write: acknowledged only once it is in the journal, so that it survives a crash."""
    max_pool_size: int = Field(32, ge=1, le=1000)
    """Connections to MongoDB, and threads running its calls; further calls wait for one."""
    retry_writes: bool = True
    """The driver's retryable writes: on for MongoDB (its default); config.yaml turns them off for the
    embedded server, which pays for their bookkeeping on every write (see docs/operations.md)."""


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6479/0"
    lock_wait_seconds: float = Field(5.0, gt=0)
    lock_ttl_ms: int = Field(6000, ge=1000)
    """The respondent's lock lasts this long should its holder die; keep it above ``message_deadline``."""
    dedupe_ttl: int = Field(172800, ge=86400)
    max_connections: int = Field(200, ge=1, le=100_000)
    """Connections to Redis; further calls wait (up to ``message_deadline``) for one."""


class EngineSettings(_Section):
    message_deadline: float = Field(3.0, gt=0, le=60)
    """Seconds to handle one message: past it, the respondent hears "try again" (or, when a write may
    have landed, that it could not be confirmed)."""


class SurveySettings(_Section):
    folder: Path = Path("surveys")


class AdminSettings(_Section):
    telegram: list[str] = []
    slack: list[str] = []


class EmbeddedSettings(_Section):
    mongo_port: int = Field(27117, gt=0, lt=65536)
    redis_port: int = Field(6479, gt=0, lt=65536)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    respondent_ids_per_hour: int = Field(30, gt=0)
    """New web chat respondent ids one client address may get in an hour (all workers together)."""
    messages_per_minute: int = Field(60, gt=0)
    """Frames one web chat connection may send in a minute, after a burst of ``message_burst``."""
    message_burst: int = Field(20, gt=0)
    public_url: str | None = None
    """Where people reach the web chat (``SURVEYBOT_PUBLIC_URL``), for the links campaigns share;
    unset: ``http://HOST:PORT``."""

    @property
    def base_url(self) -> str:
        """``public_url``, else the address the server listens on."""
        return self.public_url or f"http://{self.host}:{self.port}"


class TelegramSettings(_Section):
    api_base_url: str = "https://api.telegram.org"
    webhook_url: str | None = None
    bot_token: SecretStr | None = None


class SlackSettings(_Section):
    api_url: str = "https://slack.com/api/"
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None


class WebhookSettings(_Section):
    """How survey webhooks are delivered (docs/webhooks.md)."""

    timeout_seconds: float = Field(10.0, gt=0, le=60)
    """One POST's time to answer."""
    lease_seconds: float = Field(60.0, gt=0)
    """How long a worker holds a delivery it attempts; another worker sends it again after that (the
    first presumably died). Keep it well above ``timeout_seconds``."""
    max_attempts: int = Field(15, ge=1, le=100)
    backoff_seconds: float = Field(10.0, gt=0)
    """The wait after the first failed attempt; it doubles with each one, up to ``max_backoff_seconds``."""
    max_backoff_seconds: float = Field(3600.0, gt=0)
    allow_private_targets: bool = False
    """Allow endpoints on private, loopback or link-local addresses (development, tests). Off: a survey
    file cannot make the bot call into its own network."""

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> WebhookSettings:
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must be above timeout_seconds ({self.timeout_seconds})"
            )
        return self


class CampaignSettings(_Section):
    """How fast campaign invitations and reminders go out, all workers together (docs/campaigns.md)."""

    telegram_per_second: float = Field(25.0, gt=0, le=30)
    """Telegram allows about 30 messages a second to different users."""
    slack_per_second: float = Field(1.0, gt=0, le=10)
    """Slack's chat.postMessage allows about one a second per workspace before it answers 429."""
    burst: int = Field(5, ge=1, le=100)
    lease_seconds: float = Field(60.0, ge=2, le=3600)
    """How long a worker holds an invitation it sends; a worker killed before its platform call is
    replaced after this."""


class Config(_Section):
    mongodb: MongoSettings = MongoSettings()
    redis: RedisSettings = RedisSettings()
    engine: EngineSettings = EngineSettings()
    surveys: SurveySettings = SurveySettings()
    admins: AdminSettings = AdminSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    web: WebSettings = WebSettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    webhooks: WebhookSettings = WebhookSettings()
    campaigns: CampaignSettings = CampaignSettings()
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    admin_api_token: SecretStr | None = None
    respondent_secret: SecretStr | None = None
    external_services: bool = False
    """True when MONGODB_URI or REDIS_URL came from the environment: then nothing embedded is started."""

    @model_validator(mode="after")
    def _lock_outlasts_a_message(self) -> Config:
        if self.redis.lock_ttl_ms < self.engine.message_deadline * 1000:
            raise ValueError(
                f"redis.lock_ttl_ms ({self.redis.lock_ttl_ms}) must be at least engine.message_deadline "
                f"({self.engine.message_deadline} s) in milliseconds"
            )
        return self

    @model_validator(mode="after")
    def _admin_token_is_not_guessable(self) -> Config:
        token = self.admin_api_token.get_secret_value().strip() if self.admin_api_token else ""
        if token and len(token) < MIN_ADMIN_TOKEN:
            raise ValueError(
                f"ADMIN_API_TOKEN must be at least {MIN_ADMIN_TOKEN} characters (it has {len(token)}); "
                "make one with `openssl rand -hex 32`"
            )
        return self


MIN_ADMIN_TOKEN = 24
"""Characters of the admin API's bearer token at least: 1 character was accepted."""

ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "MONGODB_URI": ("mongodb", "uri"),
    "MONGODB_RETRY_WRITES": ("mongodb", "retry_writes"),
    "REDIS_URL": ("redis", "url"),
    "SURVEYBOT_HOST": ("web", "host"),
    "SURVEYBOT_PORT": ("web", "port"),
    "SURVEYBOT_PUBLIC_URL": ("web", "public_url"),
    "SURVEYBOT_LOG_LEVEL": ("log_level",),
    "TELEGRAM_API_BASE_URL": ("telegram", "api_base_url"),
    "TELEGRAM_WEBHOOK_URL": ("telegram", "webhook_url"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "SLACK_API_URL": ("slack", "api_url"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "ADMIN_API_TOKEN": ("admin_api_token",),
    "SURVEYBOT_SECRET": ("respondent_secret",),
    "WEBHOOKS_ALLOW_PRIVATE_TARGETS": ("webhooks", "allow_private_targets"),
}
"""Environment variable → config key it overrides."""

SECRET_KEYS = {path for name, path in ENVIRONMENT.items() if "TOKEN" in name or "SECRET" in name}


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (default ``$SURVEYBOT_CONFIG`` or ``./config.yaml``; a missing default file means
    built-in defaults), apply the environment, and validate. Raises :class:`ConfigError` naming the key.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "SURVEYBOT_CONFIG" in env
    file = Path(path if path is not None else env.get("SURVEYBOT_CONFIG", "config.yaml"))
    data: dict[str, Any] = {}
    if file.exists():
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        data = loaded or {}
    elif explicit:
        raise ConfigError(f"{file}: no such configuration file")
    for keys in SECRET_KEYS:
        if _lookup(data, keys) is not None:
            env_name = next(n for n, p in ENVIRONMENT.items() if p == keys)
            raise ConfigError(
                f"{file}: {'.'.join(keys)}: secrets are read only from the environment; set {env_name}"
            )
    for name, keys in ENVIRONMENT.items():
        if env.get(name):
            _assign(data, keys, env[name])
    data["external_services"] = bool(env.get("MONGODB_URI") or env.get("REDIS_URL"))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{file}: {key}: {message}" if key else f"{file}: {message}") from exc


def respondent_secret(config: Config, state_dir: Path) -> bytes:
    """The key that turns platform user ids into respondent keys. ``SURVEYBOT_SECRET`` in production;
    otherwise one generated once and kept in ``state_dir``, so keys stay stable across restarts."""
    if config.respondent_secret is not None:
        return config.respondent_secret.get_secret_value().encode()
    file = state_dir / "respondent-secret"
    try:
        if not file.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            file.write_text(secrets.token_hex(32), encoding="ascii")
            file.chmod(0o600)
        return file.read_text(encoding="ascii").strip().encode()
    except OSError as exc:
        raise ConfigError(
            f"SURVEYBOT_SECRET is not set and {file} cannot be kept ({exc.strerror}); set SURVEYBOT_SECRET"
        ) from exc


def _lookup(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _assign(data: dict[str, Any], keys: tuple[str, ...], value: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value
