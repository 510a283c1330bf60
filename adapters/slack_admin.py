"""Admin work from Slack: a survey file uploaded in the direct message is validated and loaded like
``surveybot load``; ``/survey-admin results SURVEY_ID`` posts the summary and its charts."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_blocks import MAX_MESSAGE_BLOCKS, code_blocks, escape, text_blocks
from bot.catalog import publish_upload
from bot.errors import DefinitionError, SurveyNotFound, VersionConflict

if TYPE_CHECKING:
    from adapters.bootstrap import App

log = logging.getLogger("surveybot.slack")

MAX_UPLOAD_BYTES = 512 * 1024
SURVEY_SUFFIXES = (".yaml", ".yml")


class FileUnreadable(Exception):
    """An uploaded file could not be downloaded from Slack."""


async def post(client: AsyncWebClient, channel: str, text: str, code: str = "") -> None:
    """A plain message, with ``code`` (problems, a summary) shown preformatted below it."""
    blocks = text_blocks(text, 1)
    if code:
        blocks += code_blocks(code, MAX_MESSAGE_BLOCKS - len(blocks))
    await client.chat_postMessage(channel=channel, text=escape(text), blocks=blocks)


def trusted_file_url(url: str, api_url: str) -> bool:
    """Only Slack's own file hosts (or the Web API's host, for a test double) get the bot token."""
    target, api = urlsplit(url), urlsplit(api_url)
    if target.scheme in ("http", "https") and (target.scheme, target.netloc) == (api.scheme, api.netloc):
        return True
    host = target.hostname or ""
    return target.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))


async def download(url: str, token: str) -> bytes:
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as got,
        ):
            if got.status != 200 or got.content_type == "text/html":
                raise FileUnreadable(f"HTTP {got.status} ({got.content_type})")
            return await got.content.read(MAX_UPLOAD_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FileUnreadable(str(exc)) from exc


async def load_upload(app: App, client: AsyncWebClient, token: str, channel: str, file_id: str) -> None:
    """Validate an admin's uploaded survey file and store a new version of it, answering in ``channel``."""
    info = (await client.files_info(file=file_id)).get("file") or {}
    name = info.get("name") or file_id
    if not name.lower().endswith(SURVEY_SUFFIXES):
        await post(
            client, channel, f"I load surveys from .yaml files; “{name}” is not one, so I left it alone."
        )
        return
    if int(info.get("size") or 0) > MAX_UPLOAD_BYTES:
        await post(client, channel, f"“{name}” is larger than {MAX_UPLOAD_BYTES // 1024} KB; not loaded.")
        return
    url = info.get("url_private_download") or info.get("url_private") or ""
    try:
        if not trusted_file_url(url, client.base_url):
            raise FileUnreadable(f"not a Slack file address: {url!r}")
        data = await download(url, token)
    except FileUnreadable as exc:
        log.warning("could not download the uploaded file %s: %s", file_id, exc)
        await post(client, channel, f"I could not download “{name}” from Slack; please try again.")
        return
    if len(data) > MAX_UPLOAD_BYTES:
        await post(client, channel, f"“{name}” is larger than {MAX_UPLOAD_BYTES // 1024} KB; not loaded.")
        return
    try:
        published = await publish_upload(app.surveys, app.cache, data, name)
    except DefinitionError as exc:
        count = len(exc.problems)
        heading = f"“{name}” was not loaded: {count} problem{'s' if count != 1 else ''}."
        await post(client, channel, heading, "\n".join(str(p) for p in exc.problems))
        return
    except VersionConflict as exc:
        await post(client, channel, f"“{name}” was not loaded.", str(exc))
        return
    stored = published.survey
    verb = "Stored" if published.stored else "Unchanged:"
    log.info("survey %s version %s loaded from Slack (%s)", stored.id, stored.version, verb)
    await post(
        client,
        channel,
        f"{verb} survey `{stored.id}` version {stored.version}, “{stored.title}”, "
        f"{len(stored.questions)} questions. Respondents can take it now.",
    )


async def post_results(app: App, client: AsyncWebClient, channel: str, survey_id: str) -> None:
    """The summary of a survey's responses as text, then its charts as PNG files."""
    from adapters.charts import render_charts
    from bot.results import summarize, summary_text

    try:
        summary = await summarize(app.cache, app.responses, survey_id)
    except SurveyNotFound:
        await post(client, channel, f"There is no survey called “{survey_id}”.")
        return
    await post(client, channel, f"Results of `{survey_id}`:", summary_text(summary))
    charts = await asyncio.to_thread(render_charts, summary)
    if charts:
        await client.files_upload_v2(
            channel=channel,
            file_uploads=[{"file": c.png, "filename": f"{c.name}.png", "title": c.title} for c in charts],
        )
