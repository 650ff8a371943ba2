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

The admin controls (``bot/admin/``) decide who is answered at all (``accept``: a refused
author's message is not stored), which settings a place's replies use (its profile:
provider, model, prompt, strategy, budgets), and whether each model call may go ahead (the
reply's meter: quotas, the spend cap) and what it cost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from bot import forgetting
from bot.admin import chat
from bot.admin.gate import Asker, Gate
from bot.admin.profiles import Profile, Profiles
from bot.health import Health
from bot.images import Images
from bot.logs import bind
from bot.metrics import Load, Metrics, NoMetrics
from bot.ports import ReplySink, Resumer, Store
from bot.replying import Round
from bot.summaries import Summaries
from bot.types import (
    Command,
    CommandName,
    Ending,
    NewMessage,
    Refusal,
    ThreadKey,
    ThreadState,
    Turn,
    Unfinished,
)
from bot.upkeep import Upkeep

log = logging.getLogger(__name__)

EMPTY_TEXT = "Send me a message with some text and I'll answer."


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
        self, store: Store, profiles: Profiles, gate: Gate, *, lease_s: float = 30.0,
        metrics: Metrics | None = None, health: Health | None = None,
        retention_days: float | None = None,
    ) -> None:
        self._store = store
        self.metrics = metrics or NoMetrics()
        self.health = health or Health()
        self._load = Load(self.metrics)
        self._profiles = profiles
        self.gate = gate
        self._summaries = Summaries(store, profiles, gate)
        self._active: dict[ThreadKey, _Active] = {}
        self._closing = False
        self._announced = False
        # who holds a lease: unique per process, readable in the database by an operator
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.lease_s = lease_s
        self._upkeep = Upkeep(self, store, retention_days=retention_days)
        # the bytes of recent images, and where the adapters fetch older ones again
        self.images = Images()

    # --- turns ---
    async def handle(self, turn: Turn, sink: ReplySink) -> None:
        """Store ``turn`` and answer it (see the module docstring for coalescing)."""
        if not turn.addressed:
            await self.remember([turn])
        elif not turn.text.strip() and not self.refused(turn):
            await self._hint(turn, sink)
        else:
            thread = await self.accept(turn)
            if isinstance(thread, Refusal) and thread.text:
                await sink.finish(thread.text)
            elif isinstance(thread, ThreadState):
                await self.answer(turn.key, sink, thread=thread)

    def refused(self, turn: Turn) -> bool:
        """Whether the access rules refuse ``turn``'s author here (no I/O): adapters skip
        work done only to answer (reading a thread, opening one)."""
        return self.gate.refused(turn.key, turn.author_id, turn.origin) is not None

    async def accept(self, turn: Turn) -> ThreadState | Refusal | None:
        """Store an addressed message as waiting for an answer; durable when this returns.
        None when it was stored before (a redelivery). Adapters that must acknowledge a
        platform event call this before the acknowledgement, and ``answer`` after it.

        A Refusal when the author may not use the bot here: nothing is stored (no
        conversation starts, the bot keeps nothing of theirs) and the text to show is
        given the first time in each conversation, "" after."""
        bind(thread_key=str(turn.key), message_id=turn.message_id)
        refusal = self.gate.refused(turn.key, turn.author_id, turn.origin)
        if refusal is not None:
            first = await self.once(turn.key, f"refused:{turn.author_id}", "refusal")
            log.info("refused a message from %s in %s (access rules)", turn.author_id, turn.key)
            return Refusal(refusal if first else "")
        self.gate.note(turn.key, turn.author_id, turn.origin)
        profile = self._profile_now(turn)
        thread, row = await self._store.add_to(
            turn.key, profile.histories.default.name,
            self._stored(turn, profile, awaits_answer=True),
        )
        if row is None:
            log.info("duplicate delivery of %s in %s ignored", turn.message_id, turn.key)
            return None
        self.metrics.turn(turn.key.platform)
        self._load.stored(turn.key)
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
            self._load.done(key)
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
            waiting = await self._store.waiting(current) if current and not thread else None
            if current is None or (thread is None and waiting is None):
                continue  # answered by the round that just ended
            thread = None
            active.round = Round()
            self._load.started(key)  # the round answers everything stored so far
            place = await self.gate.place(key)
            profile = self._profiles.of(place)
            asker = await self._asker(current, waiting)
            meter = self.gate.meter(place, current.id, asker, profile.histories.count)
            ending = await profile.replier.reply(
                current, profile.histories.of(current), sink, active.round, meter,
                images=self.images,
            )
            if ending is not None:
                active.round.ended(key, ending, self.metrics)
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
            by_key.setdefault(turn.key, []).append(
                self._stored(turn, self._profiles.default, role=role))
        for key, messages in by_key.items():
            default = self._profiles.default.histories.default.name
            thread = await self._store.ensure_thread(key, default)
            await self._store.add_many(thread, messages)

    async def follows(self, key: ThreadKey) -> bool:
        """Whether the bot has a conversation in this thread (survives restarts)."""
        return await self._store.get_thread(key) is not None

    async def cannot_see(self, turn: Turn) -> str:
        """What to tell the author of ``turn`` when it carries images the model here cannot
        see: once per conversation and model (its answer only knows the images' names);
        "" otherwise. Adapters show it before the answer. The model is the one the answer
        goes to: the place's, with what was set from chat (a thread's ``model`` switch)."""
        if not turn.images:
            return ""
        place = await self.gate.place(turn.key, turn.origin)
        model = self._profiles.of(place).histories.default
        if model.sees_images:
            return ""
        if not await self.once(turn.key, f"no-images:{model.model}", "notice"):
            return ""
        return f"I can't see images with the model {model.model}: I only know their names."

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
        self.metrics.command(name.value)
        refusal = self.gate.refused(command.key, command.author_id, command.origin)
        if refusal is not None:
            await sink.finish(refusal)
        elif name in chat.COMMANDS:
            await sink.finish(await chat.answer(self.gate, self._store, command))
        elif name is CommandName.STOP:
            stopped = self.stop(command.key) or (
                command.key not in self._active and await self._upkeep.stop_elsewhere(command.key))
            await sink.finish("Stopped." if stopped else "Nothing to stop.")
        elif name is CommandName.RESET:
            await sink.finish(await forgetting.reset(self._store, command.key))
        elif name is CommandName.SUMMARIZE:
            await self._summaries.thread(command, sink)
        elif name is CommandName.FORGET:
            await sink.finish(await forgetting.forget(self.gate, self._store, command))

    def stop(self, key: ThreadKey) -> bool:
        """Cut the reply being generated in ``key`` short; messages waiting for the next
        reply are left unanswered too (stop means quiet). True if something was stopped."""
        active = self._active.get(key)
        if active is None or active.round is None or not active.round.cut_short(Ending.STOPPED):
            return False
        active.next_sink = None
        return True

    async def summarize_transcript(
        self, turns: Sequence[Turn], sink: ReplySink, *, command: Command | None = None
    ) -> str | None:
        """Summarise messages that are not in the store (e.g. a Slack channel catch-up),
        for ``command``'s author where the adapter has it (access rules and quotas): the
        summary, or None when there is none (refused, failed, nothing to summarise)."""
        return await self._summaries.transcript(turns, sink, command)

    # --- restarts and shutdown ---
    async def resume(self, platform: str, resumer: Resumer) -> list[asyncio.Task[None]]:
        """Take over what no process is answering on ``platform`` (after a restart): tidy
        up replies left half-written and answer, in order and coalesced, what waits; from
        now on the upkeep does the same for what other replicas leave. Returns the answers
        started, one per conversation, running in the background."""
        if not self._announced and platform != "console":  # once a platform is up
            self._announced = True
            log.info(self.gate.describe_access())
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
        for active in self._active.values():  # a reply waiting for a slot never starts now
            if active.round is not None and active.round.queued is not None:
                active.round.cut_short(Ending.INTERRUPTED)
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
        await self._store.ensure_thread(turn.key, self._profile_now(turn).histories.default.name)
        if await self.once(turn.key, turn.message_id, "hint"):
            await sink.finish(EMPTY_TEXT)

    def _profile_now(self, turn: Turn) -> Profile:
        """The profile for a new message's place, from the configuration alone (a thread's
        strategy is fixed when it starts; chat-set settings apply from its first reply)."""
        return self._profiles.of(self.gate.place_now(turn.key, turn.origin))

    async def _asker(self, thread: ThreadState, waiting: Unfinished | None) -> Asker:
        """Who asked last in ``thread``: this process's memory of the turn (with roles),
        when it agrees with the store about who it was."""
        noted = self.gate.asker(thread.key)
        if waiting is None and noted is not None:
            return noted  # the turn this process just stored
        if waiting is None:
            waiting = await self._store.waiting(thread)
        user = waiting.last_author_id if waiting else (noted.user_id if noted else "")
        return noted if noted is not None and noted.user_id == user else Asker(user)

    def _stored(
        self, turn: Turn, profile: Profile, *, role: Literal["user", "assistant"] = "user",
        awaits_answer: bool = False,
    ) -> NewMessage:
        self.images.keep(turn.images)  # the bytes, for the requests that may re-send them
        return NewMessage(
            role=role,
            content=turn.text,
            tokens=profile.histories.count(turn.text),
            author_id=turn.author_id,
            author_name=turn.author_name,
            platform_message_id=turn.message_id,
            awaits_answer=awaits_answer,
            # the bot's own earlier messages (read back from the platform) are finished
            # replies, not ones a dead process was writing
            ending=Ending.ANSWERED if role == "assistant" else None,
            at=turn.at,
            images=tuple(replace(image, data=b"") for image in turn.images),
        )
