"""What the core measures, as a small port: the engine and the adapters call ``Metrics``;
``bot/metrics_prometheus.py`` is the one module that imports prometheus-client.

A port rather than the library itself so the engine, its tests and the benchmarks run on
``NoMetrics`` and never pay for (or depend on) an exporter, and so label rules live in one
place: every label here is bounded — platform, command, outcome, error kind, provider, model,
method, store operation — never a user, thread or message id.

The store and the provider are measured from outside (``TimedStore``, ``TimedProvider``
wrap them in the composition root), so neither the store contract nor any provider changes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from bot.ports import Provider, Store
from bot.types import Completion, Ending, Request, Thinking, ThreadKey, Usage


class Metrics(Protocol):
    """Everything threadbot counts. Calls are cheap (no I/O) and never raise."""

    def turn(self, platform: str) -> None:
        """A message addressed to the bot was stored to be answered."""
        ...

    def command(self, name: str) -> None:
        """A command (reset, stop, summarize, …) was handled, once per platform message."""
        ...

    def reply(self, ending: Ending, error_kind: str, first_text_s: float | None,
              final_text_s: float | None) -> None:
        """A reply ended: how (``error_kind`` "" unless it failed), and after how many seconds
        from its start the first text and the final text were shown (None: never)."""
        ...

    def provider_call(self, provider: str, model: str, seconds: float, usage: Usage | None) -> None:
        """One model call ended (completed or not) after ``seconds``; its tokens if known."""
        ...

    def platform_error(self, platform: str, method: str, *, rate_limited: bool = False) -> None:
        """A platform API call failed (``rate_limited``: it was answered 429)."""
        ...

    def store_call(self, operation: str, seconds: float) -> None:
        """One store operation took ``seconds``."""
        ...

    def watch(self, in_flight: Callable[[], int], pending: Callable[[], int]) -> None:
        """Gauges read when scraped: replies being written, messages waiting for one."""
        ...

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in the text format, with its content type."""
        ...


class NoMetrics:
    """Counts nothing: the default for engines built without an exporter (tests, benches)."""

    def turn(self, platform: str) -> None:
        pass

    def command(self, name: str) -> None:
        pass

    def reply(self, ending: Ending, error_kind: str, first_text_s: float | None,
              final_text_s: float | None) -> None:
        pass

    def provider_call(self, provider: str, model: str, seconds: float, usage: Usage | None) -> None:
        pass

    def platform_error(self, platform: str, method: str, *, rate_limited: bool = False) -> None:
        pass

    def store_call(self, operation: str, seconds: float) -> None:
        pass

    def watch(self, in_flight: Callable[[], int], pending: Callable[[], int]) -> None:
        pass

    def exposition(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4; charset=utf-8"


class Load:
    """The engine's two gauges: replies being written (conversations with a round under way)
    and messages stored but waiting for a reply that has not started. Read when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._pending: dict[ThreadKey, int] = {}
        self._answering: set[ThreadKey] = set()
        metrics.watch(lambda: len(self._answering), lambda: sum(self._pending.values()))

    def stored(self, key: ThreadKey) -> None:
        self._pending[key] = self._pending.get(key, 0) + 1

    def started(self, key: ThreadKey) -> None:
        """A round began in ``key``: it answers everything stored there so far."""
        self._pending.pop(key, None)
        self._answering.add(key)

    def done(self, key: ThreadKey) -> None:
        """Nothing runs in ``key`` any more (what may still wait there is another
        process's, or the next process's, to answer)."""
        self._pending.pop(key, None)
        self._answering.discard(key)


class TimedStore:
    """A Store whose every coroutine method reports its latency under its own name (a
    closed set: the Store protocol's methods). Everything else passes through."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        metrics = self._metrics

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                metrics.store_call(name, time.perf_counter() - started)

        setattr(self, name, timed)  # built once per method, then found without __getattr__
        return timed


class TimedProvider:
    """A Provider whose calls report their latency (to the completion, or to the failure)
    and the tokens they used, by provider and the model asked for (the configured name:
    bounded, unlike what a server may echo back)."""

    def __init__(self, provider: Provider, metrics: Metrics) -> None:
        self._provider = provider
        self._metrics = metrics
        self.name = provider.name
        self.supports_chain = provider.supports_chain

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)  # a provider's extras (e.g. its SDK client)

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        started = time.perf_counter()
        usage: Usage | None = None
        try:
            async for item in self._provider.stream(request):
                if isinstance(item, Completion):
                    usage = item.usage
                    self._metrics.provider_call(
                        self.name, request.model, time.perf_counter() - started, usage)
                    started = 0.0
                yield item
        finally:
            if started:
                self._metrics.provider_call(
                    self.name, request.model, time.perf_counter() - started, None)

    async def aclose(self) -> None:
        await self._provider.aclose()
