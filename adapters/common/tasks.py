"""Tracking the work an adapter runs beside its SDK's own loop.

Platform SDKs call handlers from tasks of their own (bolt after the ack, discord.py per
gateway event); the adapter must still know what is in flight, so shutdown can wait for it
(or cut it) and tests can wait until the bot is idle. An exception in tracked work is logged
once and never reaches a user or the SDK's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, what: str) -> None:
        self._what = what
        self._tasks: set[asyncio.Task[None]] = set()
        self._inline = 0

    @property
    def busy(self) -> int:
        """Work in flight: spawned tasks plus handlers inside ``working()``."""
        return len(self._tasks) + self._inline

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in a tracked task."""
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Count a handler the SDK runs in its own task as busy while it runs."""
        self._inline += 1
        try:
            yield
        finally:
            self._inline -= 1

    async def drain(self, within: float = 10.0) -> None:
        """Wait for all spawned work (and any it spawns) to finish."""
        async with asyncio.timeout(within):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel spawned work and wait for it to unwind."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # the engine already answered the user what it could
            log.exception("%s handler failed", self._what)
