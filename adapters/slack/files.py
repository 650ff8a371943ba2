"""Fetching an image shared in Slack again, for a request that re-sends it once its bytes
are no longer in memory (``bot.ports.ImageSource``): its ``url_private`` with the bot token,
or — for a reference stored without one — the address ``files.info`` gives."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.files import GONE, FileReader
from adapters.slack.sink import SLACK_ERRORS, error_code
from bot.config import FileSettings
from bot.types import Image

log = logging.getLogger(__name__)


class SlackImages:
    def __init__(self, client: AsyncWebClient, reader: FileReader, settings: FileSettings) -> None:
        self.client = client
        self.reader = reader
        self.seconds = settings.file_seconds  # in the reply's path, not before Slack's ack

    async def fetch_image(self, image: Image) -> bytes | str:
        url = image.url or await self._url(image.file_id)
        if not url:
            return GONE
        return await self.reader.image(image.name, url, seconds=self.seconds)

    async def _url(self, file_id: str) -> str:
        if not file_id:
            return ""
        try:
            response = await self.client.files_info(file=file_id)
        except SLACK_ERRORS as exc:
            log.info("files.info failed for a shared image: %s", error_code(exc))
            return ""
        file = response.get("file")
        url = file.get("url_private") if isinstance(file, dict) else None
        return url if isinstance(url, str) else ""
