"""Engine at scale: N conversations in flight at once against a slow fake LLM.

    .venv/bin/python bench/engine_scale.py [--conversations 10000] [--latency 5] [--provider openai]

The real engine, store (a SQLite file in a temp dir) and SDK client talk to the provider's
loopback fake, running in a child process, which waits ``--latency`` seconds before each
answer. Every conversation is a new thread whose one message arrives at the same moment.
A ticker measures the event loop's responsiveness (how late a 10 ms sleep wakes up): the
longest stall, and the total of the stalls over 100 ms. Reported: answered (each exactly
once), stalls, peak RSS, wall time and the TCP connections the fake accepted (a keep-alive
pool reuses them). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_bench import QUESTION, REPLY, bench_settings  # noqa: E402
from bench.fake_llm import Kind, connections, fake_llm  # noqa: E402
from bot.app import open_engine  # noqa: E402
from bot.config import ProviderName  # noqa: E402
from bot.types import Ending, ThreadKey, Turn  # noqa: E402

TICK_S = 0.01
STALL_S = 0.1


class Ticker:
    """How late the event loop runs a 10 ms sleep: a stalled loop delays every reply."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.stalled = 0.0  # total of the lags over STALL_S
        self.stalls = 0
        self.log: list[tuple[float, float]] = []  # (seconds since start, lag) of each stall
        self._origin = time.perf_counter()

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lag = time.perf_counter() - started - TICK_S
            self.worst = max(self.worst, lag)
            if lag > STALL_S:
                self.stalled += lag
                self.stalls += 1
                self.log.append((started - self._origin, lag))


class Collections:
    """The garbage collector's passes (a full one walks every live object: one cause of
    stalls with thousands of conversations in memory)."""

    def __init__(self) -> None:
        self.full: list[float] = []  # seconds each generation-2 pass took
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif info["generation"] == 2:
            self.full.append(time.perf_counter() - self._began)


class CountingSink:
    """Counts the replies each conversation gets (exactly one is right)."""

    finished: Counter[str] = Counter()
    failed: Counter[str] = Counter()

    def __init__(self, name: str) -> None:
        self.name = name
        self.refs: tuple[str, ...] = ()

    async def start(self) -> None: ...
    async def append(self, delta: str) -> None: ...

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        self.finished[self.name] += 1 if text == REPLY else 0
        self.failed[self.name] += 0 if text == REPLY else 1

    async def fail(self, message: str) -> None:
        self.failed[self.name] += 1


async def scale(provider: ProviderName, conversations: int, latency: float, *,
                connections_max: int, max_replies: int, verbose: bool = False) -> None:
    kind: Kind = "anthropic" if provider == "anthropic" else "openai"
    with fake_llm(kind, reply=REPLY, latency=latency) as base_url, \
            tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(provider, base_url, str(Path(tmp) / "scale.db"))
        settings = settings.model_copy(update={"provider_connections": connections_max,
                                                   "max_replies": max_replies})
        ticker = Ticker()
        async with open_engine(settings) as engine:
            await engine.handle(  # warm-up: encodings, the SDK client
                Turn(key=ThreadKey("bench", "", "", "warm"), message_id="m", author_id="u",
                     author_name="U", text=QUESTION), CountingSink("warm"))
            gc.freeze()  # as `threadbot run` does after start-up
            gc.callbacks.append(collections := Collections())
            ticking = asyncio.create_task(ticker.run())
            started = time.perf_counter()
            await asyncio.gather(*(
                engine.handle(
                    Turn(key=ThreadKey("bench", "", "", f"c{i}"), message_id="m", author_id="u",
                         author_name="U", text=QUESTION),
                    CountingSink(f"c{i}"))
                for i in range(conversations)
            ))
            wall = time.perf_counter() - started
            ticking.cancel()
            gc.callbacks.remove(collections)
        answered = sum(1 for i in range(conversations) if CountingSink.finished[f"c{i}"] == 1)
        twice = sum(1 for n in CountingSink.finished.values() if n > 1)
        accepted = connections(base_url)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if verbose:
        print(f"full garbage collections: {len(collections.full)}, longest "
              f"{max(collections.full, default=0) * 1000:.0f} ms, "
              f"{sum(collections.full):.1f} s in all", file=sys.stderr)
        print("stalls (started at s: lasted s):",
              ", ".join(f"{at:.1f}: {lag:.2f}" for at, lag in ticker.log), file=sys.stderr)
    print(f"| {provider} | {conversations:,} | {latency:g} | {answered / conversations:.1%} "
          f"| {twice} | {sum(CountingSink.failed.values())} | {ticker.worst * 1000:.0f} "
          f"| {ticker.stalled:.1f} ({ticker.stalls}) | {peak:.0f} | {wall:.1f} | {accepted} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=5.0, help="seconds before each answer")
    parser.add_argument("--provider", default="openai",
                        choices=["openai", "openai-responses", "anthropic"])
    parser.add_argument("--connections", type=int, default=10_000,
                        help="THREADBOT_PROVIDER_CONNECTIONS (the pool)")
    parser.add_argument("--max-replies", type=int, default=256,
                        help="THREADBOT_MAX_REPLIES (replies generated at once)")
    parser.add_argument("--verbose", action="store_true", help="when each stall happened")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # thousands of timeouts would flood; the sinks count them
    print("| provider | in flight | LLM latency (s) | answered once | answered twice | failed "
          "| worst stall (ms) | stalls > 100 ms, total s (count) | peak RSS (MB) | wall (s) "
          "| connections |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    await scale(args.provider, args.conversations, args.latency,
                connections_max=args.connections, max_replies=args.max_replies, verbose=args.verbose)


if __name__ == "__main__":
    asyncio.run(main())
