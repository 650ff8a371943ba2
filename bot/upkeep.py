"""What a running process does besides answering, for the processes sharing its store.

After a restart, and whenever another replica dies, conversations are left that no process
answers: replies half-written on screen and messages waiting. The platforms' ``Resumer``s
(registered by ``resume``) tidy the screen up and give sinks to answer in.

Every ``STOP_POLL_S`` while it answers anything: pass on a ``/stop`` typed on another
replica (the store flags the lease) to the reply being written here. Every third of the
lease: renew this process's leases in one write (a reply that lost its lease — the process
stalled past it and another took over — is cut short rather than answered twice). Every
``SWEEP_S``: take over conversations no live process has answered since the last sweep (a
replica died, or its lease expired). Every ``RETAIN_EVERY_S`` with THREADBOT_RETENTION_DAYS:
delete messages older than that (every replica runs it; a purge is idempotent and the store
serialises it with the threads' writes, so two at once delete each message once). A store
error is logged and tried again next tick; it never ends the upkeep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol

from bot.ports import ReplySink, Resumer, Store
from bot.replying import Round
from bot.types import Ending, Purge, ThreadKey, Unfinished, utcnow

log = logging.getLogger(__name__)

STOP_POLL_S = 0.25  # a stop typed on another replica takes effect within about this
SWEEP_S = 5.0  # at most; a short lease sweeps more often
RETAIN_EVERY_S = 3600.0  # how often old messages are deleted (THREADBOT_RETENTION_DAYS)


class Answering(Protocol):
    """What the upkeep needs of the engine it serves (``bot.engine.Engine``)."""

    holder: str
    lease_s: float

    async def answer(self, key: ThreadKey, sink: ReplySink | None, *,
                     work: Unfinished | None = None) -> None: ...

    def busy(self, key: ThreadKey) -> bool: ...

    def held(self) -> dict[int, Round | None]: ...


class Upkeep:
    def __init__(self, engine: Answering, store: Store, *,
                 retention_days: float | None = None) -> None:
        self._engine = engine
        self._store = store
        self._retention_days = retention_days
        self._tasks: list[asyncio.Task[None]] = []
        self._resumers: dict[str, Resumer] = {}
        self._unanswered: set[ThreadKey] = set()  # unfinished at the last sweep
        self._answers: set[asyncio.Task[None]] = set()  # conversations taken over

    # --- taking over ---
    async def resume(self, platform: str, resumer: Resumer) -> list[asyncio.Task[None]]:
        """See ``Engine.resume``: everything unfinished on ``platform``, at once."""
        self._resumers[platform] = resumer
        self.start()
        return self._take_over(await self._store.unfinished(), {platform})

    async def sweep(self) -> None:
        """Take over what no process holds and nobody answered for a whole sweep: seen
        unfinished twice in a row, so a replica that has just stored a message and is about
        to take the thread's lease is not raced (its sink may matter: a Discord thread it
        is opening)."""
        work = await self._store.unfinished()
        seen, self._unanswered = self._unanswered, {w.key for w in work}
        self._take_over([w for w in work if w.key in seen], set(self._resumers))

    def _take_over(
        self, unfinished: Sequence[Unfinished], platforms: set[str]
    ) -> list[asyncio.Task[None]]:
        started: list[asyncio.Task[None]] = []
        for work in unfinished:
            if work.key.platform not in platforms or self._engine.busy(work.key):
                continue  # another platform's, or being answered by this process right now
            sink = self.sink_for(work)
            if sink is None:
                continue
            task = asyncio.create_task(self._engine.answer(work.key, sink, work=work))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)
            started.append(task)
        if started:
            log.info("taking over %d conversation(s) no process was answering", len(started))
        return started

    def sink_for(self, work: Unfinished) -> ReplySink | None:
        """A sink in ``work.key``'s conversation from its platform's resumer (None when no
        platform of this process can answer there)."""
        resumer = self._resumers.get(work.key.platform)
        return resumer.sink_for(work) if resumer is not None else None

    async def tidy(self, work: Unfinished) -> None:
        """Put right on screen what a dead process left (called under the lease)."""
        resumer = self._resumers.get(work.key.platform)
        if resumer is None:
            return
        if work.shown_refs:
            await resumer.tidy(work.key, work.shown_refs, work.shown_text)
        if work.open_refs:
            await resumer.tidy(work.key, work.open_refs, None)
        await self._store.tidied(work.key)

    # --- the loop ---
    def start(self) -> None:
        """Loops of their own, so a slow sweep (a busy database) never delays a
        renewal past the lease, nor a stop."""
        if not self._tasks:
            lease_s = self._engine.lease_s
            self._tasks = [
                asyncio.create_task(self._every(STOP_POLL_S, self._pass_on_stops)),
                asyncio.create_task(self._every(lease_s / 3, self._renew)),
                asyncio.create_task(self._every(min(SWEEP_S, lease_s / 2), self.sweep)),
            ]
            if self._retention_days:
                # at start too: a process restarted more often than hourly still deletes
                self._tasks.append(asyncio.create_task(
                    self._every(RETAIN_EVERY_S, self.retain, first=0.0)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[None]], *,
                     first: float | None = None) -> None:
        wait = seconds if first is None else first
        while True:
            await asyncio.sleep(wait)
            wait = seconds
            try:
                await work()
            except Exception as exc:  # the store is unreachable for a moment: next time
                log.warning("upkeep failed (%s: %s); trying again", type(exc).__name__, exc)

    async def stop_elsewhere(self, key: ThreadKey) -> bool:
        """Ask the process that holds the thread's lease to stop (``_pass_on_stops`` there
        checks every ``STOP_POLL_S``): a stop typed on one replica reaches the reply on
        another."""
        thread = await self._store.get_thread(key)
        return thread is not None and await self._store.request_stop(thread.id)

    async def _pass_on_stops(self) -> None:
        engine = self._engine
        if not engine.held():
            return
        asked = await self._store.stops_requested(engine.holder)
        for thread_id, round_ in engine.held().items():
            if thread_id in asked and round_ is not None:
                round_.cut_short(Ending.STOPPED)

    async def _renew(self) -> None:
        engine = self._engine
        held = engine.held()
        if not held:
            return
        still = await self._store.renew(engine.holder, held.keys(), engine.lease_s)
        for thread_id, round_ in held.items():
            if thread_id not in still and round_ is not None and round_.cut_short(Ending.INTERRUPTED):
                log.warning("lost the lease of thread %d (this process stalled longer than "
                            "THREADBOT_LEASE_S); its reply is cut short", thread_id)

    # --- retention ---
    async def retain(self) -> None:
        """Delete the messages older than THREADBOT_RETENTION_DAYS; threads with a reply
        being written are left for the next run."""
        if not self._retention_days:
            return
        cutoff = utcnow() - timedelta(days=self._retention_days)
        purged = await self._store.purge(Purge(older_than=cutoff))
        if purged.messages or purged.skipped:
            log.info("retention: deleted %d message(s) older than %g days in %d thread(s); "
                     "%d thread(s) with a reply being written left for the next run",
                     purged.messages, self._retention_days, purged.threads, len(purged.skipped))
