"""Settings: config.yaml defaults, environment overrides, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import load_config, respondent_secret
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_config_loads_with_the_embedded_defaults() -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.mongodb.uri == "mongodb://127.0.0.1:27117/surveybot"
    assert config.redis.url == "redis://127.0.0.1:6479/0"
    assert config.external_services is False
    assert config.telegram.bot_token is None


def test_the_environment_overrides_and_brings_secrets() -> None:
    config = load_config(
        ROOT / "config.yaml",
        environ={"MONGODB_URI": "mongodb://db/x", "SURVEYBOT_PORT": "9000", "TELEGRAM_BOT_TOKEN": "123:abc"},
    )
    assert config.mongodb.uri == "mongodb://db/x"
    assert config.web.port == 9000
    assert config.external_services is True
    assert config.telegram.bot_token is not None and config.telegram.bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(config)


def test_a_bad_value_names_its_key(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("redis:\n  dedupe_ttl: 60\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.yaml: redis\.dedupe_ttl: "):
        load_config(file, environ={})
    with pytest.raises(ConfigError, match=r"web\.port: "):
        load_config(ROOT / "config.yaml", environ={"SURVEYBOT_PORT": "x"})


def test_unknown_keys_and_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("web:\n  hots: 0.0.0.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web\.hots: Extra inputs"):
        load_config(file, environ={})
    file.write_text("telegram:\n  bot_token: '123:abc'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="set TELEGRAM_BOT_TOKEN"):
        load_config(file, environ={})


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml", environ={})


def test_the_respondent_secret_is_kept_stable(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    first = respondent_secret(config, tmp_path)
    assert first == respondent_secret(config, tmp_path) and len(first) == 64
    assert (tmp_path / "respondent-secret").stat().st_mode & 0o077 == 0
    from_env = load_config(ROOT / "config.yaml", environ={"SURVEYBOT_SECRET": "s3cret"})
    assert respondent_secret(from_env, tmp_path) == b"s3cret"


def test_without_a_secret_and_nowhere_to_keep_one_start_up_says_what_to_set(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("", encoding="utf-8")
    config = load_config(ROOT / "config.yaml", environ={})
    with pytest.raises(ConfigError, match="set SURVEYBOT_SECRET"):
        respondent_secret(config, blocked / "var")


def test_reliability_settings_and_their_defaults(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    assert (config.mongodb.write_concern, config.mongodb.journal) == ("majority", True)
    assert config.mongodb.timeout_ms < config.engine.message_deadline * 1000 <= config.redis.lock_ttl_ms
    file = tmp_path / "config.yaml"
    file.write_text("engine:\n  message_deadline: 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.yaml: redis\.lock_ttl_ms \(6000\) must be at least"):
        load_config(file, environ={})
    file.write_text("mongodb:\n  write_concern: all\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mongodb\.write_concern: "):
        load_config(file, environ={})


def test_retryable_writes_are_off_for_the_embedded_server_and_on_for_mongodb() -> None:
    assert load_config(ROOT / "config.yaml", environ={}).mongodb.retry_writes is False
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "MONGODB_RETRY_WRITES=true" in compose
    assert load_config(ROOT / "config.yaml", environ={"MONGODB_RETRY_WRITES": "true"}).mongodb.retry_writes
