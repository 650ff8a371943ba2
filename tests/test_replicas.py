"""Several processes (replicas) on one database answer each message exactly once: a thread's
lease says which one answers it; the others store and leave the answer to the holder; a stop
typed on one replica stops the reply another is writing; a dead replica's conversations are
taken over.

Two engines opened on one database stand for two replicas (each has its own store
connection and holder id); the real OpenAI SDK against the loopback fake; each test on a
SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.config import Settings
from bot.types import Command, CommandName, Ending, NewMessage, ThreadKey, Turn
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink
from tests.test_engine_trust import Resumed, new_input

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")
_ids = iter(range(1, 1_000_000))


@pytest.fixture
def settings(tmp_path: Path, fake_openai: Any, database: str) -> Settings:
    return make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)


def turn(text: str, key: ThreadKey = KEY) -> Turn:
    return Turn(key=key, message_id=f"r{next(_ids)}", author_id="U-Alice",
                author_name="Alice", text=text)


async def until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_message_another_replica_stored_is_answered_by_the_holder(
    settings: Any, fake_openai: Any
) -> None:
    """B stores a follow-up while A is replying in the thread; A answers it after its
    reply, into a sink from its own platform resumer; B sends nothing."""
    # long enough that A is still writing when B stores the follow-up
    fake_openai.reply_with(lambda messages: f"answer to {messages[-1]['content']} " + "." * 200)
    fake_openai.delay = 0.01
    async with open_engine(settings) as a, open_engine(settings) as b:
        on_a, on_b = Resumed(), Resumed()
        await a.resume("slack", on_a)
        await b.resume("slack", on_b)
        first = RecordingSink()
        running = asyncio.create_task(a.handle(turn("first"), first))
        await until(lambda: bool(first.deltas))
        second = RecordingSink()
        await b.handle(turn("second"), second)  # returns at once: A holds the thread
        await asyncio.wait_for(running, 10)
    assert first.final is not None and first.final.startswith("answer to")
    assert not second.used and on_b.sinks == {}
    handed = on_a.sinks[KEY]
    assert handed.final is not None and handed.final.startswith("answer to")
    asked = [new_input(r.json) for r in fake_openai.requests]
    assert asked.count("first") == 1 and asked.count("second") == 1 and len(asked) == 2


async def test_stop_typed_on_another_replica_stops_the_reply(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.reply_with("word " * 400)
    fake_openai.delay = 0.02
    async with open_engine(settings) as a, open_engine(settings) as b:
        sink = RecordingSink()
        running = asyncio.create_task(a.handle(turn("Tell me a long story"), sink))
        await until(lambda: bool(sink.deltas))
        stop = RecordingSink()
        asked_at = time.monotonic()
        await b.command(Command(key=KEY, name=CommandName.STOP, message_id="s1"), stop)
        await asyncio.wait_for(running, 5)
        took = time.monotonic() - asked_at
    assert stop.final == "Stopped."
    assert sink.ending is Ending.STOPPED and sink.final is not None
    assert sink.final.count("word") < 400
    assert took < 1.0


async def test_nothing_to_stop_on_any_replica(settings: Any, fake_openai: Any) -> None:
    async with open_engine(settings) as a, open_engine(settings) as b:
        await a.handle(turn("hello"), RecordingSink())
        stop = RecordingSink()
        await b.command(Command(key=KEY, name=CommandName.STOP, message_id="s2"), stop)
    assert stop.final == "Nothing to stop."


async def test_a_conversation_held_by_a_dead_replica_is_taken_over(
    settings: Any, fake_openai: Any
) -> None:
    """While the survivor runs, another replica stores a message, takes the thread's lease
    and dies (its lease stays in the database). The survivor's upkeep answers the message
    once no live process holds it — unprompted, without a restart."""
    fake_openai.reply_with("taken over")
    async with open_engine(settings.model_copy(update={"lease_s": 0.5})) as survivor:
        resumed = Resumed()
        assert await survivor.resume("slack", resumed) == []  # nothing to take over yet
        store = await open_store(settings.db)
        thread = await store.ensure_thread(KEY, "replay")
        await store.add(thread, NewMessage(role="user", content="anyone?", tokens=2,
                                           platform_message_id="dead-1", awaits_answer=True,
                                           author_id="U-Alice"))
        assert await store.claim(thread.id, "a-replica-that-died", 0.5)
        await store.close()  # the dead replica's connection goes with it
        await until(lambda: KEY in resumed.sinks and resumed.sinks[KEY].done.is_set())
    assert resumed.sinks[KEY].final == "taken over"
    assert [new_input(r.json) for r in fake_openai.requests] == ["anyone?"]


async def test_a_slow_sweep_never_keeps_the_holder_from_renewing(
    tmp_path: Path, fake_openai: Any, postgres_url: str
) -> None:
    """The database is slow to answer the take-over sweep (its messages table is locked by
    someone else for longer than the lease): the holder still renews its lease, so another
    replica cannot take the thread over and answer it a second time."""
    import asyncpg

    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=postgres_url,
                             lease_s=0.9)
    fake_openai.reply_with("word " * 150)
    fake_openai.delay = 0.02  # ~3 s of streaming
    async with open_engine(settings) as holder:
        await holder.resume("slack", Resumed())  # the upkeep sweeps, as in `threadbot run`
        sink = RecordingSink()
        running = asyncio.create_task(holder.handle(turn("a long answer, please"), sink))
        await until(lambda: bool(sink.deltas))
        other = await open_store(postgres_url)
        thread = await other.get_thread(KEY)
        assert thread is not None
        blocker = await asyncpg.connect(postgres_url)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(2.0)  # more than twice the lease
                assert not await other.claim(thread.id, "another-replica", 30)
        finally:
            await blocker.close()
            await other.close()
        await asyncio.wait_for(running, 10)
    assert sink.ending is Ending.ANSWERED
