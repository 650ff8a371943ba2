"""ReplySinks for Slack's post-then-update path, ephemeral answers, and the thinking status.

Native streaming (chat.startStream…) lives in stream.py and falls back to these.
``SlackCaps`` records what the workspace turned out to support, shared by all sinks of one
bot, so a missing feature costs one failed call per process, not one per reply.

Slack counts a message's length on the mrkdwn it receives, and escaping (``&`` → ``&amp;``)
makes it longer than the Markdown it came from: these sinks convert first and split the
mrkdwn, so no message goes out over ``caps.limit``. When Slack refuses a message for good
(``not_in_channel``, ``is_archived``…) a sink stops there: one failed call and one log line
per reply, not one per chunk or per update.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.chunking import split_text
from adapters.common.editing import EditingSink
from adapters.common.endings import failed_text, final_text
from adapters.slack.format import to_mrkdwn
from bot.types import Ending

log = logging.getLogger(__name__)
T = TypeVar("T")

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
# Slack's own passing troubles: the next call may well succeed. (429s and dropped connections
# are retried by slack_sdk's retry handlers before an error reaches us.) Any other error
# Slack answers with would answer the rest of the reply the same way.
TRANSIENT = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
# The conversation takes no message from the bot, by whatever method: nothing to fall back to.
CLOSED = {
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "user_not_in_channel",
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    "restricted_action_thread_locked",
    "ekm_access_denied",
    "cannot_reply_to_message",
    "messages_tab_disabled",
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
        data = exc.response.data
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
        return f"HTTP {exc.response.status_code}"  # not Slack's JSON: a wrong SLACK_API_URL
    return type(exc).__name__


def unsupported(exc: BaseException) -> bool:
    """True when the error means the feature is unavailable here (not a passing failure)."""
    return isinstance(exc, SlackApiError) and error_code(exc) in UNAVAILABLE


def refused(exc: BaseException) -> bool:
    """True when Slack refused the message itself: more of the same reply would be too."""
    return isinstance(exc, SlackApiError) and error_code(exc) not in TRANSIENT


def closed(exc: BaseException) -> bool:
    """True when the conversation takes no message from the bot at all."""
    return isinstance(exc, SlackApiError) and error_code(exc) in CLOSED


def log_refused(channel: str, exc: BaseException) -> None:
    """The one line a reply Slack refused leaves in the log."""
    log.warning("Slack refused a reply in %s (%s); not sending the rest of it", channel, error_code(exc))


async def set_status(client: AsyncWebClient, caps: SlackCaps, channel: str, thread_ts: str) -> bool:
    """Show "is thinking…" under the thread; False when the status API is not available.
    Slack clears the status when the bot next posts in the thread. Raises when the
    conversation is closed to the bot (``closed``)."""
    if not (caps.status and thread_ts):
        return False
    try:
        await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=STATUS_TEXT)
        return True
    except SLACK_ERRORS as exc:
        if closed(exc):
            raise  # no placeholder either: the reply cannot be shown here
        if unsupported(exc):
            caps.status = False
        log.info("assistant status unavailable (%s); using a placeholder", error_code(exc))
        return False


class SlackRefusal(Exception):
    """Slack refused a message of this reply for good (``refused``): the editing sink stops
    calling; any other error is a passing one and the next update tries again."""


class SlackEditingSink(EditingSink[str]):
    """Post, then chat.update at most once per ``caps.interval`` per message; text beyond
    ``caps.limit`` continues in further messages (code blocks closed and reopened)."""

    errors = (SlackRefusal,)

    def __init__(self, client: AsyncWebClient, caps: SlackCaps, channel: str, thread_ts: str = "") -> None:
        super().__init__()
        self.limit = caps.limit
        self.interval = caps.interval
        self._client = client
        self._caps = caps
        self.channel = channel
        self.thread_ts = thread_ts
        self._placeholder: str | None = None
        self._converted = float("-inf")  # when the reply was last converted to mrkdwn
        self.refused = False  # Slack refused a message of this reply: nothing more is sent

    @property
    def refs(self) -> list[str]:
        """``post:<ts>`` per message, ``placeholder:<ts>`` while only "Thinking…" shows."""
        shown = super().refs
        return [f"placeholder:{self._placeholder}", *shown] if self._placeholder else shown

    def _ref(self, handle: str) -> str:
        return f"post:{handle}"

    async def _typing(self) -> None:
        try:
            if await set_status(self._client, self._caps, self.channel, self.thread_ts):
                return
            self._placeholder = await self._send(PLACEHOLDER)
        except SLACK_ERRORS as exc:
            self._refuse(exc)

    async def append(self, delta: str) -> None:
        try:
            await super().append(delta)
        except SLACK_ERRORS as exc:  # keep generating; finish() writes all the text again
            log.warning("could not update a streamed reply: %s", error_code(exc))

    async def thinking(self) -> None:
        try:
            await super().thinking()
        except SLACK_ERRORS as exc:  # a passing failure: the next update shows the text
            log.warning("could not show that the model is thinking: %s", error_code(exc))

    async def _sync(self, text: str, *, final: bool) -> None:
        """Split what Slack receives (the mrkdwn), not the Markdown. Converting the whole
        reply costs, so between two updates the deltas only accumulate."""
        now = time.monotonic()
        if self.refused or (not final and now - self._converted < self.interval):
            return
        self._converted = now
        try:
            await super()._sync(to_mrkdwn(text), final=final)
        except SLACK_ERRORS as exc:
            self._refuse(exc)

    def _refuse(self, exc: BaseException) -> None:
        """Stop the reply at a refused message; let a passing failure through."""
        if not refused(exc):
            raise exc
        self.refused = True
        log_refused(self.channel, exc)

    async def _post(self, text: str) -> str:
        if self._placeholder is not None:  # kept until the edit succeeds, never orphaned
            handle = self._placeholder
            await self._edit(handle, text)
            self._placeholder = None
            return handle
        return await self._refusing(lambda: self._send(text))

    async def _edit(self, handle: str, text: str) -> None:
        await self._refusing(
            lambda: self._client.chat_update(channel=self.channel, ts=handle, text=text)
        )

    async def _refusing(self, call: Callable[[], Awaitable[T]]) -> T:
        """Make a call; a refusal (the first stops every later call) becomes SlackRefusal."""
        if self.refused:
            raise SlackRefusal("refused before")
        try:
            return await call()
        except SlackApiError as exc:
            if not refused(exc):
                raise
            self._refuse(exc)
            raise SlackRefusal(error_code(exc)) from exc

    def _describe(self, exc: Exception) -> str:
        return str(exc)

    async def _send(self, mrkdwn: str) -> str:
        response = await self._client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts or None,
            text=mrkdwn,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])


class _WholeSink(abc.ABC):
    """An answer that cannot be edited once shown, so its text goes out once, complete."""

    refs: tuple[str, ...] = ()  # posted once, complete: nothing to tidy up

    def __init__(self, caps: SlackCaps, channel: str) -> None:
        self._limit = caps.limit
        self.channel = channel

    async def start(self) -> None:  # noqa: B027 - nothing to show before the text
        pass

    async def append(self, delta: str) -> None:  # noqa: B027 - the text goes out once, complete
        pass

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        try:
            for chunk in split_text(to_mrkdwn(final_text(text, ending)), self._limit):
                await self._say(chunk)
        except SLACK_ERRORS as exc:
            if not refused(exc):
                raise
            log_refused(self.channel, exc)

    async def fail(self, message: str) -> None:
        await self.finish(failed_text("", message))

    @abc.abstractmethod
    async def _say(self, chunk: str) -> None:
        """Show one chunk of mrkdwn."""


class EphemeralSink(_WholeSink):
    """An answer only the caller sees (channel /summarize, /reset hints, !usage)."""

    def __init__(
        self, client: AsyncWebClient, caps: SlackCaps, channel: str, user: str, thread_ts: str = ""
    ) -> None:
        super().__init__(caps, channel)
        self._client = client
        self.user = user
        self.thread_ts = thread_ts

    async def _say(self, chunk: str) -> None:
        await self._client.chat_postEphemeral(
            channel=self.channel, user=self.user, text=chunk, thread_ts=self.thread_ts or None
        )


class ResponseSink(_WholeSink):
    """A slash command's private answer through its ``response_url`` (bolt's ``respond``):
    unlike chat.postEphemeral it needs no membership of the channel it was typed in."""

    def __init__(self, respond: Callable[..., Awaitable[Any]], caps: SlackCaps, channel: str) -> None:
        super().__init__(caps, channel)
        self._respond = respond

    async def _say(self, chunk: str) -> None:
        try:
            response = await self._respond(text=chunk, response_type="ephemeral")
        except ValueError:  # bolt's word for a payload without a response_url
            log.warning("a slash command in %s came without a response_url; not answered", self.channel)
            return
        status = getattr(response, "status_code", 200)
        if status >= 400:  # an expired or used-up response_url
            log.warning("Slack refused a slash command's answer in %s (HTTP %s)", self.channel, status)
