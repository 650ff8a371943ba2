"""The SQLite store on a real file: migrations, de-duplication, the budgeted context query."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.types import ThreadKey
from storage.migrations import MIGRATIONS
from storage.sqlite import NewMessage, SqliteStore

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


def user(text: str, tokens: int, pid: str | None = None) -> NewMessage:
    return NewMessage(role="user", content=text, tokens=tokens, platform_message_id=pid)


async def test_migrations_are_recorded_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = await SqliteStore.open(path)
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("hello", 5, "m1"))
    await store.close()

    store = await SqliteStore.open(path)  # a second open (an upgrade with nothing new) keeps data
    assert [m.content for m in await store.context(thread, 100)] == ["hello"]
    await store.close()
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT name FROM _migrations ORDER BY name") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == [n for n, _ in MIGRATIONS]
        async with db.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"


async def test_same_platform_message_is_stored_once_per_thread(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    thread = await store.ensure_thread(KEY, "replay")
    assert await store.add(thread, user("hi", 3, "m1")) is not None
    assert await store.add(thread, user("hi again", 3, "m1")) is None
    other = await store.ensure_thread(ThreadKey("slack", "T1", "C1", "other"), "replay")
    assert await store.add(other, user("hi", 3, "m1")) is not None  # same id, other thread
    assert [m.content for m in await store.context(thread, 100)] == ["hi"]
    await store.close()


async def test_context_is_the_newest_messages_within_budget(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    thread = await store.ensure_thread(KEY, "replay")
    for i in range(10):
        await store.add(thread, user(f"m{i}", 10, f"p{i}"))
    assert [m.content for m in await store.context(thread, 35)] == ["m7", "m8", "m9"]
    assert [m.content for m in await store.context(thread, 40)] == ["m6", "m7", "m8", "m9"]
    # The newest message always comes back, even when it alone is over budget.
    assert [m.content for m in await store.context(thread, 5)] == ["m9"]
    await store.close()


async def test_reply_reserved_before_later_messages_keeps_order_and_totals(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("question", 10, "p1"))
    row = await store.begin_reply(thread)
    await store.add(thread, user("said while the bot typed", 10, "p2"))
    await store.finish_reply(thread, row, NewMessage(role="assistant", content="answer", tokens=30))
    window = await store.context(thread, 1000)
    assert [m.content for m in window] == ["question", "answer", "said while the bot typed"]
    # Running totals include the reply: a 40-token budget holds the newest two only.
    assert [m.content for m in await store.context(thread, 40)] == [
        "answer",
        "said while the bot typed",
    ]
    await store.close()


async def test_reset_starts_a_new_epoch_and_keeps_old_messages_for_export(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    thread = await store.ensure_thread(KEY, "chain")
    await store.add(thread, user("old", 5, "p1"))
    await store.set_anchor(thread, "resp_1", "gpt-4o")
    await store.reset(thread.id)
    fresh = await store.get_thread(KEY)
    assert fresh is not None and fresh.epoch == 1 and fresh.last_response_id is None
    assert await store.context(fresh, 100) == []
    # A reply that finishes after the reset must not re-attach the old chain.
    await store.set_anchor(thread, "resp_late", "gpt-4o")
    fresh = await store.get_thread(KEY)
    assert fresh is not None and fresh.last_response_id is None
    assert [(e, m.content) for e, m in await store.history(KEY)] == [(0, "old")]
    await store.close()
