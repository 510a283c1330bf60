"""Shared fixtures: one MongoDB-protocol server and one Redis for the whole test session.

Unit tests never ask for them, so they start nothing. With both ``MONGODB_URI`` and ``REDIS_URL`` set,
the session uses those servers instead of starting its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from devtools.services import EmbeddedServices

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceUrls:
    mongodb_uri: str
    redis_url: str
    embedded: bool


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceUrls]:
    mongodb_uri = os.environ.get("MONGODB_URI")
    redis_url = os.environ.get("REDIS_URL")
    if mongodb_uri and redis_url:
        yield ServiceUrls(mongodb_uri, redis_url, embedded=False)
        return
    embedded = EmbeddedServices(PROJECT_ROOT, persistent=False)
    embedded.start()  # cleans up after itself if it fails
    try:
        yield ServiceUrls(embedded.mongodb_uri, embedded.redis_url, embedded=True)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def mongodb_uri(services: ServiceUrls) -> str:
    return services.mongodb_uri


@pytest.fixture(scope="session")
def redis_url(services: ServiceUrls) -> str:
    return services.redis_url


@pytest.fixture
def mongo_db_name(mongodb_uri: str) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    import pymongo

    name = f"surveybot_test_{uuid.uuid4().hex[:8]}"
    yield name
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000
    )
    with client:
        client.drop_database(name)


@pytest.fixture
def mongodb_test_uri(mongodb_uri: str, mongo_db_name: str) -> str:
    """``mongodb_uri`` pointing at this test's database (the URI's database wins over a ``db=`` argument)."""
    parts = urlsplit(mongodb_uri)
    return urlunsplit(parts._replace(path=f"/{mongo_db_name}"))
