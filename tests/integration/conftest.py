"""Integration tests run against the real servers that tests/conftest.py starts for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import redis
    from pymongo.database import Database

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def mongo_db(mongodb_uri: str, mongo_db_name: str) -> Iterator[Database[dict[str, Any]]]:
    """This test's own database through pymongo (dropped by ``mongo_db_name`` afterwards)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000
    )
    with client:
        yield client[mongo_db_name]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's Redis; tests use keys of their own (the server is shared)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()
