"""The engine over in-memory ports, for the unit tests of what the engine does across chats and languages."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.stores.memory import (
    InMemoryLinkStore,
    InMemoryResponseStore,
    InMemorySessionStore,
    InMemorySurveyStore,
)
from bot.catalog import SurveyCache
from bot.engine import Engine
from bot.messages import Kind, Outgoing
from bot.responses import Response, respondent_key

SECRET = b"test-secret"


@dataclass
class EngineStores:
    """An engine and the in-memory stores it is given (links included)."""

    surveys: InMemorySurveyStore = field(default_factory=InMemorySurveyStore)
    responses: InMemoryResponseStore = field(default_factory=InMemoryResponseStore)
    sessions: InMemorySessionStore = field(default_factory=InMemorySessionStore)
    links: InMemoryLinkStore = field(default_factory=InMemoryLinkStore)

    def __post_init__(self) -> None:
        cache = SurveyCache(self.surveys, newest_ttl=0)
        self.engine = Engine(cache, self.responses, self.sessions, SECRET, links=self.links)

    async def response(self, survey_id: str, user: str = "u1", platform: str = "test") -> Response:
        found = await self.responses.find(survey_id, respondent_key(SECRET, platform, user))
        assert found is not None
        return found


def question(out: list[Outgoing]) -> Outgoing:
    """The one question among ``out``."""
    (asked,) = [m for m in out if m.kind is Kind.QUESTION]
    return asked
