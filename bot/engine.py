"""The engine: turns in order per thread, concurrent across threads.

A turn is stored before anything that can be cut (so a crash or a provider error never loses
what the user said) and waits for an answer in the store, not in memory: every reply marks
what it answered in the same write that stores it, so after a crash or a deploy the next
process answers exactly what is still waiting (``resume``). The store's unique platform id
turns a redelivery into a no-op. While a thread is answering, new messages are stored at once
and answered together in the next reply. Per-thread state exists only while a reply runs.

Several processes (replicas) may share one store: a thread's *lease* in the store says which
one answers it. The others only store what they receive; the holder answers everything
waiting after each reply, also what another replica stored (into a sink its platform's
``Resumer`` gives), and releases the lease when nothing waits. ``bot/upkeep.py`` renews the
leases, passes on ``/stop`` typed elsewhere and takes over what a dead replica left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.history import Histories
from bot.ports import Provider, ReplySink, Resumer, Store
from bot.replying import Replier, Round, Timeouts
from bot.types import (
    Command,
    CommandName,
    Ending,
    NewMessage,
    ThreadKey,
    ThreadState,
    Turn,
    Unfinished,
)
from bot.upkeep import Upkeep

log = logging.getLogger(__name__)

EMPTY_TEXT = "Send me a message with some text and I'll answer."
NOTHING_TO_SUMMARIZE = "There's nothing to summarize yet."


@dataclass(slots=True)
class _Active:
    """A thread with a reply in progress: the round being written and the sink that the
    next round answers into (the newest message's)."""

    next_sink: ReplySink | None
    thread_id: int = 0  # whose lease this process holds while it answers
    round: Round | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Engine:
    """Orchestrates order, coalescing, stop, shutdown and the sink; what a request contains
    and what happens to the chain is the thread's history strategy's business."""

    def __init__(
        self,
        store: Store,
        provider: Provider,
        histories: Histories,
        *,
        timeouts: Timeouts | None = None,
        lease_s: float = 30.0,
    ) -> None:
        self._store = store
        self._histories = histories
        self._replier = Replier(store, provider, timeouts or Timeouts())
        self._active: dict[ThreadKey, _Active] = {}
        self._closing = False
        # who holds a lease: unique per process, readable in the database by an operator
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.lease_s = lease_s
        self._upkeep = Upkeep(self, store)

    # --- turns ---
    async def handle(self, turn: Turn, sink: ReplySink) -> None:
        """Store ``turn`` and answer it (see the module docstring for coalescing)."""
        if not turn.addressed:
            await self.remember([turn])
        elif not turn.text.strip():
            await self._hint(turn, sink)
        else:
            thread = await self.accept(turn)
            if thread is not None:
                await self.answer(turn.key, sink, thread=thread)

    async def accept(self, turn: Turn) -> ThreadState | None:
        """Store an addressed message as waiting for an answer; durable when this returns.
        None when it was stored before (a redelivery). Adapters that must acknowledge a
        platform event call this before the acknowledgement, and ``answer`` after it."""
        thread, row = await self._store.add_to(
            turn.key, self._histories.default.name, self._stored(turn, awaits_answer=True)
        )
        if row is None:
            log.info("duplicate delivery of %s in %s ignored", turn.message_id, turn.key)
            return None
        return thread

    async def answer(
        self, key: ThreadKey, sink: ReplySink | None, *, thread: ThreadState | None = None,
        work: Unfinished | None = None,
    ) -> None:
        """Answer everything waiting in ``key`` into ``sink``; if a reply is running there,
        the next round answers into ``sink`` instead. ``thread``: the state just stored to,
        which spares a lookup and says there is something to answer. ``work``: what a dead
        process left there, tidied up first. Nothing happens here when another process
        holds the thread's lease: it answers what waits after its reply."""
        active = self._active.get(key)
        if active is not None:
            active.next_sink = sink or active.next_sink
            return
        if self._closing:
            return  # it stays waiting in the store: the next process answers it
        active = self._active[key] = _Active(next_sink=sink)
        self._upkeep.start()
        try:
            await self._hold(key, active, thread, work)
        finally:
            del self._active[key]
            active.done.set()

    async def _hold(
        self, key: ThreadKey, active: _Active, thread: ThreadState | None, work: Unfinished | None
    ) -> None:
        """Take the thread's lease and answer until nothing waits. After the lease is given
        up the store is asked again: a message another process stored while this one held
        the lease is this one's to answer (that process could not take the lease)."""
        while not self._closing:
            if thread is None:
                thread = await self._store.get_thread(key)
                if thread is None:
                    return
                waiting = await self._store.waiting(thread)
                if active.next_sink is None and waiting is not None:
                    active.next_sink = self._upkeep.sink_for(waiting)
                if active.next_sink is None and work is None:
                    return  # nothing waits, or no platform of this process can answer it
            if not await self._store.claim(thread.id, self.holder, self.lease_s):
                return  # another process answers this thread
            active.thread_id = thread.id
            try:
                if work is not None:
                    await self._upkeep.tidy(work)
                    work = None
                await self._rounds(key, active, thread)
            except BaseException:
                await self._store.release(thread, self.holder)
                raise
            if await self._store.release(thread, self.holder) is None:
                return
            thread = None

    async def _rounds(self, key: ThreadKey, active: _Active, thread: ThreadState | None) -> None:
        while active.next_sink is not None and not self._closing:
            sink, active.next_sink = active.next_sink, None
            current = thread or await self._store.get_thread(key)
            if current is None or (thread is None and not await self._store.waiting(current)):
                continue  # answered by the round that just ended
            thread = None
            active.round = Round()
            ending = await self._replier.reply(
                current, self._histories.of(current), sink, active.round
            )
            if ending is Ending.STOPPED:
                await self._store.settle(current)  # stop means quiet: nothing waits now

    async def settle(self, key: ThreadKey) -> None:
        """Nothing in ``key`` waits for an answer any more (its messages moved elsewhere)."""
        thread = await self._store.get_thread(key)
        if thread is not None:
            await self._store.settle(thread)

    async def remember(self, turns: Sequence[Turn], *, bot_user_id: str = "") -> None:
        """Store turns as context without answering (duplicates ignored)."""
        by_key: dict[ThreadKey, list[NewMessage]] = {}
        for turn in turns:
            if not turn.text.strip():
                continue
            own = bool(bot_user_id) and turn.author_id == bot_user_id
            role: Literal["user", "assistant"] = "assistant" if own else "user"
            by_key.setdefault(turn.key, []).append(self._stored(turn, role=role))
        for key, messages in by_key.items():
            thread = await self._store.ensure_thread(key, self._histories.default.name)
            await self._store.add_many(thread, messages)

    async def follows(self, key: ThreadKey) -> bool:
        """Whether the bot has a conversation in this thread (survives restarts)."""
        return await self._store.get_thread(key) is not None

    async def once(self, key: ThreadKey, event_id: str, kind: str) -> bool:
        """True the first time platform event ``event_id`` (a command, a hint) is handled
        in ``key``, False for a redelivery, also after a restart; True without an id."""
        return not event_id or await self._store.first_time(key, event_id, kind)

    # --- commands ---
    async def command(self, command: Command, sink: ReplySink) -> None:
        """Reset, summarize or stop a conversation, once per platform message. Help is the
        adapter's to answer: only it knows how commands are typed on its platform."""
        name = command.name
        if name is CommandName.HELP:
            raise ValueError("help is answered by the adapter (adapters/common/help.py)")
        if not await self.once(command.key, command.message_id, f"command:{name}"):
            log.info("duplicate %s command %s ignored", name, command.message_id)
            return
        if name is CommandName.STOP:
            stopped = self.stop(command.key) or await self._stop_elsewhere(command.key)
            await sink.finish("Stopped." if stopped else "Nothing to stop.")
        elif name is CommandName.RESET:
            thread = await self._store.get_thread(command.key)
            if thread is not None:
                await self._store.reset(thread.id)
                await self._store.settle(thread)  # what waited belonged to the old conversation
            await sink.finish("Conversation reset: I've forgotten everything said here before.")
        elif name is CommandName.SUMMARIZE:
            await self._summarize(command.key, sink)

    def stop(self, key: ThreadKey) -> bool:
        """Cut the reply being generated in ``key`` short; messages waiting for the next
        reply are left unanswered too (stop means quiet). True if something was stopped."""
        active = self._active.get(key)
        if active is None or active.round is None or not active.round.cut_short(Ending.STOPPED):
            return False
        active.next_sink = None
        return True

    async def _stop_elsewhere(self, key: ThreadKey) -> bool:
        """Ask the process that holds the thread's lease to stop (it checks every
        ``upkeep.STOP_POLL_S``): a stop typed on one replica reaches the reply on another."""
        if key in self._active:
            return False
        thread = await self._store.get_thread(key)
        return thread is not None and await self._store.request_stop(thread.id)

    async def summarize_transcript(self, turns: Sequence[Turn], sink: ReplySink) -> None:
        """Summarise messages that are not in the store (e.g. a Slack channel catch-up)."""
        lines = [(t.author_name, t.text) for t in turns if t.text.strip()]
        if not lines:
            await sink.finish(NOTHING_TO_SUMMARIZE)
            return
        await self._replier.one_shot(self._histories.default.transcript_request(lines), sink)

    # --- restarts and shutdown ---
    async def resume(self, platform: str, resumer: Resumer) -> list[asyncio.Task[None]]:
        """Take over what no process is answering on ``platform`` (after a restart): tidy
        up replies left half-written and answer, in order and coalesced, what waits; from
        now on the upkeep does the same for what other replicas leave. Returns the answers
        started, one per conversation, running in the background."""
        return await self._upkeep.resume(platform, resumer)

    def busy(self, key: ThreadKey) -> bool:
        """Whether this process is answering ``key`` right now."""
        return key in self._active or self._closing

    def held(self) -> dict[int, Round | None]:
        """The threads this process answers (by row id) and the round each is writing."""
        return {a.thread_id: a.round for a in self._active.values() if a.thread_id}

    async def close(self, grace: float) -> None:
        """Shut down: start no new reply, let replies in flight finish for ``grace``
        seconds, then end the rest with their text so far, marked interrupted. Messages
        that arrive meanwhile are still stored and wait for the next process."""
        self._closing = True
        running = [asyncio.create_task(a.done.wait()) for a in self._active.values()]
        if not running:
            await self._upkeep.stop()
            return
        done, late = await asyncio.wait(running, timeout=grace)
        if late:
            log.info("interrupting %d reply(s) still running after %g s", len(late), grace)
            for active in list(self._active.values()):
                if active.round is not None:
                    active.round.cut_short(Ending.INTERRUPTED)
            await asyncio.wait(late, timeout=10)
        await self._upkeep.stop()

    # --- internals ---
    async def _hint(self, turn: Turn, sink: ReplySink) -> None:
        """An empty message addressed to the bot: a one-line hint, once per message. The
        conversation exists from now on, so a follow-up in the thread is answered."""
        await self._store.ensure_thread(turn.key, self._histories.default.name)
        if await self.once(turn.key, turn.message_id, "hint"):
            await sink.finish(EMPTY_TEXT)

    async def _summarize(self, key: ThreadKey, sink: ReplySink) -> None:
        thread = await self._store.get_thread(key)
        request = await self._histories.of(thread).summary_request(thread) if thread else None
        if request is None or thread is None:
            await sink.finish(NOTHING_TO_SUMMARIZE)
            return
        text = await self._replier.one_shot(request, sink)
        if text is not None:
            summary = NewMessage(role="summary", content=text, tokens=0, model=request.model)
            await self._store.add(thread, summary)

    def _stored(
        self, turn: Turn, *, role: Literal["user", "assistant"] = "user", awaits_answer: bool = False
    ) -> NewMessage:
        return NewMessage(
            role=role,
            content=turn.text,
            tokens=self._histories.count(turn.text),
            author_id=turn.author_id,
            author_name=turn.author_name,
            platform_message_id=turn.message_id,
            awaits_answer=awaits_answer,
            # the bot's own earlier messages (read back from the platform) are finished
            # replies, not ones a dead process was writing
            ending=Ending.ANSWERED if role == "assistant" else None,
            at=turn.at,
        )
