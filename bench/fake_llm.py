"""The fake OpenAI server in a child process, so a benchmark's own process measures only
threadbot (the fake's CPU is spent on the other core)."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Iterator


def _serve(port_queue: multiprocessing.Queue, reply: str | None, chunk_size: int) -> None:  # type: ignore[type-arg]
    from tests.fakes.openai_server import FakeOpenAI

    async def serve() -> None:
        async with FakeOpenAI() as fake:
            if reply is not None:
                fake.reply_with(reply)
            fake.chunk_size = chunk_size
            port_queue.put(fake.base_url)
            await asyncio.Event().wait()

    asyncio.run(serve())


@contextlib.contextmanager
def fake_openai(*, reply: str | None = None, chunk_size: int = 24) -> Iterator[str]:
    """The base URL of a fake OpenAI server running until the block ends."""
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(ports, reply, chunk_size), daemon=True)
    server.start()
    try:
        yield ports.get(timeout=30)
    finally:
        server.terminate()
