"""What a running process does besides answering, for the processes sharing its store.

Every ``STOP_POLL_S`` while it answers anything: pass on a ``/stop`` typed on another
replica (the store flags the lease) to the reply being written here. Every third of the
lease: renew this process's leases in one write (a reply that lost its lease — the process
stalled past it and another took over — is cut short rather than answered twice). Every
``SWEEP_S``: take over conversations no live process has answered since the last sweep (a
replica died, or its lease expired). A store error is logged and tried again next tick;
it never ends the upkeep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.types import Ending

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.ports import Store

log = logging.getLogger(__name__)

STOP_POLL_S = 0.25  # a stop typed on another replica takes effect within about this
SWEEP_S = 5.0  # at most; a short lease sweeps more often


class Upkeep:
    def __init__(self, engine: Engine, store: Store) -> None:
        self._engine = engine
        self._store = store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        engine = self._engine
        renewed = swept = time.monotonic()
        sweep_s = min(SWEEP_S, engine.lease_s / 2)
        while True:
            await asyncio.sleep(STOP_POLL_S)
            now = time.monotonic()
            try:
                if engine.held():
                    await self._pass_on_stops()
                if now - renewed >= engine.lease_s / 3:
                    renewed = now
                    await self._renew()
                if now - swept >= sweep_s:
                    swept = now
                    await engine.sweep()
            except Exception as exc:  # the store is unreachable for a moment: next tick
                log.warning("upkeep failed (%s: %s); trying again", type(exc).__name__, exc)

    async def _pass_on_stops(self) -> None:
        engine = self._engine
        asked = await self._store.stops_requested(engine.holder)
        for thread_id, round_ in engine.held().items():
            if thread_id in asked and round_ is not None:
                round_.cut_short(Ending.STOPPED)

    async def _renew(self) -> None:
        engine = self._engine
        held = engine.held()
        if not held:
            return
        still = await self._store.renew(engine.holder, engine.lease_s)
        for thread_id, round_ in held.items():
            if thread_id not in still and round_ is not None and round_.cut_short(Ending.INTERRUPTED):
                log.warning("lost the lease of thread %d (this process stalled longer than "
                            "THREADBOT_LEASE_S); its reply is cut short", thread_id)
