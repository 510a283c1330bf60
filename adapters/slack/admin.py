"""Admin work from Slack, mapped to :class:`adapters.survey_admin.SurveyAdmin`: a survey file shared in the
direct message is downloaded (from Slack's own file hosts only) and loaded like ``surveybot load``;
``/survey-admin results SURVEY_ID`` posts the summary and its charts."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import MAX_MESSAGE_BLOCKS, code_blocks, escape, text_blocks
from adapters.survey_admin import MAX_UPLOAD_BYTES, AdminReply, SurveyAdmin

log = logging.getLogger("surveybot.slack")


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


async def show(client: AsyncWebClient, channel: str, reply: AdminReply) -> None:
    """An admin's answer: its text, its detail preformatted, then its charts as PNG files."""
    await post(client, channel, reply.text, reply.detail)
    if reply.charts:
        await client.files_upload_v2(
            channel=channel,
            file_uploads=[
                {"file": c.png, "filename": f"{c.name}.png", "title": c.title} for c in reply.charts
            ],
        )


async def load_upload(
    admin: SurveyAdmin, client: AsyncWebClient, token: str, channel: str, user_id: str, file_id: str
) -> None:
    """Download a file shared in the DM and have it loaded, answering in ``channel``."""
    info = (await client.files_info(file=file_id)).get("file") or {}
    name = info.get("name") or file_id
    refusal = admin.refuse_upload(user_id, name, int(info.get("size") or 0))
    if refusal is not None:
        await show(client, channel, refusal)
        return
    url = info.get("url_private_download") or info.get("url_private") or ""
    data: bytes | None = None
    try:
        if not trusted_file_url(url, client.base_url):
            raise FileUnreadable(f"not a Slack file address: {url!r}")
        data = await download(url, token)
    except FileUnreadable as exc:
        log.warning("could not download the uploaded file %s: %s", file_id, exc)
    await show(client, channel, await admin.load(name, data))
