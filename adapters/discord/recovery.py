"""After a restart: tidy up the Discord messages of a reply a dead process was writing, and
give the engine sinks to answer what was left waiting.

Refs are ``<channel id>/<message id>`` (``DiscordSink``). A reply cut short gets a note
appended to its last message; one stored in full already shows its text (the edits that
remained would only have added the end). Discord may refuse (the message was deleted, the
bot lost access): that is logged and the answer is given anyway.

With shards, several processes resume from one database at once: each takes only the
conversations whose events its shards get, so none is answered twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from adapters.common.endings import RESUMED_NOTE
from adapters.discord.sharding import Sharding
from adapters.discord.sink import NO_MENTIONS, DiscordSink, describe
from bot.types import ThreadKey, Unfinished

if TYPE_CHECKING:
    from adapters.discord.client import ThreadbotClient

log = logging.getLogger(__name__)
LIMIT = 2000


class DiscordResumer:
    """``sharding``: the shards whose conversations to take (None: all of them)."""

    def __init__(self, client: ThreadbotClient, sharding: Sharding | None = None) -> None:
        self._client = client
        self._sharding = sharding

    async def tidy(self, key: ThreadKey, refs: Sequence[str], answer: str | None) -> None:
        if answer is not None or not refs:
            return
        channel_id, _, message_id = refs[-1].partition("/")
        try:
            channel = self._client.get_partial_messageable(int(channel_id))
            message = await channel.fetch_message(int(message_id))
            text = f"{message.content.rstrip()}\n\n{RESUMED_NOTE}"
            if len(text) <= LIMIT:
                await message.edit(content=text, allowed_mentions=NO_MENTIONS)
            else:
                await channel.send(RESUMED_NOTE, allowed_mentions=NO_MENTIONS)
        except (ValueError, discord.HTTPException) as exc:
            log.info("tidying up after a restart in %s failed (%s)", key, describe(exc)
                     if isinstance(exc, discord.HTTPException) else type(exc).__name__)

    def sink_for(self, work: Unfinished) -> DiscordSink | None:
        try:
            channel = self._client.get_partial_messageable(int(work.key.channel))
            root = int(work.key.thread) if work.key.thread else None
            guild = int(work.key.scope) if work.key.scope else None
        except ValueError:
            return None
        if self._sharding is not None and not self._sharding.runs(guild):
            return None  # another shard's: its process answers it
        reply_to = channel.get_partial_message(root) if root is not None else None
        return self._client.reply_sink(work.key, channel, reply_to)
