"""A cap on the replies one process generates at once (``THREADBOT_MAX_REPLIES``).

Why: past a few hundred replies streaming at once, one process spends its time parsing
chunks and waking tasks, and every reply, acknowledgement and health check waits for the
event loop (thousands of answers arriving together are one long stall). A reply past the cap
waits for a slot *before* it starts: its messages stay stored and waiting (a crash or a
deploy loses nothing), messages said meanwhile join it, it starts in arrival order as slots
free, and the provider's timeouts count from when it starts, never while it waits.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """First come, first served; a waiter that leaves (a stop, a shutdown) frees its place."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("at least one reply at a time")
        self.limit = limit
        self.running = 0  # replies holding a slot
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        """Replies waiting for a slot."""
        return sum(not waiter.done() for waiter in self._queue)

    def take(self) -> asyncio.Future[None] | None:
        """Take a slot: None when one was free (it is now this caller's), else a future that
        resolves once a slot is handed to this caller; cancelling it leaves the queue. A
        caller that got its slot calls ``give`` exactly once when done with it."""
        if self.running < self.limit and not self._queue:
            self.running += 1
            return None
        waiter = asyncio.get_running_loop().create_future()
        self._queue.append(waiter)
        return waiter

    def give(self) -> None:
        """Hand a slot back: to the longest waiter still waiting, or to the pool."""
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: ``running`` stays
                return
        self.running -= 1


async def wait(slots: Slots, waiter: asyncio.Future[None]) -> bool:
    """Wait on a future from ``Slots.take``: True with the slot taken, False when the wait
    was called off (the future cancelled). A cancellation of the waiting task itself is
    re-raised, and a slot handed over just before it is given back."""
    try:
        await waiter
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled():
            slots.give()
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return False
    return True
