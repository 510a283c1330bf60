"""What a platform adapter offers the runner: its own module, so that the runner imports the adapters and
the adapters import nothing of the runner (no import circle)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Platform:
    """One platform adapter as the runner sees it.

    ``start``/``stop`` run its background work (long polling, a Socket Mode connection); ``mount`` adds
    its HTTP endpoints (a webhook, the Slack Events API) to the web application, which is a FastAPI app.
    """

    name: str
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    mount: Callable[[Any], None] | None = None
    details: dict[str, str] = field(default_factory=dict)
    post: Callable[[str, str], Awaitable[None]] | None = None
    """Posts text to a chat (a survey's broadcast of completed responses); raises
    :class:`adapters.webhooks.PostFailed`."""
    reach: Any = None
    """Lists a campaign's people and invites them (an :class:`adapters.campaigns.Reach`)."""
