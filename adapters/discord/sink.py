"""Showing a reply on Discord: post, then edit as text arrives.

``DiscordSink`` answers a message: typing indicator until the first text, then one message
edited at most once per ``interval`` (per message, see EditingSink), continued in further
messages past 2,000 characters. In a channel every one of them is a Discord reply to the
message answered, so a reply chain (never mode) can be walked back to its root from any part
of a long answer, also after a restart. ``InteractionSink`` answers an app command: the first
message is the interaction's own response (sent, or edited after a defer), overflow goes to
follow-ups. Every send and edit passes ``AllowedMentions.none()``, so model output can never
ping @everyone, @here, a role or a user. What Discord refuses (a deleted message, a missing
permission, an expired interaction) is handled by EditingSink: logged, never a failed reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
import discord

from adapters.common.editing import EditingSink
from bot.types import Ending

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
TYPING_REFRESH = 8.0  # Discord shows "typing…" for ~10 s per trigger
# What a send or edit raises once discord.py has given up retrying (TimeoutError is an OSError).
DISCORD_ERRORS = (discord.HTTPException, aiohttp.ClientError, OSError)


def describe(exc: Exception) -> str:
    """A Discord error in a log line: status, code and Discord's words, never a URL."""
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, Discord error {exc.code}: {exc.text or 'no detail'}"
    return type(exc).__name__


class DiscordSink(EditingSink[discord.Message]):
    limit = 2000
    errors = DISCORD_ERRORS

    def __init__(self, channel: discord.abc.Messageable, *,
                 reply_to: discord.Message | discord.PartialMessage | None = None,
                 interval: float = 1.0,
                 on_post: Callable[[discord.Message], None] | None = None) -> None:
        super().__init__()
        self.interval = interval
        self._channel = channel
        self._reply_to = reply_to
        self._on_post = on_post
        self._typer: asyncio.Task[None] | None = None

    async def _typing(self) -> None:
        self._typer = asyncio.create_task(self._keep_typing())

    async def thinking(self) -> None:
        """The model thinks again after some text (``ShowsThinking``): typing until the next."""
        if self._typer is None:
            await self._typing()

    async def append(self, delta: str) -> None:
        if self._typer is not None and self.refs:  # text again after a thinking mid-reply
            await self.close()
        await super().append(delta)

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._channel.typing()
            except discord.HTTPException as exc:  # no permission to type: not worth a reply
                log.debug("typing indicator failed: %s", exc)
                return
            await asyncio.sleep(TYPING_REFRESH)

    async def _post(self, text: str) -> discord.Message:
        await self.close()  # the first text replaces the typing indicator
        reference = None
        if self._reply_to is not None:
            reference = self._reply_to.to_reference(fail_if_not_exists=False)
        message = await self._channel.send(text, reference=reference,  # type: ignore[arg-type]
                                           allowed_mentions=NO_MENTIONS)
        if self._on_post is not None:
            self._on_post(message)
        return message

    async def _edit(self, handle: discord.Message, text: str) -> None:
        await handle.edit(content=text, allowed_mentions=NO_MENTIONS)

    def _ref(self, handle: discord.Message) -> str:
        return f"{handle.channel.id}/{handle.id}"

    def _describe(self, exc: Exception) -> str:
        return describe(exc)

    # The typing task is the sink's own, beside the engine's calls; the last call stops it
    # even when nothing is posted (blank text). The adapter's close() is not enough: for a
    # message answered in a later round, it runs before the engine has started this sink.
    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        try:
            await super().finish(text, ending)
        finally:
            await self.close()

    async def fail(self, message: str) -> None:
        try:
            await super().fail(message)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the typing indicator (idempotent; the adapter calls it after every turn)."""
        typer, self._typer = self._typer, None
        if typer is not None:
            typer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typer


# The original response (None when Discord did not return it), or a follow-up.
Response = discord.InteractionMessage | discord.WebhookMessage | None


class InteractionSink(EditingSink[Response]):
    """The reply to an app command: the original response, then follow-ups.

    Discord drops an interaction not acknowledged within 3 s: call ``defer()`` before slow
    work (the model), or ``guard(after)`` to defer only if the answer is not ready in time.
    """

    limit = 2000
    errors = DISCORD_ERRORS

    def __init__(self, interaction: discord.Interaction, *, interval: float = 1.0,
                 ephemeral: bool = False) -> None:
        super().__init__()
        self.interval = interval
        self._interaction = interaction
        self._ephemeral = ephemeral
        # The first acknowledgement must happen exactly once, and guard() defers from its own
        # task, beside the engine's calls: the engine's ordering does not cover that race.
        self._lock = asyncio.Lock()
        self._guard: asyncio.Task[None] | None = None
        self.answer: str | None = None  # the text of a reply that finished (not failed)

    @property
    def response_id(self) -> int | None:
        """The id of the message showing the original response, once Discord returned it."""
        first = self.handles[0] if self.handles else None
        return first.id if isinstance(first, discord.InteractionMessage) else None

    async def defer(self) -> None:
        async with self._lock:
            if not self._interaction.response.is_done():
                await self._interaction.response.defer(thinking=True, ephemeral=self._ephemeral)

    def guard(self, after: float = 2.0) -> None:
        async def later() -> None:
            await asyncio.sleep(after)
            await self.defer()

        self._guard = asyncio.create_task(later())

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        await super().finish(text, ending)
        self.answer = text if ending is Ending.ANSWERED and text.strip() else None

    async def thinking(self) -> None:
        """Before any text: Discord's own "is thinking…" (the deferred response), unless
        the command deferred already; after some text, the note under it."""
        if self._text:
            await super().thinking()
        else:
            await self.defer()

    async def _post(self, text: str) -> Response:
        if not self.handles:
            async with self._lock:
                self._cancel_guard()
                response = self._interaction.response
                if not response.is_done():
                    sent = await response.send_message(text, ephemeral=self._ephemeral,
                                                       allowed_mentions=NO_MENTIONS)
                    resource = sent.resource if sent is not None else None
                    return resource if isinstance(resource, discord.InteractionMessage) else None
            return await self._interaction.edit_original_response(content=text,
                                                                  allowed_mentions=NO_MENTIONS)
        return await self._interaction.followup.send(text, wait=True, ephemeral=self._ephemeral,
                                                     allowed_mentions=NO_MENTIONS)

    async def _edit(self, handle: Response, text: str) -> None:
        if isinstance(handle, discord.WebhookMessage):
            await handle.edit(content=text, allowed_mentions=NO_MENTIONS)
        else:
            await self._interaction.edit_original_response(content=text,
                                                           allowed_mentions=NO_MENTIONS)

    def _describe(self, exc: Exception) -> str:
        return describe(exc)

    def _cancel_guard(self) -> None:
        if self._guard is not None and asyncio.current_task() is not self._guard:
            self._guard.cancel()
        self._guard = None

    async def close(self) -> None:
        self._cancel_guard()
