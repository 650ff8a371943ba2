"""Bounded, in-memory caches for what an adapter may forget: a restart or an evicted entry
costs one extra lookup, never a wrong answer (what must survive lives in the store).

One LRU for every such cache — messages already seen, user names, reply-chain roots — so
memory stays flat however many users, threads and messages a long-running bot meets.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A mapping that keeps the ``size`` most recently used entries, each for ``ttl``
    seconds (None: until evicted)."""

    def __init__(self, size: int, *, ttl: float | None = None) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: the cache's)."""
        ttl = ttl if ttl is not None else self.ttl
        self._entries[key] = (value, time.monotonic() + ttl if ttl is not None else float("inf"))
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self._entries)


class BoundedSet(Generic[K]):
    """The keys seen lately (``BoundedCache`` semantics, no values)."""

    def __init__(self, size: int, *, ttl: float | None = None) -> None:
        self._seen: BoundedCache[K, bool] = BoundedCache(size, ttl=ttl)

    def add(self, key: K) -> bool:
        """Record ``key``; False if it was already there (a second delivery)."""
        if key in self._seen:
            return False
        self._seen.put(key, True)
        return True

    def __contains__(self, key: K) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)
