"""Fetching an image shared on Discord again, for a request that re-sends it once its bytes
are no longer in memory (``bot.ports.ImageSource``). Attachment URLs are signed and expire
(about a day): the stored URL is tried first, and when the CDN no longer serves it, the
message is read again for a fresh one (its reference names channel, message and attachment).
"""

from __future__ import annotations

import logging

import discord

from adapters.common.files import GONE, REFUSED, FileReader
from bot.types import Image

log = logging.getLogger(__name__)


def attachment_ref(channel_id: int, message_id: int, attachment_id: int) -> str:
    """The file id an attachment is stored by: enough to find it again."""
    return f"{channel_id}/{message_id}/{attachment_id}"


class DiscordImages:
    def __init__(self, client: discord.Client, reader: FileReader) -> None:
        self.client = client
        self.reader = reader

    async def fetch_image(self, image: Image) -> bytes | str:
        fetched: bytes | str = GONE
        if image.url:
            fetched = await self.reader.image(image.name, image.url)
        if isinstance(fetched, bytes) or fetched not in (GONE, REFUSED):
            return fetched
        url = await self._fresh_url(image.file_id)  # the link expired: ask the message
        return await self.reader.image(image.name, url) if url else fetched

    async def _fresh_url(self, file_id: str) -> str:
        channel, _, rest = file_id.partition("/")
        message, _, attachment = rest.partition("/")
        if not (channel.isdigit() and message.isdigit() and attachment):
            return ""
        try:
            data = await self.client.http.get_message(int(channel), int(message))
        except discord.HTTPException as exc:
            log.info("could not read a message again for its image (%s)", exc.status)
            return ""
        for found in data.get("attachments") or ():
            if str(found.get("id")) == attachment and isinstance(found.get("url"), str):
                return found["url"]
        return ""
