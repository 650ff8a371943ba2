"""`/metrics` and `/healthz` over aiohttp: on Slack's HTTP-mode server, or on a small one of
their own (``THREADBOT_METRICS_PORT``) — the same two routes either way.

Both answers only read what is already in memory (``Health`` checks the store in the
background): they stay fast with thousands of replies in flight.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.engine import Engine
from bot.errors import ConfigError

log = logging.getLogger(__name__)


def add_ops_routes(app: web.Application, engine: Engine) -> None:
    """GET /metrics (Prometheus text format) and GET /healthz (JSON; 503 when unhealthy)."""

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = engine.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def health(request: web.Request) -> web.Response:
        ok, report = await engine.health.report()
        return web.json_response(report, status=200 if ok else 503)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)


@asynccontextmanager
async def ops_server(engine: Engine, host: str, port: int) -> AsyncIterator[int]:
    """Serve the two routes on ``host``:``port`` while the block runs: the port bound (the
    one asked for, or the one the system chose for 0)."""
    app = web.Application()
    add_ops_routes(app, engine)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await listen(runner, host, port, "THREADBOT_METRICS_PORT")
        bound = int(runner.addresses[0][1])
        log.info("metrics and health on %s:%s (/metrics, /healthz)", host, bound)
        yield bound
    finally:
        await runner.cleanup()


async def listen(runner: web.AppRunner, host: str, port: int, setting: str) -> None:
    """Serve ``runner`` on ``host``:``port``; a port that is taken (or a host that is not
    this machine's) is a ConfigError naming ``setting``: one line, not a restart loop."""
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"{setting}={port}: cannot listen on {host}:{port} ({why}): stop "
                          "what uses it, or choose another port.") from None
