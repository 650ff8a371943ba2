"""The fake OpenAI server in a child process, so a benchmark's own process measures only
threadbot (the fake's CPU is spent on the other core)."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized


def _serve(port_queue: multiprocessing.Queue, reply: str | None, chunk_size: int,  # type: ignore[type-arg]
           latency: float, connections: Synchronized[int] | None) -> None:
    from tests.fakes.openai_server import FakeOpenAI

    async def serve() -> None:
        async with FakeOpenAI() as fake:
            if reply is not None:
                fake.reply_with(reply)
            fake.chunk_size = chunk_size
            fake.latency = latency
            port_queue.put(fake.base_url)
            while True:  # the count of accepted connections, for the parent to read
                await asyncio.sleep(0.2)
                if connections is not None:
                    connections.value = fake.connections.accepted

    asyncio.run(serve())


@contextlib.contextmanager
def fake_openai(*, reply: str | None = None, chunk_size: int = 24, latency: float = 0.0,
                connections: Synchronized[int] | None = None) -> Iterator[str]:
    """The base URL of a fake OpenAI server running until the block ends. ``latency``:
    seconds before each response starts (a model's time to first token); ``connections``
    (``multiprocessing.Value("i")``) follows the TCP connections it accepted."""
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(
        target=_serve, args=(ports, reply, chunk_size, latency, connections), daemon=True
    )
    server.start()
    try:
        yield ports.get(timeout=30)
    finally:
        server.terminate()
