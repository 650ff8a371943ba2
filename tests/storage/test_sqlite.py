"""What only the SQLite backend has: its migrations, WAL, and the THREADBOT_DB forms that
name a SQLite file. (Everything a store promises is in tests/contract/.) Also how it sees
that a lease holder on the same machine died."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aiosqlite
import pytest

from bot.errors import ConfigError
from bot.types import Ending, NewMessage, ThreadKey, Usage
from storage import open_store, sqlite_path
from storage.migrations import sqlite as sqlite_migrations
from storage.migrations.sqlite import MIGRATIONS
from tests.process import child_env

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


async def test_migrations_are_recorded_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = await open_store(path)
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, NewMessage(role="user", content="hello", tokens=5))
    await store.close()

    store = await open_store(path)  # a second open (an upgrade with nothing new) keeps data
    assert [m.content for m in await store.context(thread, 100)] == ["hello"]
    await store.close()
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT name FROM _migrations ORDER BY name") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == [n for n, _ in MIGRATIONS]
        async with db.execute("PRAGMA journal_mode") as cursor:
            row = await cursor.fetchone()
            assert row is not None and row[0] == "wal"


async def test_a_sqlite_url_and_a_plain_path_open_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "bot.db"
    store = await open_store(f"sqlite:///{path}")  # four slashes: absolute
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, NewMessage(role="user", content="hello", tokens=5))
    await store.close()
    assert path.exists()
    store = await open_store(str(path))
    assert [m.content for m in await store.context(thread, 100)] == ["hello"]
    await store.close()


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("bot.db") == "bot.db"
    assert sqlite_path("sqlite:///bot.db") == "bot.db"  # relative, as in SQLAlchemy
    assert sqlite_path("sqlite:///data/bot.db") == "data/bot.db"
    assert sqlite_path("sqlite:////srv/bot.db") == "/srv/bot.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    # No ./tmp here but a /tmp: three slashes written the file:/// way mean /tmp.
    assert not (tmp_path / "tmp").exists() and os.path.isdir("/tmp")
    assert sqlite_path("sqlite:///tmp/bot.db") == "/tmp/bot.db"
    (tmp_path / "tmp").mkdir()
    assert sqlite_path("sqlite:///tmp/bot.db") == "tmp/bot.db"


async def test_an_unknown_database_url_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="THREADBOT_DB") as caught:
        await open_store("mysql://localhost/bot")
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="needs a path"):
        await open_store("sqlite://")


async def test_a_dead_process_leases_go_at_once_a_live_ones_stay(tmp_path: Path) -> None:
    """Processes sharing a SQLite file share a machine: a lease whose holder process died
    (kill -9) is forgotten at once, without waiting out its expiry; a live holder's stays."""
    db = tmp_path / "bot.db"
    store = await open_store(db)
    key = ThreadKey("slack", "T1", "C1", "1")
    thread = await store.ensure_thread(key, "replay")
    await store.add(thread, NewMessage(role="user", content="hi", tokens=1,
                                       platform_message_id="m1", awaits_answer=True))
    holder = """
import asyncio, sys
from storage import open_store
async def main():
    store = await open_store(sys.argv[1])
    assert await store.claim(int(sys.argv[2]), "other-process", 3600)
    print("held", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", holder, str(db), str(thread.id),
        stdout=asyncio.subprocess.PIPE, env=child_env({}),
    )
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"held\n"
        assert await store.unfinished() == []  # alive: its lease stands
        assert not await store.claim(thread.id, "this-process", 30)
        proc.kill()
        await proc.wait()
        [work] = await store.unfinished()  # dead: taken over at once, not in an hour
        assert work.key == key and work.waiting == 1
        assert await store.claim(thread.id, "this-process", 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await store.close()


async def test_processes_opening_a_new_file_together_all_start(tmp_path: Path) -> None:
    """Replicas or shards started at the same moment on a new file: each migration is
    applied once, and no process fails on another's half-applied schema."""
    db = tmp_path / "new.db"
    opener = """
import asyncio, sys, time
from storage import open_store
async def main():
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    store = await open_store(sys.argv[1])
    await store.close()
asyncio.run(main())
"""
    start = time.time() + 1.5
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", opener, str(db), repr(start),
            stderr=asyncio.subprocess.PIPE, env=child_env({}),
        )
        for _ in range(10)
    ]
    results = [await proc.communicate() for proc in procs]
    assert [p.returncode for p in procs] == [0] * 10, [err.decode()[-300:] for _, err in results]
    async with aiosqlite.connect(db) as conn:
        rows = await conn.execute_fetchall("SELECT name FROM _migrations ORDER BY name")
    assert [r[0] for r in rows] == [name for name, _ in MIGRATIONS]


async def test_a_file_from_before_cached_input_tokens_is_upgraded_and_keeps_its_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store the previous release wrote (migrations 001-003, a reply with its usage) opens
    with the cached-input column added: the old reply reads as 0 cached, new ones keep it."""
    path = tmp_path / "old.db"
    with monkeypatch.context() as old_release:
        old_release.setattr(sqlite_migrations, "MIGRATIONS", MIGRATIONS[:3])
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await sqlite_migrations.migrate(db)
            await db.execute(
                """INSERT INTO threads (id, platform, scope, channel, thread, strategy,
                                        created_at, updated_at)
                   VALUES (1, ?, ?, ?, ?, 'chain', '2026-01-01T00:00:00+00:00',
                           '2026-01-01T00:00:00+00:00')""",
                (KEY.platform, KEY.scope, KEY.channel, KEY.thread),
            )
            await db.execute(
                """INSERT INTO messages (thread_id, epoch, role, content, tokens, running_tokens,
                                         response_id, model, input_tokens, output_tokens,
                                         ending, created_at)
                   VALUES (1, 0, 'assistant', 'old reply', 2, 2, 'resp_old', 'gpt-x', 120, 7,
                           'answered', '2026-01-01T00:00:00+00:00')"""
            )

    store = await open_store(path)
    try:
        thread = await store.get_thread(KEY)
        assert thread is not None
        assert await store.reply_usage(thread, "resp_old") == Usage(120, 7, 0)
        row = await store.begin_reply(thread)
        await store.finish_reply(thread, row, NewMessage(
            role="assistant", content="new reply", tokens=2, model="gpt-y",
            response_id="resp_new", usage=Usage(300, 9, 256), ending=Ending.ANSWERED))
        assert [(m.model, m.usage) for _, m in await store.history(KEY)] == [
            ("gpt-x", Usage(120, 7, 0)), ("gpt-y", Usage(300, 9, 256)),
        ]
        assert [s.cached_input_tokens for s in await store.stats()] == [256]
    finally:
        await store.close()
    async with aiosqlite.connect(path) as db:
        names = await db.execute_fetchall("SELECT name FROM _migrations ORDER BY name")
    assert [n for (n,) in names] == [name for name, _ in MIGRATIONS]
