"""One reply, from its reserved row to how it ended.

A reply reserves its row first, so its context ends there and messages said meanwhile are
answered by the next reply, not by this one too. It streams to the sink in strict order
(start, append…, then finish or fail), and whatever happens — done, stopped, failed,
interrupted by a shutdown — it ends with one atomic store write that also marks the
messages it answers. A stop or a shutdown takes effect between platform calls, never inside
one: a call cut in half could post a message the sink never learns about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass, field, replace

from bot.errors import USER_MESSAGES, ErrorKind, ProviderError
from bot.history import HistoryStrategy
from bot.images import Images
from bot.logs import TURNS_LOGGER
from bot.meter import Meter
from bot.metrics import Metrics
from bot.ports import Provider, ReplySink, ShowsThinking, Store
from bot.slots import Slots, wait
from bot.types import Completion, Ending, NewMessage, Request, Thinking, ThreadKey, ThreadState

log = logging.getLogger(__name__)
# one line per reply's end (bot/logs.py lets it through in JSON, or in text at DEBUG)
turns_log = logging.getLogger(TURNS_LOGGER)

# Before any text is shown a failed request may be rebuilt this many times (a chain the server
# does not keep, then a history over its window): each retry asks the strategy for less.
RETRIES = 2


@dataclass(frozen=True, slots=True)
class Timeouts:
    """``first_token``: the deadline for the first text of a reply, the SDK's retries
    included, so a user hears back within it. ``idle``: the longest silence between two
    chunks once text flows — a long reply that keeps streaming is never cut."""

    first_token: float = 60.0
    idle: float = 60.0


@dataclass(slots=True)
class Round:
    """A reply being written: what a stop or a shutdown needs to reach it."""

    task: asyncio.Task[Completion] | None = None
    queued: asyncio.Future[None] | None = None  # waiting for a slot (bot/slots.py)
    parts: list[str] = field(default_factory=list)
    recorded: int = 0  # platform messages recorded as showing this reply
    request: Request | None = None  # the request that was answered (after any retry)
    in_sink: bool = False  # a platform call is under way: a cut waits for it to end
    thinking: bool = False  # the model is thinking since the last text (the sink was told)
    cut: Ending | None = None  # STOPPED or INTERRUPTED once asked
    # for the metrics and the turn's log line (time.monotonic(); 0: not yet)
    began: float = field(default_factory=time.monotonic)
    first_text_at: float = 0.0  # the first text went to the sink
    shown_at: float = 0.0  # the sink's last call (finish or fail) returned
    failure: str = ""  # the ErrorKind of a failed reply

    def ended(self, key: ThreadKey, ending: Ending, metrics: Metrics) -> None:
        """Count the reply that ended and log its line (a turn's end in structured logs)."""
        first = self.first_text_at - self.began if self.first_text_at else None
        final = self.shown_at - self.began if self.shown_at else None
        metrics.reply(ending, self.failure, first, final)
        extra: dict[str, object] = {"outcome": ending.value}
        if final is not None:
            extra["latency_ms"] = round(final * 1000)
        if first is not None:
            extra["first_text_ms"] = round(first * 1000)
        if self.failure:
            extra["error_kind"] = self.failure
        turns_log.info("reply in %s: %s", key, ending.value, extra=extra)

    def cut_short(self, ending: Ending) -> bool:
        """End the reply early with ``ending``; False if there is none in progress. A reply
        waiting for a slot leaves the queue and never starts."""
        if self.queued is not None and not self.queued.done():
            self.cut = ending
            self.queued.cancel()
            return True
        if self.task is None or self.task.done():
            return False
        self.cut = ending
        if not self.in_sink:
            self.task.cancel()
        return True


class Replier:
    def __init__(self, store: Store, provider: Provider, timeouts: Timeouts,
                 slots: Slots | None = None) -> None:
        self._store = store
        self._provider = provider
        self._timeouts = timeouts
        self._slots = slots or Slots(1_000_000)  # the process's, shared by its repliers

    async def reply(
        self, thread: ThreadState, history: HistoryStrategy, sink: ReplySink, round_: Round,
        meter: Meter, images: Images | None = None,
    ) -> Ending | None:
        """Answer what waits in ``thread``: how the reply ended, or None when there was
        nothing new to answer (the sink is then left untouched). ``images``: the engine's,
        which gives the request the bytes of the images it refers to.

        Past the process's cap the reply first waits for a slot (bot/slots.py), the sink
        untouched. Stopped while waiting, it ends STOPPED with nothing shown (the stop
        command answers); interrupted (a shutdown), it is left waiting in the store (None)."""
        waiter = self._slots.take()
        if waiter is not None:
            round_.queued = waiter
            try:
                taken = await wait(self._slots, waiter)
            finally:
                round_.queued = None
            if not taken:
                return round_.cut if round_.cut is Ending.STOPPED else None
        try:
            return await self._reply(thread, history, sink, round_, meter, images)
        finally:
            self._slots.give()

    async def _reply(
        self, thread: ThreadState, history: HistoryStrategy, sink: ReplySink, round_: Round,
        meter: Meter, images: Images | None,
    ) -> Ending | None:
        row = await self._store.begin_reply(thread)
        request = await history.request(thread, before=row)
        if not request.messages or request.messages[-1].role != "user":
            # Nothing said since the last reply (a reset, or a message already answered):
            # a request ending on the assistant's own words would make it talk to itself.
            await self._store.discard_reply(row)
            return None
        refused = await meter.admit(request)
        if refused is not None:
            # Answered by the refusal: an empty reply row marks exactly the messages this
            # round covers (never one stored meanwhile), and adds nothing to the context.
            empty = NewMessage(role="assistant", content="", tokens=0, ending=Ending.ANSWERED)
            await self._store.finish_reply(thread, row, empty)
            await _safely(sink.finish(refused))
            return Ending.ANSWERED
        # The platform shows "thinking" while the request is sent; the sink still sees its
        # calls in order: start, append…, then finish or fail.
        started = asyncio.ensure_future(self._start(sink, row, round_))
        round_.task = asyncio.create_task(
            self._generate(thread, history, request, row, sink, round_, started,
                           images or Images())
        )
        try:
            completion = await round_.task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this coroutine is being cancelled, not the reply cut short
            ending = round_.cut or Ending.STOPPED
            await _settled(started)
            await self._end(thread, history, row, "".join(round_.parts), ending)
            await meter.spent(round_.request or request, None, "".join(round_.parts))
            await self._shown(row, round_, sink.finish("".join(round_.parts), ending))
            return ending
        except Exception as exc:
            message = _failure(exc, thread.key)
            round_.failure = exc.kind if isinstance(exc, ProviderError) else ErrorKind.OTHER
            # Text already shown stays stored (marked), like a stop: it is what the user saw.
            await self._end(thread, history, row, "".join(round_.parts), Ending.FAILED)
            await meter.spent(round_.request or request, None, "".join(round_.parts))
            await _settled(started)
            await self._shown(row, round_, sink.fail(message))
            return Ending.FAILED
        finally:
            round_.task = None
        reply = NewMessage(
            role="assistant", content=completion.text, tokens=history.count(completion.text),
            response_id=completion.response_id, model=completion.model, usage=completion.usage,
            ending=Ending.ANSWERED,
        )
        await self._store.finish_reply(thread, row, reply)
        await history.after_reply(thread, round_.request or request, completion)
        footer = await meter.spent(round_.request or request, completion, completion.text)
        await _settled(started)
        await self._shown(row, round_, sink.finish(completion.text + footer))
        # Shown first: a compaction's model call never delays the answer on screen. It is
        # metered like the reply, charged to the same person (``Meter.again``).
        await history.compact(thread, meter.again())
        return Ending.ANSWERED

    async def _start(self, sink: ReplySink, row: int, round_: Round) -> None:
        """Show "thinking" and record what that posted (a placeholder a crash must not leave
        on screen), while the provider works on the first token."""
        await _safely(sink.start())
        await self._record(row, sink, round_)

    async def _record(self, row: int, sink: ReplySink, round_: Round) -> None:
        if len(sink.refs) != round_.recorded:
            round_.recorded = len(sink.refs)
            await self._store.set_refs(row, sink.refs)

    async def _shown(self, row: int, round_: Round, last_call: Awaitable[None]) -> None:
        """Make the sink's last call; once it has shown the end, the platform messages
        need no tidying after a crash. (The reply is stored first: a crash in between
        leaves a stored reply whose messages a restart closes.)"""
        await _safely(last_call)
        round_.shown_at = time.monotonic()
        if round_.recorded:
            await self._store.set_refs(row, [])

    async def one_shot(self, request: Request, sink: ReplySink, meter: Meter) -> str | None:
        """Stream a request that is not part of the conversation (summaries)."""
        refused = await meter.admit(request)
        if refused is not None:
            await _safely(sink.finish(refused))
            return None
        started = asyncio.ensure_future(_safely(sink.start()))
        round_ = Round()
        try:
            completion = await self._stream(request, sink, round_, started)
        except Exception as exc:
            message = _failure(exc, "a summary")
            await meter.spent(request, None, "".join(round_.parts))
            await _settled(started)
            await _safely(sink.fail(message))
            return None
        footer = await meter.spent(request, completion, completion.text)
        await _settled(started)
        await _safely(sink.finish(completion.text + footer))
        return completion.text

    async def _generate(
        self,
        thread: ThreadState,
        history: HistoryStrategy,
        request: Request,
        row: int,
        sink: ReplySink,
        round_: Round,
        started: asyncio.Future[None],
        images: Images,
    ) -> Completion:
        for _ in range(RETRIES):
            # the images' bytes, fetched again if need be, while the platform shows "thinking"
            request = await _with_image_bytes(images, thread, request)
            round_.request = request
            try:
                return await self._stream(request, sink, round_, started, row=row)
            except ProviderError as exc:
                retry = None if round_.parts else await history.retry(thread, request, exc, before=row)
                if retry is None:
                    raise
                request = retry
        round_.request = await _with_image_bytes(images, thread, request)
        return await self._stream(round_.request, sink, round_, started, row=row)

    async def _stream(
        self,
        request: Request,
        sink: ReplySink,
        round_: Round,
        started: asyncio.Future[None],
        *,
        row: int | None = None,
    ) -> Completion:
        """Relay deltas to the sink, recording the platform messages it posts on the way."""
        async with (
            contextlib.aclosing(self._provider.stream(request)) as stream,
            contextlib.aclosing(self._paced(stream)) as items,
        ):
            async for item in items:
                if isinstance(item, Completion):
                    return item
                round_.in_sink = True
                try:
                    if not round_.parts:
                        await started
                    await self._deliver(item, sink, round_, row)
                finally:
                    round_.in_sink = False
                if round_.cut is not None:
                    raise asyncio.CancelledError
        raise ProviderError(ErrorKind.OTHER, "stream ended without a completion")

    async def _deliver(
        self, item: str | Thinking, sink: ReplySink, round_: Round, row: int | None
    ) -> None:
        """One delta to the sink. Each stretch of thinking is told once to a sink that can
        show it (``ShowsThinking``: before the first text, one whose ``start`` showed nothing
        says so now; the thinking itself never reaches a sink)."""
        if isinstance(item, Thinking):
            if not round_.thinking and isinstance(sink, ShowsThinking):
                await _safely(sink.thinking())
            round_.thinking = True
            return
        round_.thinking = False
        if not round_.parts:
            round_.first_text_at = time.monotonic()
        round_.parts.append(item)
        await sink.append(item)
        if row is not None:
            await self._record(row, sink, round_)

    async def _paced(
        self, stream: AsyncIterator[str | Thinking | Completion]
    ) -> AsyncGenerator[str | Thinking | Completion, None]:
        """The provider's items, with the first-token deadline and the idle timeout."""
        limit = self._timeouts.first_token
        while True:
            try:
                async with asyncio.timeout(limit):
                    item = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ProviderError(ErrorKind.TIMEOUT, f"no text within {limit:g} s") from None
            limit = self._timeouts.idle
            yield item

    async def _end(
        self, thread: ThreadState, history: HistoryStrategy, row: int, text: str, ending: Ending
    ) -> None:
        """Store a reply that did not complete, with what was shown of it."""
        reply = NewMessage(
            role="assistant", content=text if text.strip() else "",
            tokens=history.count(text) if text.strip() else 0, model=history.model,
            ending=ending,
        )
        await self._store.finish_reply(thread, row, reply)
        await history.after_unfinished(thread)


async def _with_image_bytes(images: Images, thread: ThreadState, request: Request) -> Request:
    if not any(m.images for m in request.messages):
        return request
    messages = await images.filled(thread.key.platform, request.messages)
    return replace(request, messages=messages)


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
