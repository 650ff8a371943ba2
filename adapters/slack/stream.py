"""A ReplySink on Slack's native chat streaming (chat.startStream / appendStream / stopStream
through slack_sdk's ``chat_stream`` helper), used for replies in threads.

Streamed text cannot be taken back, so the sink decides each message's end while streaming:
text goes out at most once per ``caps.interval``; once a message is past 80 % of
``caps.limit`` only whole lines are sent, and the message ends at the best boundary of the
text not yet sent (paragraph > line > space), with an open code fence closed there and
reopened in the next message. The limit counts what Slack receives: the text escaped with
``format.escape`` (``markdown_text`` would turn ``<!channel>`` into a mention too), and room
is always kept to close the longest code fence that may be open. Anything Slack refuses falls
back to SlackEditingSink: before any text was shown the whole reply moves there (and, for a
missing feature, every later reply too); mid-reply the rest of the text continues there. A
conversation closed to the bot (``not_in_channel``…) ends the reply instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.chunking import best_cut, closing_fence, fence_reserve, open_fence, reopen_line
from adapters.common.endings import NO_REPLY, failed_text, final_text
from adapters.slack.format import escape
from adapters.slack.sink import (
    SLACK_ERRORS,
    SlackCaps,
    SlackEditingSink,
    closed,
    error_code,
    log_refused,
    set_status,
    unsupported,
)
from bot.types import Ending

log = logging.getLogger(__name__)


class SlackStreamSink:
    def __init__(
        self,
        client: AsyncWebClient,
        caps: SlackCaps,
        channel: str,
        thread_ts: str,
        *,
        recipient_team_id: str = "",
        recipient_user_id: str = "",
    ) -> None:
        self._client = client
        self._caps = caps
        self.channel = channel
        self.thread_ts = thread_ts
        self._recipient = {
            "recipient_team_id": recipient_team_id or None,
            "recipient_user_id": recipient_user_id or None,
        }
        self._text = ""  # the reply so far (Markdown)
        self._pos = 0  # how much of _text has been sent
        self._stream: AsyncChatStream | None = None
        self._message = ""  # what the current streamed message shows (as sent: escaped)
        self._reopen = ""  # a code fence line the next message must start with
        self._last = 0.0  # when the last call on the current message returned (monotonic)
        self._fallback: SlackEditingSink | None = None
        self._offset = 0  # where the fallback's part of the reply begins
        self._closed = False  # the conversation refused the reply: nothing more is sent
        self.messages: list[str] = []  # ts of every message this reply streamed
        self._since = ""  # when the reply began, as a Slack ts

    # --- ReplySink ---
    @property
    def refs(self) -> list[str]:
        """``stream:<ts>`` per streamed message, then what the fallback posted."""
        fallback = self._fallback.refs if self._fallback is not None else []
        # From the start on, "streams after <ts>": a crash between Slack opening a stream
        # and the bot recording its ts still leaves a way to find it in the thread.
        since = [f"streams-after:{self._since}"] if self._since else []
        return since + [f"stream:{ts}" for ts in self.messages] + fallback

    async def start(self) -> None:
        self._since = f"{time.time() - 1:.6f}"
        try:
            status = await set_status(self._client, self._caps, self.channel, self.thread_ts)
        except SLACK_ERRORS as exc:
            self._close(exc)
            return
        if not status:
            # No status API: the post-then-update path can show a placeholder instead.
            self._fallback = self._editing()
            await self._fallback.start()

    async def thinking(self) -> None:
        """The model thinks again after some text (``ShowsThinking``): the thread's status
        says so until the next text (Slack clears it when the bot posts)."""
        if self._fallback is not None:
            await self._fallback.thinking()
            return
        if self._closed or not self._text:  # before any text the status says it already
            return
        with contextlib.suppress(*SLACK_ERRORS):
            await set_status(self._client, self._caps, self.channel, self.thread_ts)

    async def append(self, delta: str) -> None:
        self._text += delta
        if self._closed:
            return
        if self._fallback is not None:
            await self._fallback.append(delta)
        elif time.monotonic() - self._last >= self._caps.interval:
            await self._flush(final=False)

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        if ending is not Ending.ANSWERED:
            text = final_text(text, ending)
        shown = self._text[: self._pos]
        # The final text normally extends what was streamed (or adds a stop note); if it
        # diverges, what is already on screen cannot change: keep it and add nothing.
        if text.startswith(shown):
            self._text = text
        elif shown:
            log.warning("final reply differs from the streamed text in %s", self.channel)
        else:
            self._text = text
        if not self._text.strip():
            self._text = NO_REPLY
        await self._end()

    async def fail(self, message: str) -> None:
        self._text = failed_text(self._text, message)
        await self._end()

    # --- internals ---
    async def _end(self) -> None:
        if self._closed:
            return
        if self._fallback is None:
            await self._flush(final=True)
        if self._fallback is not None:
            rest = self._rest()
            if rest or not self._offset:  # offset 0: the fallback holds the whole reply
                await self._fallback.finish(rest)

    async def _flush(self, *, final: bool) -> None:
        try:
            await self._send(final)
        except SLACK_ERRORS as exc:
            await self._degrade(exc)

    async def _send(self, final: bool) -> None:
        while True:
            start = self._pos
            pending = self._text[start:]
            used = len(self._message) + len(escape(self._reopen))
            room = self._caps.limit - used
            # Room to close the longest fence that may be open where this message ends.
            window = self._reopen + self._message + pending[: max(room, 0)]
            reserve = fence_reserve(window, self._caps.limit)
            if _escaped_len(pending) + reserve <= room:
                if final:  # the rest and the end of the stream in one call
                    await self._stop(pending)
                    self._pos = len(self._text)
                elif part := self._sendable(pending, used):
                    await self._write(part)
                    self._pos = start + len(part)
                return
            fits = _fitting(pending, room - reserve)
            cut = best_cut(pending, fits, floor=max(1, self._caps.limit // 2 - used)) if fits else 0
            head = pending[:cut].rstrip()
            fence = open_fence(self._reopen + self._message + head) if reserve else None
            await self._stop(head + (closing_fence(fence) if fence else ""))
            rest = pending[cut:]
            self._pos = start + cut + len(rest) - len(rest.lstrip("\n"))
            self._reopen = reopen_line(fence, self._caps.limit) + "\n" if fence else ""

    def _sendable(self, pending: str, used: int) -> str:
        """What may go out before the reply is complete: whole words (whole lines near the
        end of a message, so it can end at a line break), never trailing whitespace (a stop
        note must still join cleanly)."""
        if used + _escaped_len(pending) > self._caps.limit * 0.8:
            return pending[: pending.rfind("\n") + 1].rstrip()
        return pending[: max(pending.rfind(" "), pending.rfind("\n")) + 1].rstrip()

    async def _write(self, text: str) -> None:
        """Add ``text`` to the current message (starting it if need be): one call."""
        text = self._opening(text)
        if not text:
            return
        if self._stream is None:
            self._stream = await self._client.chat_stream(
                channel=self.channel, thread_ts=self.thread_ts, buffer_size=1, **self._recipient
            )
        sent = escape(text)
        await self._stream.append(markdown_text=sent)
        self._last = time.monotonic()
        self._shown(self._stream)
        self._message += sent

    async def _stop(self, text: str) -> None:
        """End the current message with ``text`` added, in the stop call itself, no sooner
        than ``caps.interval`` after the message's last call (Slack's pace per message)."""
        text = self._opening(text) if text else ""
        if self._stream is None and text:
            # Nothing shown yet: the stop call starts it (chat.startStream, then chat.stopStream
            # with all of the message's text).
            self._stream = await self._client.chat_stream(
                channel=self.channel, thread_ts=self.thread_ts, buffer_size=1, **self._recipient
            )
        if self._stream is not None:
            if self._stream.ts:
                await asyncio.sleep(self._last + self._caps.interval - time.monotonic())
            await self._stream.stop(markdown_text=escape(text) if text else None)
            self._last = time.monotonic()
            self._shown(self._stream)
            self._stream = None
        self._message = ""

    def _opening(self, text: str) -> str:
        """``text`` as the current message receives it: a message never starts with blank
        lines, and starts with the code fence the previous one closed."""
        if self._message:
            return text
        text, self._reopen = self._reopen + text.lstrip("\n"), ""
        return text

    def _shown(self, stream: AsyncChatStream) -> None:
        if stream.ts and stream.ts not in self.messages:
            self.messages.append(stream.ts)

    async def _degrade(self, exc: BaseException) -> None:
        code = error_code(exc)
        if closed(exc):  # no call can end the stream either: Slack expires it
            self._stream = None
            self._close(exc)
            return
        if not self.messages and unsupported(exc):
            self._caps.native_stream = False
            log.warning("Slack native streaming unavailable (%s); using chat.update", code)
        else:
            log.warning("Slack streaming failed mid-reply (%s); continuing with chat.update", code)
        await self._abandon()
        # Continue after the last character a user can see.
        self._offset = self._pos if self.messages else 0
        self._fallback = self._editing()
        rest = self._rest()
        if rest:
            await self._fallback.append(rest)

    async def _abandon(self) -> None:
        """Forget the failed stream, ending it on Slack's side if it had begun there."""
        if self._stream is not None and self._stream.ts:
            # Not the helper's stop(): it would re-send the text that just failed.
            with contextlib.suppress(*SLACK_ERRORS):
                await self._client.chat_stopStream(channel=self.channel, ts=self._stream.ts)
        self._stream = None

    def _close(self, exc: BaseException) -> None:
        self._closed = True
        log_refused(self.channel, exc)

    def _rest(self) -> str:
        """The part of the reply the fallback shows."""
        return self._text[self._offset :].lstrip()

    def _editing(self) -> SlackEditingSink:
        return SlackEditingSink(self._client, self._caps, self.channel, self.thread_ts)


def _escaped_len(text: str) -> int:
    """The length of ``escape(text)``, what Slack counts."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _fitting(text: str, room: int) -> int:
    """The longest prefix of ``text`` whose escaped form fits in ``room`` characters."""
    total = 0
    for i, char in enumerate(text):
        total += _escaped_len(char)
        if total > room:
            return i
    return len(text)
