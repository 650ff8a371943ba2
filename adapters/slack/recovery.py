"""After a restart: tidy up the Slack messages of a reply a dead process was writing, and
give the engine sinks to answer what was left waiting.

A reply's messages are recorded as refs while it streams (``SlackStreamSink.refs``,
``SlackEditingSink.refs``): ``stream:<ts>`` (a native stream, perhaps still open: append a
note and stop it), ``placeholder:<ts>`` ("Thinking…" with no text yet: replace it) and
``post:<ts>`` (text posted and updated: its text is not known here, so one note follows it in
the thread). A reply that was stored in full but may not have reached Slack completely is
closed instead (streams stopped, a lone placeholder replaced by the answer). Slack may refuse
any of these (the stream expired, the message was deleted): that is logged and the answer is
given anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from adapters.common.endings import RESUMED_NOTE
from adapters.slack.format import to_mrkdwn
from adapters.slack.handlers import SlackHandlers
from adapters.slack.sink import SLACK_ERRORS, error_code
from bot.ports import ReplySink
from bot.types import ThreadKey, Unfinished

log = logging.getLogger(__name__)


class SlackResumer:
    def __init__(self, handlers: SlackHandlers) -> None:
        self._handlers = handlers
        self._client = handlers.client

    async def tidy(self, key: ThreadKey, refs: Sequence[str], answer: str | None) -> None:
        if answer is not None:
            await self._close(key, refs, answer)
            return
        note_needed = False
        refs = [*refs, *await self._unrecorded_streams(key, refs)]
        for ref in refs:
            kind, _, ts = ref.partition(":")
            if kind == "streams-after":
                continue
            if kind == "placeholder":
                ok = await self._try("chat.update", self._client.chat_update(
                    channel=key.channel, ts=ts, text=RESUMED_NOTE))
                note_needed = note_needed or not ok
            elif kind == "stream":
                ok = await self._try("chat.appendStream", self._client.chat_appendStream(
                    channel=key.channel, ts=ts, markdown_text=f"\n\n{RESUMED_NOTE}"))
                await self._try("chat.stopStream", self._client.chat_stopStream(
                    channel=key.channel, ts=ts))
                note_needed = note_needed or not ok
            else:
                note_needed = True
        if note_needed:
            await self._try("chat.postMessage", self._client.chat_postMessage(
                channel=key.channel, thread_ts=key.thread or None, text=RESUMED_NOTE))

    async def _close(self, key: ThreadKey, refs: Sequence[str], answer: str) -> None:
        """A reply stored in full whose end may not have reached Slack: stop its streams,
        and show it where only "Thinking…" was showing."""
        for ref in refs:
            kind, _, ts = ref.partition(":")
            if kind == "stream":
                await self._try("chat.stopStream", self._client.chat_stopStream(
                    channel=key.channel, ts=ts))
            elif kind == "placeholder":
                text = to_mrkdwn(answer)[: self._handlers.caps.limit]
                await self._try("chat.update", self._client.chat_update(
                    channel=key.channel, ts=ts, text=text))

    async def _unrecorded_streams(self, key: ThreadKey, refs: Sequence[str]) -> list[str]:
        """Streams the reply opened that a crash kept from being recorded: the bot's
        messages in the thread since the reply began that no ref names."""
        since = next((r.partition(":")[2] for r in refs if r.startswith("streams-after:")), "")
        if not since or not key.thread:
            return []
        try:
            page = await self._client.conversations_replies(
                channel=key.channel, ts=key.thread, oldest=since, limit=200)
        except SLACK_ERRORS as exc:
            log.info("tidying up after a restart: conversations.replies failed (%s)",
                     error_code(exc))
            return []
        known = {r.partition(":")[2] for r in refs}
        return [f"stream:{m['ts']}" for m in page.get("messages") or []
                if m.get("bot_id") and m.get("ts") not in known and m.get("ts") != key.thread]

    def sink_for(self, work: Unfinished) -> ReplySink:
        key = work.key
        return self._handlers.reply_sink(key.channel, key.thread, key.scope, work.last_author_id)

    async def _try(self, method: str, call: object) -> bool:
        try:
            await call  # type: ignore[misc]
        except SLACK_ERRORS as exc:
            log.info("tidying up after a restart: %s failed (%s)", method, error_code(exc))
            return False
        return True
