"""Reading a SQLite store back for people: `threadbot export` and `threadbot stats`.

Apart from storage/sqlite.py (the conversation path) to keep each module small; the same
connection and the same one-hop ``_run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from bot.types import Coverage, Ending, PlatformStats, StoredMessage, ThreadKey, ThreadListing
from storage import stored_usage

MESSAGE_COLUMNS = (
    "id, role, author_id, author_name, content, tokens, platform_msg_id, response_id, "
    "created_at, ending, model, input_tokens, output_tokens, cached_input_tokens, "
    "reasoning_tokens, covers_tokens, covers_messages"
)


class SqliteReads:
    _db: aiosqlite.Connection
    _idle: asyncio.Event  # set unless a transaction is open on the connection (sqlite_spending.py)

    async def _run(self, sql: str, params: Any = ()) -> list[Any]:
        await self._no_transaction()
        return list(await self._db.execute_fetchall(sql, params))

    async def _no_transaction(self) -> None:
        """Wait while a transaction is open on the shared connection: a statement sent now
        would run inside it, and be rolled back with it. The caller must send its statement
        without awaiting anything else first: aiosqlite queues it at once, and its queue is
        in order, so a transaction begun later starts after it."""
        while not self._idle.is_set():
            await self._idle.wait()

    async def history(self, key: ThreadKey) -> list[tuple[int, StoredMessage]]:
        """Every stored message of a thread, all epochs, oldest first (for export)."""
        rows = await self._run(
            f"""SELECT m.epoch, {', '.join('m.' + c for c in MESSAGE_COLUMNS.split(', '))}
                FROM messages m JOIN threads t ON t.id = m.thread_id
                WHERE t.platform = ? AND t.scope = ? AND t.channel = ? AND t.thread = ?
                  AND m.content != ''
                ORDER BY m.id""",
            (key.platform, key.scope, key.channel, key.thread),
        )
        return [(row[0], _message(row[1:])) for row in rows]

    async def stats(self) -> list[PlatformStats]:
        rows = await self._run(
            """SELECT t.platform, COUNT(DISTINCT t.id), COUNT(m.id), COALESCE(SUM(m.tokens), 0),
                      COALESCE(SUM(m.cached_input_tokens), 0),
                      COALESCE(SUM(m.reasoning_tokens), 0)
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id AND m.content != ''
               GROUP BY t.platform ORDER BY t.platform"""
        )
        return [PlatformStats(*row) for row in rows]

    async def list_threads(self) -> list[ThreadListing]:
        """Every thread with its message count, most recently active first."""
        rows = await self._run(
            """SELECT t.platform, t.scope, t.channel, t.thread, COUNT(m.id), t.updated_at
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id AND m.content != ''
               GROUP BY t.id ORDER BY t.updated_at DESC"""
        )
        return [ThreadListing(ThreadKey(*row[:4]), row[4], row[5]) for row in rows]



def _message(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(
        id=row[0], role=row[1], author_id=row[2], author_name=row[3], content=row[4],
        tokens=row[5], platform_message_id=row[6], response_id=row[7],
        created_at=datetime.fromisoformat(row[8]), ending=Ending(row[9]) if row[9] else None,
        model=row[10], usage=stored_usage(row[11:15]),
        covers=Coverage(row[15], row[16]) if row[15] is not None else None,
    )
