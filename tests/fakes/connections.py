"""Counting the TCP connections a loopback fake accepts, to prove clients reuse theirs.

A keep-alive client opens one connection and sends many requests on it; a client without a
shared session opens one per request (against a real service, one TLS handshake each).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class ConnectionCounter:
    """Accepted connections of one ``web.AppRunner`` (call ``attach`` after ``setup``)."""

    def __init__(self) -> None:
        self.accepted = 0

    def attach(self, runner: web.AppRunner) -> None:
        server = runner.server
        assert server is not None, "attach after runner.setup()"
        made = server.connection_made

        def counting(handler: Any, transport: asyncio.Transport) -> None:
            self.accepted += 1
            made(handler, transport)

        server.connection_made = counting  # type: ignore[method-assign]
