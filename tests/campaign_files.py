"""Campaigns (and their survey) for tests that run on the real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.bootstrap import App
from adapters.campaigns import store_campaign

PULSE = """\
id: pulse
title: Team pulse
settings: {one_response_per_user: false}
questions:
  - {id: mood, type: rating, text: "How was your week?", min: 1, max: 5}
"""
"""The one-question survey the campaign tests (and bench/campaigns.py) invite people to."""


async def store_due_now(
    app: App, campaign_id: str, audience: str, extra: str = "", survey: str = "pulse"
) -> str:
    """Store a campaign of ``survey`` whose one occurrence came a minute ago, as if it had been loaded
    five minutes before: the next planning pass plans it, and its invitations are due at once.
    ``audience`` is the YAML of its audience; returns the occurrence's key (``YYYY-MM-DDTHH:MM``)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    at = (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    text = (
        f"campaign: {campaign_id}\nsurvey: {survey}\naudience: {audience}\n"
        f"schedule: {{at: '{at}', timezone: UTC}}\n{extra}"
    )
    await store_campaign(app.campaigns, app.cache, text, f"{campaign_id}.yaml", now - timedelta(minutes=5))
    return at.replace(" ", "T")
