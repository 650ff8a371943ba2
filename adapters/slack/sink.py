"""ReplySinks for Slack's post-then-update path, ephemeral answers, and the thinking status.

Native streaming (chat.startStream…) lives in slack_stream.py and falls back to these.
``SlackCaps`` records what the workspace turned out to support, shared by all sinks of one
bot, so a missing feature costs one failed call per process, not one per reply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.chunking import split_text
from adapters.common.editing import EditingSink
from adapters.common.endings import failed_text, final_text
from adapters.slack.format import to_mrkdwn
from bot.types import Ending

log = logging.getLogger(__name__)

SLACK_ERRORS = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)
# Errors meaning "this app/workspace cannot use that method" (not "this message failed"):
# after one of these the adapter stops trying the feature until restarted.
UNAVAILABLE = {
    "unknown_method",
    "method_deprecated",
    "not_allowed_token_type",
    "missing_scope",
    "no_permission",
    "not_allowed",
    "feature_not_enabled",
    "team_access_not_granted",
    "method_not_supported_for_channel_type",
}
STATUS_TEXT = "is thinking…"
PLACEHOLDER = "_Thinking…_"


@dataclass
class SlackCaps:
    """What the adapter has learned it may use, and the pacing of edits."""

    native_stream: bool = True
    status: bool = True
    interval: float = 1.0  # seconds between updates of one message (chat.update / append)
    limit: int = 3_500  # characters per message; Slack rejects ~4,000 with msg_too_long


def error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown"))
    return type(exc).__name__


def unsupported(exc: BaseException) -> bool:
    """True when the error means the feature is unavailable here (not a passing failure)."""
    return isinstance(exc, SlackApiError) and error_code(exc) in UNAVAILABLE


async def set_status(client: AsyncWebClient, caps: SlackCaps, channel: str, thread_ts: str) -> bool:
    """Show "is thinking…" under the thread; False when the status API is not available.
    Slack clears the status when the bot next posts in the thread."""
    if not (caps.status and thread_ts):
        return False
    try:
        await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=STATUS_TEXT)
        return True
    except SLACK_ERRORS as exc:
        if unsupported(exc):
            caps.status = False
        log.info("assistant status unavailable (%s); using a placeholder", error_code(exc))
        return False


class SlackEditingSink(EditingSink[str]):
    """Post, then chat.update at most once per ``caps.interval`` per message; text beyond
    ``caps.limit`` continues in further messages (code blocks closed and reopened)."""

    def __init__(self, client: AsyncWebClient, caps: SlackCaps, channel: str, thread_ts: str = "") -> None:
        super().__init__()
        self.limit = caps.limit
        self.interval = caps.interval
        self._client = client
        self._caps = caps
        self.channel = channel
        self.thread_ts = thread_ts
        self._placeholder: str | None = None

    @property
    def refs(self) -> list[str]:
        """``post:<ts>`` per message, ``placeholder:<ts>`` while only "Thinking…" shows."""
        shown = super().refs
        return [f"placeholder:{self._placeholder}", *shown] if self._placeholder else shown

    def _ref(self, handle: str) -> str:
        return f"post:{handle}"

    async def _typing(self) -> None:
        if await set_status(self._client, self._caps, self.channel, self.thread_ts):
            return
        self._placeholder = await self._send(PLACEHOLDER)

    async def append(self, delta: str) -> None:
        try:
            await super().append(delta)
        except SLACK_ERRORS as exc:  # keep generating; finish() writes all the text again
            log.warning("could not update a streamed reply: %s", error_code(exc))

    async def _post(self, text: str) -> str:
        if self._placeholder is not None:
            handle, self._placeholder = self._placeholder, None
            await self._edit(handle, text)
            return handle
        return await self._send(to_mrkdwn(text))

    async def _edit(self, handle: str, text: str) -> None:
        await self._client.chat_update(channel=self.channel, ts=handle, text=to_mrkdwn(text))

    async def _send(self, mrkdwn: str) -> str:
        response = await self._client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts or None,
            text=mrkdwn,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])


class EphemeralSink:
    """An answer only the caller sees (channel /summarize, /reset hints). Ephemeral messages
    cannot be edited, so the text is posted once, when complete."""

    def __init__(
        self, client: AsyncWebClient, caps: SlackCaps, channel: str, user: str, thread_ts: str = ""
    ) -> None:
        self._client = client
        self._limit = caps.limit
        self.channel = channel
        self.user = user
        self.thread_ts = thread_ts

    refs: tuple[str, ...] = ()  # posted once, complete: nothing to tidy up

    async def start(self) -> None:
        pass

    async def append(self, delta: str) -> None:
        pass

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        for chunk in split_text(final_text(text, ending), self._limit):
            await self._client.chat_postEphemeral(
                channel=self.channel,
                user=self.user,
                text=to_mrkdwn(chunk),
                thread_ts=self.thread_ts or None,
            )

    async def fail(self, message: str) -> None:
        await self.finish(failed_text("", message))
