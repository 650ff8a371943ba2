"""The engine: turns in order per thread, concurrent across threads.

A turn is stored before the model is called, so a crash or a provider error never loses what
the user said, and the store's unique platform id turns a redelivery into a no-op. While a
thread is answering, new messages are stored at once and answered together in the next reply.
Per-thread state exists only while a reply runs, so idle threads cost no memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.errors import USER_MESSAGES, ErrorKind, ProviderError
from bot.history import Histories, HistoryStrategy
from bot.ports import Provider, ReplySink, Store
from bot.types import (
    Command,
    CommandName,
    Completion,
    Ending,
    NewMessage,
    Request,
    ThreadKey,
    ThreadState,
    Turn,
)

log = logging.getLogger(__name__)

EMPTY_TEXT = "Send me a message with some text and I'll answer."
NOTHING_TO_SUMMARIZE = "There's nothing to summarize yet."


@dataclass(slots=True)
class _Active:
    """A thread with a reply in progress: the reply task and the sink waiting for the next."""

    next_sink: ReplySink | None
    reply_row: int | None = None  # the running reply's reserved row (message order)
    task: asyncio.Task[Completion] | None = None
    parts: list[str] = field(default_factory=list)
    in_sink: bool = False  # a platform call is under way: a stop waits for it to end
    stop_requested: bool = False


class Engine:
    """Orchestrates order, coalescing, stop and the sink; what a request contains and what
    happens to the chain is the thread's history strategy's business."""

    def __init__(self, store: Store, provider: Provider, histories: Histories) -> None:
        self._store = store
        self._provider = provider
        self._histories = histories
        self._active: dict[ThreadKey, _Active] = {}

    # --- turns ---
    async def handle(self, turn: Turn, sink: ReplySink) -> None:
        """Store ``turn`` and answer it (see the module docstring for coalescing)."""
        if not turn.addressed:
            await self.remember([turn])
            return
        if not turn.text.strip():
            await sink.finish(EMPTY_TEXT)
            return
        thread = await self._store.ensure_thread(turn.key, self._histories.default.name)
        row = await self._store.add(thread, self._stored(turn))
        if row is None:
            log.info("duplicate delivery of %s in %s ignored", turn.message_id, turn.key)
            return
        active = self._active.get(turn.key)
        if active is not None:
            # Stored after the running reply reserved its row: answer in the next round.
            # Otherwise it was stored before that reply read its context: already covered.
            if active.reply_row is not None and row > active.reply_row:
                active.next_sink = sink
            return
        active = self._active[turn.key] = _Active(next_sink=sink)
        try:
            current: ThreadState | None = thread
            while active.next_sink is not None:
                sink, active.next_sink = active.next_sink, None
                if current is None:  # a later round: reset may have changed the epoch
                    current = await self._store.get_thread(turn.key)
                    assert current is not None
                await self._reply(current, active, sink)
                current = None
        finally:
            del self._active[turn.key]

    async def remember(self, turns: Sequence[Turn], *, bot_user_id: str = "") -> None:
        """Store turns as context without answering (duplicates ignored)."""
        by_key: dict[ThreadKey, list[NewMessage]] = {}
        for turn in turns:
            if not turn.text.strip():
                continue
            own = bool(bot_user_id) and turn.author_id == bot_user_id
            role: Literal["user", "assistant"] = "assistant" if own else "user"
            by_key.setdefault(turn.key, []).append(self._stored(turn, role))
        for key, messages in by_key.items():
            thread = await self._store.ensure_thread(key, self._histories.default.name)
            await self._store.add_many(thread, messages)

    async def follows(self, key: ThreadKey) -> bool:
        """Whether the bot has a conversation in this thread (survives restarts)."""
        return await self._store.get_thread(key) is not None

    # --- commands ---
    async def command(self, command: Command, sink: ReplySink) -> None:
        """Reset, summarize or stop a conversation. Help is the adapter's to answer: only it
        knows how commands are typed on its platform."""
        name = command.name
        if name is CommandName.HELP:
            raise ValueError("help is answered by the adapter (adapters/common/help.py)")
        if name is CommandName.STOP:
            await sink.finish("Stopped." if self.stop(command.key) else "Nothing to stop.")
        elif name is CommandName.RESET:
            thread = await self._store.get_thread(command.key)
            if thread is not None:
                await self._store.reset(thread.id)
            await sink.finish("Conversation reset: I've forgotten everything said here before.")
        elif name is CommandName.SUMMARIZE:
            thread = await self._store.get_thread(command.key)
            request = await self._histories.of(thread).summary_request(thread) if thread else None
            if request is None or thread is None:
                await sink.finish(NOTHING_TO_SUMMARIZE)
                return
            text = await self._one_shot(request, sink)
            if text is not None:
                summary = NewMessage(role="summary", content=text, tokens=0, model=request.model)
                await self._store.add(thread, summary)

    def stop(self, key: ThreadKey) -> bool:
        """Cancel the reply being generated in ``key``; messages waiting for the next reply
        are left unanswered too (stop means quiet). True if something was stopped."""
        active = self._active.get(key)
        if active is None or active.task is None or active.task.done():
            return False
        active.next_sink = None
        if active.in_sink:
            active.stop_requested = True  # honoured as soon as the platform call returns
        else:
            active.task.cancel()
        return True

    async def summarize_transcript(self, turns: Sequence[Turn], sink: ReplySink) -> None:
        """Summarise messages that are not in the store (e.g. a Slack channel catch-up)."""
        lines = [(t.author_name, t.text) for t in turns if t.text.strip()]
        if not lines:
            await sink.finish(NOTHING_TO_SUMMARIZE)
            return
        await self._one_shot(self._histories.default.transcript_request(lines), sink)

    # --- internals ---
    async def _reply(self, thread: ThreadState, active: _Active, sink: ReplySink) -> None:
        history = self._histories.of(thread)
        active.reply_row = None
        row = active.reply_row = await self._store.begin_reply(thread)
        active.parts = []
        active.stop_requested = False
        # The platform shows "thinking" while the request is built and sent; the sink still
        # sees its calls in order: start, append…, then finish or fail.
        started = asyncio.ensure_future(_safely(sink.start()))
        active.task = asyncio.create_task(self._generate(thread, history, sink, active, started))
        try:
            completion = await active.task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being shut down, not stopped
            await _settled(started)
            await self._stopped(thread, history, row, sink, "".join(active.parts))
            return
        except Exception as exc:
            message = _failure(exc, thread.key)
            await self._store.discard_reply(row)
            await history.after_unfinished(thread)
            await _settled(started)
            await _safely(sink.fail(message))
            return
        finally:
            active.task = None
        reply = NewMessage(
            role="assistant", content=completion.text, tokens=history.count(completion.text),
            response_id=completion.response_id, model=completion.model, usage=completion.usage,
        )
        await self._store.finish_reply(thread, row, reply)
        await history.after_reply(thread, completion)
        await _settled(started)
        await _safely(sink.finish(completion.text))

    async def _generate(
        self,
        thread: ThreadState,
        history: HistoryStrategy,
        sink: ReplySink,
        active: _Active,
        started: asyncio.Future[None],
    ) -> Completion:
        request = await history.request(thread)
        try:
            return await self._stream(request, sink, active, started)
        except ProviderError as exc:
            retry = None if active.parts else await history.retry(thread, request, exc)
            if retry is None:
                raise
        return await self._stream(retry, sink, active, started)

    async def _stream(
        self, request: Request, sink: ReplySink, active: _Active, started: asyncio.Future[None]
    ) -> Completion:
        """Relay deltas to the sink. A stop cancels this task only while it waits for the
        provider, never inside a platform call: a call cut in half could post a message the
        sink never learns about. Sink calls stay in order: start before the first append."""
        async with contextlib.aclosing(self._provider.stream(request)) as stream:
            async for item in stream:
                if isinstance(item, Completion):
                    return item
                active.in_sink = True
                try:
                    if not active.parts:
                        await started
                    active.parts.append(item)
                    await sink.append(item)
                finally:
                    active.in_sink = False
                if active.stop_requested:
                    raise asyncio.CancelledError
        raise ProviderError(ErrorKind.OTHER, "stream ended without a completion")

    async def _one_shot(self, request: Request, sink: ReplySink) -> str | None:
        """Stream a request that is not part of the conversation (summaries)."""
        started = asyncio.ensure_future(_safely(sink.start()))
        try:
            completion = await self._stream(request, sink, _Active(next_sink=None), started)
        except Exception as exc:
            message = _failure(exc, "a summary")
            await _settled(started)
            await _safely(sink.fail(message))
            return None
        await _settled(started)
        await _safely(sink.finish(completion.text))
        return completion.text

    async def _stopped(
        self, thread: ThreadState, history: HistoryStrategy, row: int, sink: ReplySink, partial: str
    ) -> None:
        """Keep what was generated before a stop, marked as stopped."""
        if partial.strip():
            reply = NewMessage(
                role="assistant", content=partial, tokens=history.count(partial),
                model=history.model, stopped=True,
            )
            await self._store.finish_reply(thread, row, reply)
        else:
            await self._store.discard_reply(row)
        await history.after_unfinished(thread)
        await _safely(sink.finish(partial if partial.strip() else "", Ending.STOPPED))

    def _stored(self, turn: Turn, role: Literal["user", "assistant"] = "user") -> NewMessage:
        return NewMessage(
            role=role,
            content=turn.text,
            tokens=self._histories.count(turn.text),
            author_id=turn.author_id,
            author_name=turn.author_name,
            platform_message_id=turn.message_id,
            at=turn.at,
        )


def _failure(exc: Exception, where: object) -> str:
    """The short message a user sees for a failed reply; logs the failure once, by kind.
    Call it inside the ``except`` block, so an unexpected error is logged with its trace."""
    if isinstance(exc, ProviderError):
        log.warning("provider error in %s: %s", where, exc)
        return exc.user_message
    log.exception("reply failed in %s", where)
    return USER_MESSAGES[ErrorKind.OTHER]


async def _settled(future: asyncio.Future[None]) -> None:
    """Wait for ``future`` without being affected by how it ended."""
    await asyncio.wait([future])


async def _safely(call: object) -> None:
    """Await a sink call; a platform failure while showing a reply is logged, not raised,
    so one broken message never stops the thread's next turn."""
    try:
        await call  # type: ignore[misc]
    except Exception:
        log.exception("could not deliver a reply to the platform")
