"""Leases on SQLite: which process answers a thread (``bot.ports.Store.claim``), and the
work no live process is answering (``unfinished``, ``tidied``).

Processes sharing a SQLite file share one machine, so a lease need not wait out its expiry
when its holder died: each holder keeps an exclusive ``flock`` on a file named after it in
``<db>-holders/`` for as long as it lives, and the kernel drops that lock when the process
ends, kill -9 included. ``unfinished`` first forgets the leases of holders whose lock is gone,
so a restarted bot answers what its predecessor left at once instead of after
``THREADBOT_LEASE_S``. Expiry still applies to a live holder that stopped renewing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from bot.types import ThreadKey, ThreadState, Unfinished
from storage.sqlite_reads import SqliteReads


class Holders:
    """The lock files of this file's lease holders (none for an in-memory database)."""

    def __init__(self, db_path: str) -> None:
        self._dir = None if db_path == ":memory:" else Path(f"{db_path}-holders")
        self._mine: dict[str, int] = {}

    def register(self, holder: str) -> None:
        """Lock ``holder``'s file for the life of this process (before its first lease)."""
        if self._dir is None or holder in self._mine:
            return
        self._dir.mkdir(exist_ok=True)
        fd = os.open(self._dir / _file_name(holder), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._mine[holder] = fd

    def dead(self, holders: Sequence[str]) -> list[str]:
        """Those of ``holders`` whose process is gone (their lock file is not locked)."""
        if self._dir is None:
            return []
        return [h for h in holders if h not in self._mine and not self._locked(h)]

    def _locked(self, holder: str) -> bool:
        assert self._dir is not None
        path = self._dir / _file_name(holder)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)  # the holder is gone: nobody will lock this file again
        return False

    def close(self) -> None:
        assert self._dir is not None or not self._mine
        for holder, fd in self._mine.items():
            if self._dir is not None:
                (self._dir / _file_name(holder)).unlink(missing_ok=True)
            os.close(fd)
        self._mine.clear()


def _file_name(holder: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", holder)


class SqliteLeases(SqliteReads):
    _holders: Holders

    async def claim(self, thread_id: int, holder: str, seconds: float) -> bool:
        self._holders.register(holder)
        now = time.time()
        rows = await self._run(
            """INSERT INTO leases (thread_id, holder, expires_at) VALUES (:t, :h, :until)
               ON CONFLICT (thread_id) DO UPDATE SET
                   expires_at = excluded.expires_at,
                   stop_requested = CASE WHEN leases.holder = excluded.holder
                                         THEN leases.stop_requested ELSE 0 END,
                   holder = excluded.holder
               WHERE leases.holder = excluded.holder OR leases.expires_at < :now
               RETURNING 1""",
            {"t": thread_id, "h": holder, "until": now + seconds, "now": now},
        )
        return bool(rows)

    async def renew(self, holder: str, thread_ids: Collection[int], seconds: float) -> set[int]:
        rows = await self._run(  # the ids as one JSON array: no limit on how many
            """UPDATE leases SET expires_at = ?
               WHERE holder = ? AND thread_id IN (SELECT value FROM json_each(?))
               RETURNING thread_id""",
            (time.time() + seconds, holder, json.dumps(list(thread_ids))),
        )
        return {row[0] for row in rows}

    async def release(self, thread: ThreadState, holder: str) -> Unfinished | None:
        await self._run("DELETE FROM leases WHERE thread_id = ? AND holder = ?", (thread.id, holder))
        return await self.waiting(thread)

    async def waiting(self, thread: ThreadState) -> Unfinished | None:
        """What waits for an answer in the thread's current epoch (read from the thread's
        row: a reset may have moved it on since ``thread`` was read), or None."""
        rows = await self._run(
            # the waiting rows only: without statistics SQLite would pick messages_budget and
            # read the whole thread (each turn asks this after its reply); the bare author_id
            # is taken from the row MAX(id) picked, the newest
            """SELECT COUNT(*), m.author_id, MAX(m.id) FROM messages m INDEXED BY messages_pending
               JOIN threads t ON t.id = m.thread_id AND t.epoch = m.epoch
               WHERE m.thread_id = ? AND m.awaits_answer = 1""",
            (thread.id,),
        )
        count, author = rows[0][0], rows[0][1]
        return Unfinished(thread.key, count, author or "", ()) if count else None

    async def request_stop(self, thread_id: int) -> bool:
        rows = await self._run(
            """UPDATE leases SET stop_requested = 1 WHERE thread_id = ? AND expires_at >= ?
               RETURNING 1""",
            (thread_id, time.time()),
        )
        return bool(rows)

    async def stops_requested(self, holder: str) -> set[int]:
        rows = await self._run(
            """UPDATE leases SET stop_requested = 0 WHERE holder = ? AND stop_requested = 1
               RETURNING thread_id""",
            (holder,),
        )
        return {row[0] for row in rows}

    async def _forget_dead_holders(self) -> float:
        """Drop the leases of holders that died; the time the live ones are compared to."""
        holders = [row[0] for row in await self._run("SELECT DISTINCT holder FROM leases")]
        dead = self._holders.dead(holders)
        if dead:
            marks = ",".join("?" * len(dead))
            await self._run(f"DELETE FROM leases WHERE holder IN ({marks})", dead)
        return time.time()

    async def unfinished(self) -> list[Unfinished]:
        """Threads with messages waiting for an answer (in their current epoch), a reply a
        process was writing when it ended, or a stored reply whose platform messages may not
        show its end (the process died between storing it and showing it) — none a live
        process holds."""
        now = await self._forget_dead_holders()
        rows = await self._run(
            """WITH work AS (
                   SELECT thread_id FROM messages WHERE awaits_answer = 1
                   UNION SELECT thread_id FROM messages
                         WHERE role = 'assistant' AND (ending IS NULL OR refs != '[]'))
               SELECT t.platform, t.scope, t.channel, t.thread,
                      (SELECT COUNT(*) FROM messages m WHERE m.thread_id = t.id
                         AND m.awaits_answer = 1 AND m.epoch = t.epoch),
                      (SELECT m.author_id FROM messages m WHERE m.thread_id = t.id
                         AND m.awaits_answer = 1 ORDER BY m.id DESC LIMIT 1),
                      (SELECT json_group_array(value) FROM (
                         SELECT j.value FROM messages m, json_each(m.refs) j
                         WHERE m.thread_id = t.id AND m.role = 'assistant'
                           AND m.ending IS NULL ORDER BY m.id)),
                      (SELECT json_array(m.refs, m.content) FROM messages m
                         WHERE m.thread_id = t.id AND m.role = 'assistant'
                           AND m.ending IS NOT NULL AND m.refs != '[]'
                         ORDER BY m.id DESC LIMIT 1)
               FROM threads t JOIN work ON work.thread_id = t.id
               WHERE NOT EXISTS (SELECT 1 FROM leases l
                                 WHERE l.thread_id = t.id AND l.expires_at >= ?)""",
            (now,),
        )
        return [_unfinished(row) for row in rows]

    async def tidied(self, key: ThreadKey) -> None:
        """What ``unfinished`` reported for ``key`` was dealt with on screen: forget the
        replies a dead process was writing, and the refs of those it had stored."""
        thread = """(SELECT id FROM threads
                     WHERE platform = :p AND scope = :s AND channel = :c AND thread = :t)"""
        where = {"p": key.platform, "s": key.scope, "c": key.channel, "t": key.thread}
        await self._run(
            f"""DELETE FROM messages WHERE role = 'assistant' AND ending IS NULL
                  AND thread_id = {thread}""",
            where,
        )
        await self._run(
            f"""UPDATE messages SET refs = '[]' WHERE role = 'assistant' AND refs != '[]'
                  AND thread_id = {thread}""",
            where,
        )


def _unfinished(row: Sequence[Any]) -> Unfinished:
    shown_refs, shown_text = json.loads(row[7]) if row[7] else ("[]", "")
    return Unfinished(
        key=ThreadKey(*row[:4]), waiting=row[4], last_author_id=row[5] or "",
        open_refs=tuple(json.loads(row[6] or "[]")),
        shown_refs=tuple(json.loads(shown_refs)), shown_text=shown_text,
    )
