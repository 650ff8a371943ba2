"""Wiring: settings → store + provider + history → Engine. The one place that builds them,
so the CLI, the adapters' tests and the benchmark all run the same engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.engine import Engine
from bot.history import History
from bot.providers.base import Provider
from bot.providers.factory import make_provider
from bot.tokens import TokenCounter
from storage.sqlite import SqliteStore

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_engine(
    settings: Settings, *, provider: Provider | None = None
) -> AsyncIterator[Engine]:
    """An Engine on the configured database and provider, closed on exit.

    ``provider`` is injectable (like httpx transports) for in-process benchmarks; by default
    the configured SDK-backed provider is built. Raises ConfigError for missing credentials.
    """
    provider = provider or make_provider(settings)
    store = await SqliteStore.open(settings.db)
    try:
        counter = TokenCounter(settings.model_name)
        if settings.history == "chain" and not provider.supports_chain:
            log.warning(
                "THREADBOT_HISTORY=chain needs THREADBOT_PROVIDER=openai-responses; using replay"
            )
        history = History(store, counter, settings, chain_capable=provider.supports_chain)
        yield Engine(store, provider, history, strategy=settings.history)
    finally:
        await store.close()
        await provider.aclose()
