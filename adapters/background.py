"""The loop every worker's background work runs in (webhook deliveries, campaigns)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.errors import StorageUnavailable


async def repeat(
    stop: asyncio.Event, step: Callable[[], Awaitable[bool]], log: logging.Logger, poll_s: float = 1.0
) -> None:
    """Run ``step`` until ``stop`` is set: at once again while it reports work done, else after
    ``poll_s``. A store outage is waited out and logged; any other failure is logged and the loop goes
    on (one bad record must not stop a worker's deliveries)."""
    while not stop.is_set():
        busy = False
        try:
            busy = await step()
        except StorageUnavailable as exc:
            log.warning("paused: %s", exc)
        except Exception:
            log.exception("unexpected error; going on")
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
