"""The composition root: settings → store + provider + history strategies → Engine.

The one place (with the CLI) that names concrete infrastructure, so the CLI, the adapters'
tests and the benchmark all run the same engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.admin.config import AdminConfig, load_admin
from bot.admin.gate import Gate
from bot.admin.profiles import Profiles
from bot.admin.reloads import reloading
from bot.config import Settings
from bot.engine import Engine
from bot.ports import Provider
from bot.providers.factory import make_provider
from bot.replying import Timeouts
from bot.types import utcnow
from storage import open_store

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_engine(
    settings: Settings, *, provider: Provider | None = None, admin: AdminConfig | None = None
) -> AsyncIterator[Engine]:
    """An Engine on the configured database and provider, closed on exit.

    ``provider`` is injectable (like httpx transports) for in-process benchmarks; by default
    the configured SDK-backed providers are built. ``admin``: the admin configuration, by
    default read from the environment and threadbot.toml. Raises ConfigError for missing
    credentials or a configuration mistake.
    """
    admin = admin or load_admin()
    timeouts = Timeouts(first_token=settings.provider_timeout, idle=settings.provider_timeout)
    store = await open_store(settings.db)
    try:
        profiles = Profiles(settings, store, make_provider, timeouts, provider)
    except BaseException:
        await store.close()
        raise
    try:
        left = await store.expire_waiting(utcnow() - timedelta(seconds=settings.resume_max_age))
        if left:
            log.warning(
                "%d message(s) waited longer than THREADBOT_RESUME_MAX_AGE (%g s) while the bot "
                "was down; they are marked and will not be answered", left, settings.resume_max_age,
            )
        gate = Gate(settings, admin, store)
        engine = Engine(store, profiles, gate, lease_s=settings.lease_s,
                        retention_days=settings.retention_days)
        try:
            async with reloading(gate, store):
                yield engine
        finally:
            await engine.close(settings.shutdown_grace)
    finally:
        await store.close()
        await profiles.aclose()
