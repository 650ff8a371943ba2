"""Discord REST failures and rate limits counted by route, for ``threadbot_platform_*``.

discord.py retries a 429 itself and raises only when it gives up, so an exception hook would
miss most rate limits: an aiohttp trace on its HTTP session (``Client(http_trace=)``) sees
every response. The method label is the route with every part that holds a digit (ids,
interaction tokens, encoded emoji) replaced by ``{id}``: bounded, and never a user's id.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from yarl import URL

from bot.metrics import Metrics


def route(method: str, url: URL) -> str:
    """``PATCH /channels/{id}/messages/{id}`` for ``PATCH …/api/v10/channels/1/messages/2``."""
    parts = url.path.split("/")
    if len(parts) > 2 and parts[1] == "api":
        parts = parts[:1] + parts[3:]  # /api/v10/…
    return f"{method} " + "/".join("{id}" if any(c.isdigit() for c in p) else p for p in parts)


def counting_trace(metrics: Metrics) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def ended(session: aiohttp.ClientSession, context: SimpleNamespace,
                    params: aiohttp.TraceRequestEndParams) -> None:
        status = params.response.status
        if status == 429:
            metrics.platform_error("discord", route(params.method, params.url), rate_limited=True)
        elif status >= 400:
            metrics.platform_error("discord", route(params.method, params.url))

    async def failed(session: aiohttp.ClientSession, context: SimpleNamespace,
                     params: aiohttp.TraceRequestExceptionParams) -> None:
        metrics.platform_error("discord", route(params.method, params.url))

    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    return trace
