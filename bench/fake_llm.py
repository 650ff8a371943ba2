"""The fake LLM servers in a child process, so a benchmark's own process measures only
threadbot (the fake's CPU is spent on the other core).

The child's fake also answers ``GET <base>/bench/connections``: how many TCP connections
it has accepted so far (a keep-alive client reuses a few; one per request means no pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import urllib.request
from collections.abc import Iterator
from typing import Any, Literal

Kind = Literal["openai", "anthropic"]


def _serve(port_queue: multiprocessing.Queue, kind: Kind, reply: str | None,  # type: ignore[type-arg]
           chunk_size: int, latency: float) -> None:
    from aiohttp import web

    from tests.fakes.anthropic_server import FakeAnthropic
    from tests.fakes.brain import FakeLLMServer
    from tests.fakes.openai_server import FakeOpenAI

    base: type[FakeLLMServer] = FakeAnthropic if kind == "anthropic" else FakeOpenAI

    class Counting(base):  # type: ignore[valid-type,misc]
        """Keeps no request log (a bench sends thousands); tells its connections."""

        def _add_routes(self, app: web.Application) -> None:
            super()._add_routes(app)
            app.router.add_get(f"{self.url_suffix}/bench/connections", self._connections)

        async def _connections(self, _request: web.Request) -> web.Response:
            return web.json_response({"connections": self.connections.accepted})

        async def _begin(self, request: web.Request) -> tuple[dict[str, Any], Any]:
            body, fault = await super()._begin(request)  # waits ``latency`` first
            self.requests.clear()
            return body, fault

    async def serve() -> None:
        async with Counting() as fake:
            fake.latency = latency
            if reply is not None:
                fake.reply_with(reply)
            fake.chunk_size = chunk_size
            port_queue.put(fake.base_url)
            await asyncio.Event().wait()

    asyncio.run(serve())


@contextlib.contextmanager
def fake_llm(kind: Kind = "openai", *, reply: str | None = None, chunk_size: int = 24,
             latency: float = 0.0) -> Iterator[str]:
    """The base URL of a fake ``kind`` server running until the block ends. ``latency``:
    seconds before each response starts (a model's time to first token)."""
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(
        target=_serve, args=(ports, kind, reply, chunk_size, latency), daemon=True)
    server.start()
    try:
        yield ports.get(timeout=30)
    finally:
        server.terminate()


def fake_openai(
    *, reply: str | None = None, chunk_size: int = 24, latency: float = 0.0
) -> contextlib.AbstractContextManager[str]:
    """The base URL of a fake OpenAI server running until the block ends."""
    return fake_llm("openai", reply=reply, chunk_size=chunk_size, latency=latency)


def connections(base_url: str) -> int:
    """TCP connections the fake at ``base_url`` has accepted so far."""
    with urllib.request.urlopen(f"{base_url}/bench/connections", timeout=10) as answer:  # noqa: S310
        return int(json.load(answer)["connections"])
