"""The conversation store on SQLite (aiosqlite) — the only SQL in the project.

One connection, in autocommit mode: every statement below is its own atomic write, so a turn
costs few thread hops (aiosqlite runs each await on its worker thread, ~40-90 µs each).
The one explicit transaction is a quota's admission (storage/sqlite_spending.py); every other
statement waits while it is open.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.images import from_json, to_json
from bot.types import (
    ContextMessage,
    Ending,
    NewMessage,
    ThreadKey,
    ThreadState,
    Usage,
    utcnow,
)
from storage import stored_usage
from storage.migrations.sqlite import migrate
from storage.sqlite_file import prepare, unusable
from storage.sqlite_leases import Holders
from storage.sqlite_purge import SqlitePurge
from storage.sqlite_spending import SqliteSpending
from storage.sqlite_summaries import SqliteSummaries

_CONTEXT_COLUMNS = "role, author_id, author_name, content, tokens, running_tokens, images"

# Running total of the thread's context messages, computed inside the INSERT so it costs no
# extra round trip; summaries add nothing (they never enter the context).
_INSERT_MESSAGE = """
INSERT INTO messages (thread_id, epoch, role, author_id, author_name, content, tokens,
                      running_tokens, platform_msg_id, response_id, model,
                      input_tokens, output_tokens, cached_input_tokens, stopped, ending,
                      awaits_answer, created_at, reasoning_tokens)
SELECT :thread_id, :epoch, :role, :author_id, :author_name, :content, :tokens,
       COALESCE((SELECT MAX(running_tokens) FROM messages
                 WHERE thread_id = :thread_id AND epoch = :epoch), 0)
         + CASE WHEN :role = 'summary' THEN 0 ELSE :tokens END,
       :platform_msg_id, :response_id, :model, :input_tokens, :output_tokens,
       :cached_input_tokens, :stopped, :ending, :awaits_answer, :created_at,
       :reasoning_tokens
ON CONFLICT (thread_id, platform_msg_id) DO NOTHING
"""
# One row: the new id, or none for a redelivery (executemany cannot take RETURNING).
_INSERT_MESSAGE_RETURNING_ID = _INSERT_MESSAGE + "RETURNING id"
_NO_LIMIT = 2**62  # "before" when there is no reserved row: above every row id


class SqliteStore(SqliteSpending, SqlitePurge, SqliteSummaries):
    """Every method is one ``execute_fetchall``: a single hop to aiosqlite's thread (an
    ``async with execute() … fetchone()`` costs three)."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self._holders = Holders(path)
        self._idle = asyncio.Event()  # cleared while admit's transaction is open
        self._idle.set()
        self._admitting = asyncio.Lock()  # one admit transaction at a time on the connection

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
        return cls(db, str(path))

    async def close(self) -> None:
        await self._db.close()
        self._holders.close()

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
        row_id: int | None = rows[0][0] if rows else None
        if row_id is not None and message.images:
            await self._run("UPDATE messages SET images = :images WHERE id = :id",
                            {"images": to_json(message.images), "id": row_id})
        return row_id

    async def add_to(
        self, key: ThreadKey, strategy: str, message: NewMessage
    ) -> tuple[ThreadState, int | None]:
        """Two hops here (a local file costs ~0.1 ms each): the thread, then the message."""
        thread = await self.ensure_thread(key, strategy)
        return thread, await self.add(thread, message)

    async def add_many(self, thread: ThreadState, messages: Sequence[NewMessage]) -> None:
        """Store several messages in one hop; already-stored platform ids are skipped.

        No explicit transaction: on the shared autocommit connection another coroutine's
        write could land inside it and be rolled back with it on an error.
        """
        await self._no_transaction()
        await self._db.executemany(_INSERT_MESSAGE, [_params(thread, m) for m in messages])
        pictured = [m for m in messages if m.images and m.platform_message_id]
        if pictured:
            await self._db.executemany(
                "UPDATE messages SET images = ? WHERE thread_id = ? AND platform_msg_id = ?",
                [(to_json(m.images), thread.id, m.platform_message_id) for m in pictured],
            )

    async def begin_reply(self, thread: ThreadState) -> int:
        """Reserve the reply's row before its context is read, so messages that arrive while
        it is generated are ordered after it — as they were said — not before it."""
        row_id = await self.add(thread, NewMessage(role="assistant", content="", tokens=0))
        assert row_id is not None
        return row_id

    async def finish_reply(self, thread: ThreadState, row_id: int, reply: NewMessage) -> None:
        """Fill the reserved row (its text may be empty: a reply that failed or was cut off
        before any text still ends, and still answers), shift the running totals of it and of
        the messages stored since, and mark every message stored before it as answered.

        One statement, so it is atomic without a transaction that other coroutines' writes
        could slip into: a crash leaves either the open reply and its waiting messages, or
        the reply and its answered messages — never an answer that is also still waiting."""
        await self._run(
            """UPDATE messages SET
                   running_tokens = running_tokens + CASE WHEN id >= :row_id THEN :tokens ELSE 0 END,
                   awaits_answer = CASE WHEN id < :row_id THEN 0 ELSE awaits_answer END,
                   content       = CASE WHEN id = :row_id THEN :content ELSE content END,
                   tokens        = CASE WHEN id = :row_id THEN :tokens ELSE tokens END,
                   response_id   = CASE WHEN id = :row_id THEN :response_id ELSE response_id END,
                   model         = CASE WHEN id = :row_id THEN :model ELSE model END,
                   input_tokens  = CASE WHEN id = :row_id THEN :input_tokens ELSE input_tokens END,
                   output_tokens = CASE WHEN id = :row_id THEN :output_tokens
                                        ELSE output_tokens END,
                   cached_input_tokens = CASE WHEN id = :row_id THEN :cached_input_tokens
                                              ELSE cached_input_tokens END,
                   reasoning_tokens = CASE WHEN id = :row_id THEN :reasoning_tokens
                                           ELSE reasoning_tokens END,
                   stopped       = CASE WHEN id = :row_id THEN :stopped ELSE stopped END,
                   ending        = CASE WHEN id = :row_id THEN :ending ELSE ending END,
                   created_at    = CASE WHEN id = :row_id THEN :created_at ELSE created_at END
               WHERE thread_id = :thread_id AND (
                   (epoch = :epoch AND id >= :row_id
                    -- running totals never decrease: this bounds the index range to the rows
                    -- since the reply instead of the whole thread
                    AND running_tokens >= (SELECT running_tokens FROM messages WHERE id = :row_id))
                   OR (awaits_answer = 1 AND id < :row_id))""",
            {**_params(thread, reply), "row_id": row_id},
        )

    async def discard_reply(self, row_id: int) -> None:
        """Drop a reserved row that was never shown (a round with nothing to answer)."""
        await self._run(
            "DELETE FROM messages WHERE id = ? AND role = 'assistant' AND ending IS NULL", (row_id,)
        )

    async def set_refs(self, row_id: int, refs: Sequence[str]) -> None:
        """Record the platform messages showing reply ``row_id`` ([] once they are final)."""
        await self._run("UPDATE messages SET refs = ? WHERE id = ?", (json.dumps(list(refs)), row_id))

    async def settle(self, thread: ThreadState) -> None:
        """Nothing in the thread waits for an answer any more (a stop or a reset)."""
        await self._run(
            "UPDATE messages SET awaits_answer = 0 WHERE thread_id = ? AND awaits_answer = 1",
            (thread.id,),
        )

    async def context(
        self, thread: ThreadState, budget: int, *, before: int | None = None, after: int = 0
    ) -> list[ContextMessage]:
        """The newest user/assistant messages of the current epoch that fit ``budget`` tokens,
        oldest first; with ``before`` (a reserved reply row) only those stored before it.
        Reads only those rows (index range on the running total), so its cost does not grow
        with the thread. The newest message is always included, even when it alone exceeds
        the budget: the caller truncates it rather than sending nothing. ``after``: only
        messages past that running total (what a rolling summary does not cover)."""
        top = (
            "(SELECT running_tokens FROM messages WHERE id = :before)"
            if before is not None
            else "(SELECT COALESCE(MAX(running_tokens), 0) FROM messages "
            "WHERE thread_id = :t AND epoch = :e)"
        )
        rows = await self._run(
            f"""SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = :t AND epoch = :e AND role != 'summary' AND content != ''
                  AND running_tokens > {top} - :budget AND running_tokens <= {top}
                  AND running_tokens > :after AND id < :before
                ORDER BY running_tokens, id""",
            {"t": thread.id, "e": thread.epoch, "budget": budget, "before": before or _NO_LIMIT,
             "after": after},
        )
        if not rows:
            return []
        top_total = rows[-1][5]
        # The oldest row is the one whose end fits the budget; keep it only if all of it fits.
        if len(rows) > 1 and top_total - (rows[0][5] - rows[0][4]) > budget:
            rows = rows[1:]
        return [_context_message(row) for row in rows]

    async def since_response(
        self, thread: ThreadState, response_id: str, *, before: int | None = None
    ) -> list[ContextMessage]:
        """User messages stored after the reply ``response_id`` (and before the reserved row
        ``before``): the new input of a chained turn; [] when that reply is not in this
        epoch."""
        rows = await self._run(
            f"""WITH anchor AS (SELECT id, running_tokens FROM messages
                                WHERE thread_id = :t AND epoch = :e AND response_id = :r)
                SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = :t AND epoch = :e AND role = 'user'
                  -- running totals never decrease: an index range, not the whole thread
                  AND running_tokens >= (SELECT running_tokens FROM anchor)
                  AND id > (SELECT id FROM anchor) AND id < :before
                ORDER BY running_tokens, id""",
            {"t": thread.id, "e": thread.epoch, "r": response_id, "before": before or _NO_LIMIT},
        )
        return [_context_message(row) for row in rows]

    async def reply_usage(self, thread: ThreadState, response_id: str) -> Usage | None:
        rows = await self._run(
            """SELECT input_tokens, output_tokens, cached_input_tokens, reasoning_tokens
               FROM messages WHERE thread_id = ? AND response_id = ? AND input_tokens IS NOT NULL""",
            (thread.id, response_id),
        )
        return stored_usage(rows[0]) if rows else None

    # --- commands and hints ---
    async def first_time(self, key: ThreadKey, event_id: str, kind: str) -> bool:
        """Record that the platform event ``event_id`` (a command, a hint) was handled in
        ``key``; False if it already was (a redelivery, also after a restart)."""
        rows = await self._run(
            """INSERT INTO handled (platform, scope, channel, thread, event_id, kind, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1""",
            (key.platform, key.scope, key.channel, key.thread, event_id, kind,
             utcnow().isoformat()),
        )
        return bool(rows)

    # --- after a restart (unfinished, tidied: sqlite_leases.py, with the leases) ---
    async def expire_waiting(self, older_than: datetime) -> int:
        """Leave messages that waited since before ``older_than``: marked, never answered."""
        rows = await self._run(
            """UPDATE messages SET awaits_answer = 2
               WHERE awaits_answer = 1 AND created_at < ? RETURNING 1""",
            (older_than.isoformat(),),
        )
        return len(rows)


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
        "cached_input_tokens": m.usage.cached_input_tokens if m.usage else None,
        "reasoning_tokens": m.usage.reasoning_tokens if m.usage else None,
        "stopped": int(m.ending is Ending.STOPPED),
        "ending": m.ending.value if m.ending else None,
        "awaits_answer": int(m.awaits_answer),
        "created_at": (m.at or utcnow()).isoformat(),
    }


def _context_message(row: Any) -> ContextMessage:
    """A ``_CONTEXT_COLUMNS`` row (the running total is only for fitting the budget)."""
    return ContextMessage(row[0], row[1], row[2], row[3], row[4], from_json(row[6]))
