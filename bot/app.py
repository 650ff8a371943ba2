"""The composition root: settings → store + provider + history strategies → Engine.

The one place (with the CLI) that names concrete infrastructure, so the CLI, the adapters'
tests and the benchmark all run the same engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

from bot.admin.config import AdminConfig, load_admin
from bot.admin.gate import Gate
from bot.admin.profiles import Profiles
from bot.admin.reloads import reloading
from bot.config import Settings
from bot.engine import Engine
from bot.health import Health
from bot.metrics import Metrics, TimedProvider, TimedStore
from bot.ports import Provider, Store
from bot.providers.factory import make_provider
from bot.replying import Timeouts
from bot.types import ThreadKey, utcnow
from storage import open_store

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_engine(
    settings: Settings, *, provider: Provider | None = None, admin: AdminConfig | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Engine]:
    """An Engine on the configured database and provider, closed on exit.

    ``provider`` is injectable (like httpx transports) for in-process benchmarks; by default
    the configured SDK-backed providers are built. ``admin``: the admin configuration, by
    default read from the environment and threadbot.toml. Raises ConfigError for missing
    credentials or a configuration mistake. ``metrics``: by default Prometheus' (served on
    ``/metrics`` by Slack's HTTP mode or THREADBOT_METRICS_PORT, see ``_ops_server``).
    """
    admin = admin or load_admin()
    timeouts = Timeouts(first_token=settings.provider_timeout, idle=settings.provider_timeout)
    if metrics is None:
        from bot.metrics_prometheus import PrometheusMetrics

        metrics = PrometheusMetrics()
    raw = await open_store(settings.db)
    store: Store = TimedStore(raw, metrics)
    health = Health(probe=lambda: raw.get_thread(HEALTH_KEY), watchdog_s=settings.watchdog_s)

    def timed_provider(chosen: Settings) -> Provider:
        return TimedProvider(make_provider(chosen), metrics)

    if provider is not None:
        provider = TimedProvider(provider, metrics)
    try:
        profiles = Profiles(settings, store, timed_provider, timeouts, provider)
    except BaseException:
        await store.close()
        raise
    try:
        left = await store.expire_waiting(utcnow() - timedelta(seconds=settings.resume_max_age))
        health.store_answered()
        if left:
            log.warning(
                "%d message(s) waited longer than THREADBOT_RESUME_MAX_AGE (%g s) while the bot "
                "was down; they are marked and will not be answered", left, settings.resume_max_age,
            )
        gate = Gate(settings, admin, store)
        engine = Engine(store, profiles, gate, lease_s=settings.lease_s, metrics=metrics,
                        health=health, retention_days=settings.retention_days)
        try:
            async with reloading(gate, store), AsyncExitStack() as ops:
                await _ops_server(settings, engine, ops)
                yield engine
        finally:
            await engine.close(settings.shutdown_grace)
    finally:
        await store.close()
        await profiles.aclose()


HEALTH_KEY = ThreadKey("health")  # /healthz's store check: an indexed lookup that finds nothing


async def _ops_server(settings: Settings, engine: Engine, stack: AsyncExitStack) -> None:
    """Start the small /metrics + /healthz server on THREADBOT_METRICS_PORT, unless that is
    unset or Slack's HTTP mode serves that very port (its server then answers both)."""
    port = settings.metrics_port
    if port is None or _slack_http_port() == port:
        return
    from adapters.common.ops_http import ops_server

    await stack.enter_async_context(ops_server(engine, settings.metrics_host, port))


def _slack_http_port() -> int | None:
    """The port Slack's HTTP mode will listen on, None when it does not run."""
    from adapters.registry import PLATFORMS

    slack: Any = PLATFORMS.get("slack")
    if slack is None:
        return None
    config = slack.load_settings()
    http = slack.enabled(config) and config.app_token is None and config.signing_secret is not None
    return int(config.http_port) if http else None
