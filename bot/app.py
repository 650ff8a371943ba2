"""The composition root: settings → store + provider + history strategies → Engine.

The one place (with the CLI) that names concrete infrastructure, so the CLI, the adapters'
tests and the benchmark all run the same engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.engine import Engine
from bot.history import make_histories
from bot.ports import Provider
from bot.providers.factory import make_provider
from storage import open_store


@asynccontextmanager
async def open_engine(
    settings: Settings, *, provider: Provider | None = None
) -> AsyncIterator[Engine]:
    """An Engine on the configured database and provider, closed on exit.

    ``provider`` is injectable (like httpx transports) for in-process benchmarks; by default
    the configured SDK-backed provider is built. Raises ConfigError for missing credentials.
    """
    provider = provider or make_provider(settings)
    try:
        store = await open_store(settings.db)
    except BaseException:
        await provider.aclose()
        raise
    try:
        yield Engine(store, provider, make_histories(settings, store, provider))
    finally:
        await store.close()
        await provider.aclose()
