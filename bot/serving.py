"""Serving the configured platforms side by side until SIGTERM/SIGINT.

A platform that fails for a reason the admin cannot fix (a dropped connection, a bug, a
malformed event the SDK chokes on) is logged and started again with backoff; it never takes
the other platforms down. Only a ConfigError (a bad token, a refused intent) stops the
process, with one line. On SIGTERM the engine first lets replies in flight finish for the
grace period, then interrupts the rest, while the platforms are still connected to show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from bot.engine import Engine
from bot.errors import ConfigError
from bot.platform import Platform

log = logging.getLogger("threadbot")

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # then every 60 s
HEALTHY_AFTER = 60.0  # a platform that ran this long starts over at the first delay


async def serve(
    engine: Engine, platforms: Sequence[tuple[Platform[Any], Any]], *, grace: float
) -> None:
    """Run every platform until a signal; raise the first ConfigError one of them hits."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled.set)
    running = [asyncio.create_task(supervise(p, engine, s), name=p.name) for p, s in platforms]
    waiting = asyncio.create_task(signalled.wait())
    try:
        done, _ = await asyncio.wait([*running, waiting], return_when=asyncio.FIRST_COMPLETED)
        if signalled.is_set():
            log.info("shutting down: replies in flight get up to %g s to finish", grace)
            await engine.close(grace)
        failed = next((t for t in done if t is not waiting and t.exception()), None)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for task in (*running, waiting):
            task.cancel()
        for task in (*running, waiting):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def supervise(platform: Platform[Any], engine: Engine, settings: Any) -> None:
    """Run ``platform``, starting it again after anything but a ConfigError."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        started = loop.time()
        try:
            await platform.run(engine, settings)
            log.warning("%s stopped by itself", platform.name)
        except ConfigError:
            raise
        except Exception:
            log.exception("%s failed", platform.name)
        if loop.time() - started >= HEALTHY_AFTER:
            attempt = 0
        delay = RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)]
        attempt += 1
        log.info("starting %s again in %g s", platform.name, delay)
        await asyncio.sleep(delay)
