"""THREADBOT_MAX_REPLIES: past the cap, replies wait (stored) for a slot instead of all
hitting the provider at once; every one is still answered exactly once, and a reply's
timeouts count from when it starts, not while it waits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.app import open_engine
from bot.engine import Engine
from bot.types import ThreadKey, Turn
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink


async def still_waiting(db: str, key: ThreadKey) -> bool:
    store = await open_store(db)
    try:
        thread = await store.get_thread(key)
        return thread is not None and await store.waiting(thread) is not None
    finally:
        await store.close()


def turn(i: int, text: str = "hello") -> Turn:
    return Turn(key=ThreadKey("slack", "T1", "C1", f"1700000000.{i:06d}"), message_id=f"m{i}",
                author_id="U1", author_name="Alice", text=text)


async def test_more_turns_than_slots_are_all_answered_once_never_over_the_cap(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.latency = 0.3
    # 12 replies through 3 slots take ~4 × 0.3 s: far longer than the 0.5 s timeout
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, max_replies=3,
                             provider_timeout=0.5)
    sinks = [RecordingSink() for _ in range(12)]
    async with open_engine(settings) as engine:
        await asyncio.gather(*(engine.handle(turn(i), sink) for i, sink in enumerate(sinks)))
    assert fake_openai.most_in_flight == 3
    assert [s.error for s in sinks] == [None] * 12  # none got USER_MESSAGES[TIMEOUT]
    assert all(s.final and s.final.strip() for s in sinks)
    assert len(fake_openai.requests) == 12  # one model call each: answered exactly once


async def one_running_one_queued(
    engine: Engine, first: RecordingSink, second: RecordingSink, *, wait: float
) -> list[asyncio.Task[None]]:
    """With one slot: turn 1 answering, turn 2 stored and waiting for the slot."""
    running = asyncio.create_task(engine.handle(turn(1), first))
    await asyncio.sleep(0.1)
    queued = asyncio.create_task(engine.handle(turn(2), second))
    await asyncio.sleep(wait)
    return [running, queued]


async def test_a_reply_waiting_for_a_slot_can_be_stopped(tmp_path: Path, fake_openai: Any) -> None:
    fake_openai.latency = 0.5
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, max_replies=1)
    first, second = RecordingSink(), RecordingSink()
    async with open_engine(settings) as engine:
        running, queued = await one_running_one_queued(engine, first, second, wait=0.1)
        assert engine.stop(turn(2).key)  # "Stopped.", not "Nothing to stop."
        await asyncio.gather(running, queued)
        assert first.final and not second.used  # the queued one never started
        assert len(fake_openai.requests) == 1
    assert await still_waiting(settings.db, turn(2).key) is False  # stop means quiet


async def test_shutdown_leaves_a_waiting_reply_for_the_next_process(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.latency = 0.3
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, max_replies=1)
    first, second = RecordingSink(), RecordingSink()
    async with open_engine(settings) as engine:
        running, queued = await one_running_one_queued(engine, first, second, wait=0.05)
        await engine.close(grace=5)
        await asyncio.gather(running, queued)
    assert first.final and not second.used
    assert len(fake_openai.requests) == 1
    assert await still_waiting(settings.db, turn(2).key) is True  # the next process answers it
