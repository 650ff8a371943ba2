"""Engine benchmark: per-turn overhead and throughput against the fake OpenAI server.

    .venv/bin/python bench/engine_bench.py [--turns 200] [--concurrent 1000] [--db URL]

The real engine, store (a SQLite file in a temp dir, or the empty database ``--db`` names)
and OpenAI SDK talk to the loopback fake
(zero latency; run in a child process so it does not share this process's CPU). Overhead is
a turn's wall time minus the time spent inside the provider's stream — i.e. what threadbot
itself adds: storing, the budgeted context query, history building, the reply row. Rolling summaries
(THREADBOT_COMPACTION) are off so every turn carries the full 16k-token budget.
Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr  # noqa: E402

from bench.fake_llm import Kind, fake_llm  # noqa: E402
from bot.app import open_engine  # noqa: E402
from bot.config import ProviderName, Settings  # noqa: E402
from bot.ports import Provider  # noqa: E402
from bot.providers.factory import make_provider  # noqa: E402
from bot.types import Completion, Ending, NewMessage, Request, Thinking, ThreadKey, Turn  # noqa: E402
from storage import open_store  # noqa: E402


class TimedProvider:
    """Wraps the real provider and adds up the time spent inside its stream."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.supports_chain = inner.supports_chain
        self.seconds = 0.0
        self.sent = 0  # messages in the last request

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        self.sent = len(request.messages)
        started = time.perf_counter()
        iterator = self.inner.stream(request).__aiter__()
        while True:
            try:
                item = await iterator.__anext__()
            except StopAsyncIteration:
                break
            self.seconds += time.perf_counter() - started
            yield item
            started = time.perf_counter()
        self.seconds += time.perf_counter() - started

    async def aclose(self) -> None:
        await self.inner.aclose()


class CannedProvider:
    """A provider with no I/O at all: what the engine alone sustains, without any SDK."""

    name = "canned"
    supports_chain = False

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        for part in REPLY_PARTS:
            yield part
        yield Completion(text=REPLY, model=request.model)

    async def aclose(self) -> None:
        return None


class NullSink:
    refs: tuple[str, ...] = ()

    async def start(self) -> None: ...
    async def append(self, delta: str) -> None: ...
    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None: ...
    async def fail(self, message: str) -> None:
        raise RuntimeError(f"turn failed: {message}")


# Realistic sizes: a ~25-token question, a ~45-token answer streamed in ~8 deltas.
QUESTION = "Could you remind me what we decided about the release date for the new billing page?"
REPLY = (
    "We agreed to ship the billing page on Friday after QA signs off. Maria owns the release "
    "notes, and the feature flag stays off for enterprise accounts until the migration is done."
)
REPLY_PARTS = [REPLY[i : i + 24] for i in range(0, len(REPLY), 24)]


# A chatty thread: short answers (~27 tokens a message with framing), so the 16k budget
# holds ~540 messages.
SHORT_REPLY = ("Yes: Friday, after QA signs off. Maria writes the release notes, and the "
               "feature flag stays off for enterprise accounts for now.")


async def prefill(db: str, keys: list[ThreadKey], count: int, *, short: bool = False) -> None:
    """Seed threads with alternating questions and answers of realistic size (``short``:
    chat-sized ones)."""
    answer = SHORT_REPLY if short else REPLY
    sizes = (21, 31) if short else (24, 44)  # tokens as the engine stores them (with framing)
    store = await open_store(db)
    for key in keys:
        thread = await store.ensure_thread(key, "replay")
        batch = 5_000
        for start in range(0, count, batch):
            rows = [
                NewMessage(
                    role="user" if i % 2 == 0 else "assistant",
                    content=QUESTION if i % 2 == 0 else answer,
                    tokens=sizes[i % 2],
                    platform_message_id=f"seed-{i}" if i % 2 == 0 else None,
                )
                for i in range(start, min(count, start + batch))
            ]
            await store.add_many(thread, rows)
    await store.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def overhead(settings: Settings, stored: int, turns: int) -> tuple[float, float]:
    """Overhead of a turn in a thread already holding ``stored`` messages.

    Small threads get a fresh thread per sample (otherwise the samples themselves would
    grow the thread); large ones are budget-bound, so adding turns does not change them.
    """
    samples_needed = turns + 10
    fresh = stored < 1_000
    keys = [
        ThreadKey("bench", "", "", f"size-{stored}-{i}")
        for i in range(samples_needed if fresh else 1)
    ]
    await prefill(settings.db, keys, stored)
    timed = TimedProvider(make_provider(settings))
    samples = []
    async with open_engine(settings, provider=timed) as engine:
        for i in range(samples_needed):
            timed.seconds = 0.0
            started = time.perf_counter()
            await engine.handle(
                Turn(key=keys[i % len(keys)], message_id=f"t{i}", author_id="u",
                     author_name="U", text=QUESTION),
                NullSink(),
            )
            if i >= 10:  # warm-up excluded
                samples.append((time.perf_counter() - started - timed.seconds) * 1000)
    return statistics.median(samples), pct(samples, 0.99)


async def cpu_per_turn(settings: Settings, turns: int) -> tuple[float, float, int]:
    """CPU time (this process, all threads) of a full-budget turn, end to end: storing,
    the context query, history building, the SDK building and sending the request to the
    fake, reading the stream, storing the reply. Median and p99 in ms, messages sent."""
    key = ThreadKey("bench", "", "", f"cpu-{settings.provider}")
    await prefill(settings.db, [key], 5_000, short=True)
    timed = TimedProvider(make_provider(settings))
    samples = []
    async with open_engine(settings, provider=timed) as engine:
        for i in range(turns + 10):
            started = time.process_time()
            await engine.handle(
                Turn(key=key, message_id=f"c{i}", author_id="u", author_name="U", text=QUESTION),
                NullSink(),
            )
            if i >= 10:  # warm-up excluded
                samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples), pct(samples, 0.99), timed.sent


async def cpu_table(db: str, turns: int) -> None:
    """The CPU per full-budget turn for each provider, against its fake in a child process."""
    print("CPU per full-budget turn, end to end INCLUDING the SDK's request building, sending "
          "and stream reading (time.process_time of this process):\n")
    print("| provider | messages sent | CPU p50 (ms) | CPU p99 (ms) |")
    print("|---|---:|---:|---:|")
    providers: tuple[ProviderName, ...] = ("openai", "openai-responses", "anthropic")
    for provider in providers:
        kind: Kind = "anthropic" if provider == "anthropic" else "openai"
        with fake_llm(kind, reply=SHORT_REPLY) as base_url, tempfile.TemporaryDirectory() as tmp:
            settings = bench_settings(provider, base_url, db or str(Path(tmp) / "cpu.db"))
            settings = settings.model_copy(update={"compaction": False})
            p50, p99, sent = await cpu_per_turn(settings, turns)
        print(f"| {provider} | {sent} | {p50:.1f} | {p99:.1f} |", flush=True)
    print()


def bench_settings(provider: ProviderName, base_url: str, db: str) -> Settings:
    """Settings for ``provider`` at a fake's ``base_url``; the default 16k context budget."""
    if provider == "anthropic":
        return Settings(  # type: ignore[call-arg]
            _env_file=None, provider="anthropic", anthropic_api_key=SecretStr("bench"),
            anthropic_base_url=base_url, db=db, model="claude-sonnet-4-5", provider_retries=0,
        )
    return Settings(  # type: ignore[call-arg]
        _env_file=None, provider=provider, openai_api_key=SecretStr("bench"),
        openai_base_url=base_url, db=db, model="gpt-4.1-mini", provider_retries=0,
    )


async def throughput(settings: Settings, threads: int, provider: Provider | None = None) -> float:
    label = type(provider).__name__
    async with open_engine(settings, provider=provider) as engine:
        async def one(i: int) -> None:
            await engine.handle(
                Turn(key=ThreadKey("bench", "", "", f"{label}-{i}"), message_id="m",
                     author_id="u", author_name="U", text=QUESTION),
                NullSink(),
            )

        await one(-1)  # warm-up: connection pool, encodings
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(threads)))
        return threads / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--db", default="", help="an empty database (default: a temp SQLite file)")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU per turn table")
    args = parser.parse_args()

    await cpu_table(args.db, args.turns)
    if args.cpu_only:
        return
    with fake_llm(reply=REPLY) as base_url, tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings("openai", base_url, args.db or str(Path(tmp) / "bench.db"))
        where = settings.db.split("://")[0] if "://" in settings.db else "sqlite"
        print(f"store: {where}; context budget: {settings.context_tokens:,} tokens (the default)\n")
        print("Overhead: a turn's wall time minus the time inside the provider (so WITHOUT the "
              "SDK's request building; the CPU table above has it):\n")
        print("| stored messages in thread | overhead p50 (ms) | overhead p99 (ms) |")
        print("|---:|---:|---:|")
        results = {}
        for stored in (10, 10_000, 100_000):
            p50, p99 = await overhead(settings, stored, args.turns)
            results[stored] = p50
            print(f"| {stored:,} | {p50:.2f} | {p99:.2f} |", flush=True)
        ratio = results[100_000] / results[10]
        print(f"\noverhead at 100,000 vs 10 messages: {ratio:.2f}x")
        n = args.concurrent
        rate = await throughput(settings, n)
        print(f"throughput, {n:,} concurrent threads, real OpenAI SDK -> fake: {rate:,.0f} turns/s")
        rate = await throughput(settings, n, CannedProvider())
        print(f"throughput, {n:,} concurrent threads, engine + store only: {rate:,.0f} turns/s")


if __name__ == "__main__":
    asyncio.run(main())
