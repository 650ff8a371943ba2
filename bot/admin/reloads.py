"""Reloading the configuration without a restart: on SIGHUP, and when `threadbot reload`
asks through the store (so it reaches every replica on every host, each re-reading its own
file). A reply in flight keeps the settings it started with. The same poll learns which
places other replicas changed settings for from chat (``remembered.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.admin.gate import Gate
from bot.ports import Store
from bot.types import utcnow

log = logging.getLogger("threadbot")

PLACE, NAME = "*", "reload"  # the place setting `threadbot reload` writes
POLL_S = 2.0


async def request_reload(store: Store) -> None:
    """What `threadbot reload` does: every process on this store reloads within POLL_S."""
    await store.set_place_setting(PLACE, NAME, utcnow().isoformat(), "threadbot reload")


async def _asked(store: Store) -> str | None:
    rows = await store.place_settings([PLACE])
    return next((r.value for r in rows if r.name == NAME), None)


async def _watch(gate: Gate, store: Store) -> None:
    seen = await _asked(store)
    while True:
        await asyncio.sleep(POLL_S)
        try:
            asked = await _asked(store)
        except Exception:  # a database hiccup: ask again next time
            log.debug("could not read reload requests", exc_info=True)
            continue
        if asked is not None and asked != seen:
            seen = asked
            gate.reload()
        try:
            await gate.chat.refresh()  # other replicas' chat-set settings
        except Exception:
            log.debug("could not read which places have settings", exc_info=True)


@asynccontextmanager
async def reloading(gate: Gate, store: Store) -> AsyncIterator[None]:
    """Reload on SIGHUP and on `threadbot reload` while the block runs."""
    loop = asyncio.get_running_loop()
    hup = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, gate.reload)
        hup = True
    await gate.chat.refresh()
    watcher = asyncio.create_task(_watch(gate, store), name="config-reloads")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
