"""The conversation store on SQLite (aiosqlite) — the only SQL in the project.

One connection, in autocommit mode: every statement below is its own atomic write, so a turn
costs few thread hops (aiosqlite runs each await on its worker thread, ~40-90 µs each).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.types import (
    ContextMessage,
    NewMessage,
    PlatformStats,
    StoredMessage,
    ThreadKey,
    ThreadListing,
    ThreadState,
    utcnow,
)
from storage.migrations.sqlite import migrate
from storage.sqlite_file import prepare, unusable

_MESSAGE_COLUMNS = (
    "id, role, author_id, author_name, content, tokens, platform_msg_id, response_id, "
    "created_at, stopped"
)
_CONTEXT_COLUMNS = "role, author_id, author_name, content, tokens, running_tokens"

# Running total of the thread's context messages, computed inside the INSERT so it costs no
# extra round trip; summaries add nothing (they never enter the context).
_INSERT_MESSAGE = """
INSERT INTO messages (thread_id, epoch, role, author_id, author_name, content, tokens,
                      running_tokens, platform_msg_id, response_id, model,
                      input_tokens, output_tokens, stopped, created_at)
SELECT :thread_id, :epoch, :role, :author_id, :author_name, :content, :tokens,
       COALESCE((SELECT MAX(running_tokens) FROM messages
                 WHERE thread_id = :thread_id AND epoch = :epoch), 0)
         + CASE WHEN :role = 'summary' THEN 0 ELSE :tokens END,
       :platform_msg_id, :response_id, :model, :input_tokens, :output_tokens, :stopped,
       :created_at
ON CONFLICT (thread_id, platform_msg_id) DO NOTHING
"""
# One row: the new id, or none for a redelivery (executemany cannot take RETURNING).
_INSERT_MESSAGE_RETURNING_ID = _INSERT_MESSAGE + "RETURNING id"


class SqliteStore:
    """Every method is one ``execute_fetchall``: a single hop to aiosqlite's thread (an
    ``async with execute() … fetchone()`` costs three)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _run(self, sql: str, params: Any = ()) -> list[Any]:
        return list(await self._db.execute_fetchall(sql, params))

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        """A file that cannot be the store ends in one ConfigError line (sqlite_file.py), and
        a connection that fails half-way is closed: its worker thread would keep the process
        alive forever."""
        prepare(str(path))
        try:
            db = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise unusable(str(path), exc) from None
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 5000")
            await migrate(db)
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise unusable(str(path), exc) from None
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    # --- threads ---
    async def ensure_thread(self, key: ThreadKey, strategy: str) -> ThreadState:
        """The thread's row, created with ``strategy`` if new (one round trip either way)."""
        now = utcnow().isoformat()
        rows = await self._run(
            """INSERT INTO threads (platform, scope, channel, thread, strategy, created_at,
                                    updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (platform, scope, channel, thread)
               DO UPDATE SET updated_at = excluded.updated_at
               RETURNING id, strategy, epoch, last_response_id, model""",
            (key.platform, key.scope, key.channel, key.thread, strategy, now, now),
        )
        return _thread(key, rows[0])

    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        rows = await self._run(
            """SELECT id, strategy, epoch, last_response_id, model FROM threads
               WHERE platform = ? AND scope = ? AND channel = ? AND thread = ?""",
            (key.platform, key.scope, key.channel, key.thread),
        )
        return _thread(key, rows[0]) if rows else None

    async def reset(self, thread_id: int) -> None:
        """Start a new epoch: earlier messages stay on disk but leave the context."""
        await self._run(
            """UPDATE threads SET epoch = epoch + 1, last_response_id = NULL, updated_at = ?
               WHERE id = ?""",
            (utcnow().isoformat(), thread_id),
        )

    async def set_anchor(self, thread: ThreadState, response_id: str | None, model: str) -> None:
        """Point the chain at ``response_id`` (None: the next turn must replay).

        Only within the epoch the reply belonged to: a reply that finishes after a reset must
        not re-attach the old conversation.
        """
        await self._run(
            """UPDATE threads SET last_response_id = ?, model = ?, updated_at = ?
               WHERE id = ? AND epoch = ?""",
            (response_id, model, utcnow().isoformat(), thread.id, thread.epoch),
        )

    # --- messages ---
    async def add(self, thread: ThreadState, message: NewMessage) -> int | None:
        """Store one message in the thread's current epoch; its row id, or None if its
        platform id was already stored (a redelivery)."""
        rows = await self._run(_INSERT_MESSAGE_RETURNING_ID, _params(thread, message))
        return rows[0][0] if rows else None

    async def add_many(self, thread: ThreadState, messages: Sequence[NewMessage]) -> None:
        """Store several messages in one hop; already-stored platform ids are skipped.

        No explicit transaction: on the shared autocommit connection another coroutine's
        write could land inside it and be rolled back with it on an error.
        """
        await self._db.executemany(_INSERT_MESSAGE, [_params(thread, m) for m in messages])

    async def begin_reply(self, thread: ThreadState) -> int:
        """Reserve the reply's row before its context is read, so messages that arrive while
        it is generated are ordered after it — as they were said — not before it."""
        row_id = await self.add(thread, NewMessage(role="assistant", content="", tokens=0))
        assert row_id is not None
        return row_id

    async def finish_reply(self, thread: ThreadState, row_id: int, reply: NewMessage) -> None:
        """Fill the reserved row and shift the running totals of it and of the messages
        stored since (only those that arrived during this reply). One statement, so it is
        atomic without a transaction that other coroutines' writes could slip into."""
        await self._run(
            """UPDATE messages SET
                   running_tokens = running_tokens + :tokens,
                   content       = CASE WHEN id = :row_id THEN :content ELSE content END,
                   tokens        = CASE WHEN id = :row_id THEN :tokens ELSE tokens END,
                   response_id   = CASE WHEN id = :row_id THEN :response_id ELSE response_id END,
                   model         = CASE WHEN id = :row_id THEN :model ELSE model END,
                   input_tokens  = CASE WHEN id = :row_id THEN :input_tokens ELSE input_tokens END,
                   output_tokens = CASE WHEN id = :row_id THEN :output_tokens
                                        ELSE output_tokens END,
                   stopped       = CASE WHEN id = :row_id THEN :stopped ELSE stopped END,
                   created_at    = CASE WHEN id = :row_id THEN :created_at ELSE created_at END
               WHERE thread_id = :thread_id AND epoch = :epoch AND id >= :row_id
                 -- running totals never decrease: this bounds the index range to the rows
                 -- since the reply instead of the whole thread
                 AND running_tokens >= (SELECT running_tokens FROM messages WHERE id = :row_id)""",
            {**_params(thread, reply), "row_id": row_id},
        )

    async def discard_reply(self, row_id: int) -> None:
        """Drop a reserved reply row that never got text (failed, or stopped at once)."""
        await self._run("DELETE FROM messages WHERE id = ? AND content = ''", (row_id,))

    async def context(self, thread: ThreadState, budget: int) -> list[ContextMessage]:
        """The newest user/assistant messages of the current epoch that fit ``budget`` tokens,
        oldest first. Reads only those rows (index range on the running total), so its cost
        does not grow with the thread. The newest message is always included, even when it
        alone exceeds the budget: the caller truncates it rather than sending nothing."""
        rows = await self._run(
            f"""SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = :t AND epoch = :e AND role != 'summary' AND content != ''
                  AND running_tokens > (SELECT COALESCE(MAX(running_tokens), 0) FROM messages
                                        WHERE thread_id = :t AND epoch = :e) - :budget
                ORDER BY running_tokens, id""",
            {"t": thread.id, "e": thread.epoch, "budget": budget},
        )
        if not rows:
            return []
        top = rows[-1][5]
        # The oldest row is the one whose end fits the budget; keep it only if all of it fits.
        if len(rows) > 1 and top - (rows[0][5] - rows[0][4]) > budget:
            rows = rows[1:]
        return [ContextMessage._make(row[:5]) for row in rows]

    async def since_response(self, thread: ThreadState, response_id: str) -> list[ContextMessage]:
        """User messages stored after the reply ``response_id`` (the new input of a chained
        turn); [] when that reply is not in this epoch."""
        rows = await self._run(
            f"""WITH anchor AS (SELECT id, running_tokens FROM messages
                                WHERE thread_id = :t AND epoch = :e AND response_id = :r)
                SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = :t AND epoch = :e AND role = 'user'
                  -- running totals never decrease: an index range, not the whole thread
                  AND running_tokens >= (SELECT running_tokens FROM anchor)
                  AND id > (SELECT id FROM anchor)
                ORDER BY running_tokens, id""",
            {"t": thread.id, "e": thread.epoch, "r": response_id},
        )
        return [ContextMessage._make(row[:5]) for row in rows]

    async def history(self, key: ThreadKey) -> list[tuple[int, StoredMessage]]:
        """Every stored message of a thread, all epochs, oldest first (for export)."""
        rows = await self._run(
            f"""SELECT m.epoch, {', '.join('m.' + c for c in _MESSAGE_COLUMNS.split(', '))}
                FROM messages m JOIN threads t ON t.id = m.thread_id
                WHERE t.platform = ? AND t.scope = ? AND t.channel = ? AND t.thread = ?
                  AND m.content != ''
                ORDER BY m.id""",
            (key.platform, key.scope, key.channel, key.thread),
        )
        return [(row[0], _message(row[1:])) for row in rows]

    async def stats(self) -> list[PlatformStats]:
        rows = await self._run(
            """SELECT t.platform, COUNT(DISTINCT t.id), COUNT(m.id), COALESCE(SUM(m.tokens), 0)
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id
               GROUP BY t.platform ORDER BY t.platform"""
        )
        return [PlatformStats(*row) for row in rows]

    async def list_threads(self) -> list[ThreadListing]:
        """Every thread with its message count, most recently active first."""
        rows = await self._run(
            """SELECT t.platform, t.scope, t.channel, t.thread, COUNT(m.id), t.updated_at
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id
               GROUP BY t.id ORDER BY t.updated_at DESC"""
        )
        return [ThreadListing(ThreadKey(*row[:4]), row[4], row[5]) for row in rows]


def _thread(key: ThreadKey, row: Sequence[Any]) -> ThreadState:
    return ThreadState(
        id=row[0], key=key, strategy=row[1], epoch=row[2], last_response_id=row[3], model=row[4]
    )


def _params(thread: ThreadState, m: NewMessage) -> dict[str, Any]:
    return {
        "thread_id": thread.id,
        "epoch": thread.epoch,
        "role": m.role,
        "author_id": m.author_id,
        "author_name": m.author_name,
        "content": m.content,
        "tokens": m.tokens,
        "platform_msg_id": m.platform_message_id,
        "response_id": m.response_id,
        "model": m.model,
        "input_tokens": m.usage.input_tokens if m.usage else None,
        "output_tokens": m.usage.output_tokens if m.usage else None,
        "stopped": int(m.stopped),
        "created_at": (m.at or utcnow()).isoformat(),
    }


def _message(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(
        id=row[0], role=row[1], author_id=row[2], author_name=row[3], content=row[4],
        tokens=row[5], platform_message_id=row[6], response_id=row[7],
        created_at=datetime.fromisoformat(row[8]), stopped=bool(row[9]),
    )
