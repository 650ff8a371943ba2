"""A ticker that notices when the event loop was blocked (THREADBOT_STALL_WARN_MS).

Every await in the process waits behind whatever callback is running: one that holds the
loop for 300 ms delays every reply, every ack to Slack and /healthz by as much. The ticker
sleeps a short period and measures how late it woke up; lateness over the threshold is a
stall and is logged with its length, so a load test (bench/scale_bench.py) or an operator
sees stalls as they happen, and a summary line at the end gives their count and the longest.
Each line also says how much of the stall the loop's thread spent running: on a machine
shared with other busy processes the rest is time the system gave to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)


async def _tick(threshold: float, period: float) -> None:
    loop = asyncio.get_running_loop()
    stalls, longest = 0, 0.0
    try:
        while True:
            due, cpu = loop.time() + period, time.thread_time()
            await asyncio.sleep(period)
            late = loop.time() - due
            longest = max(longest, late)
            if late > threshold:
                stalls += 1
                running = min(late, time.thread_time() - cpu)
                log.warning("event loop stalled for %.0f ms (%.0f ms of it running)",
                            late * 1000, running * 1000)
    finally:
        log.info("event loop: %d stall(s) over %.0f ms, longest %.0f ms",
                 stalls, threshold * 1000, longest * 1000)


class _CollectionTimer:
    """Names the garbage collector as the cause when one of its passes is a stall."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        if took > self._threshold:
            log.warning("garbage collection (generation %d) took %.0f ms",
                        info.get("generation", -1), took * 1000)


@contextlib.asynccontextmanager
async def watching_stalls(threshold_ms: float) -> AsyncIterator[None]:
    """Log stalls longer than ``threshold_ms`` while the block runs (0: do nothing)."""
    if threshold_ms <= 0:
        yield
        return
    threshold = threshold_ms / 1000
    ticker = asyncio.create_task(_tick(threshold, period=min(0.02, threshold / 2)))
    collections = _CollectionTimer(threshold)
    gc.callbacks.append(collections)
    try:
        yield
    finally:
        gc.callbacks.remove(collections)
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
