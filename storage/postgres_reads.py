"""Reading a PostgreSQL store back for people: `threadbot export` and `threadbot stats`.

Apart from storage/postgres.py (the conversation path) to keep each module small; the same
pool. Each method is one statement on a pooled connection (asyncpg prepares and caches it
per connection).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bot.types import Coverage, Ending, PlatformStats, StoredMessage, ThreadKey, ThreadListing
from storage import stored_usage


class PostgresReads:
    _pool: asyncpg.Pool
    _upkeep: asyncpg.Pool  # one connection: lease renewals and stops, never queued behind turns

    async def history(self, key: ThreadKey) -> list[tuple[int, StoredMessage]]:
        """Every stored message of a thread, all epochs, oldest first (for export)."""
        rows = await self._pool.fetch(
            """SELECT m.epoch, m.id, m.role, m.author_id, m.author_name, m.content, m.tokens,
                      m.platform_msg_id, m.response_id, m.created_at, m.ending, m.model,
                      m.input_tokens, m.output_tokens, m.cached_input_tokens,
                      m.reasoning_tokens,
                      m.covers_tokens, m.covers_messages
               FROM messages m JOIN threads t ON t.id = m.thread_id
               WHERE t.platform = $1 AND t.scope = $2 AND t.channel = $3 AND t.thread = $4
                 AND m.content <> ''
               ORDER BY m.id""",
            *key_args(key),
        )
        return [(row[0], _message(row)) for row in rows]

    async def stats(self) -> list[PlatformStats]:
        rows = await self._pool.fetch(
            """SELECT t.platform, COUNT(DISTINCT t.id), COUNT(m.id),
                      COALESCE(SUM(m.tokens), 0)::bigint,
                      COALESCE(SUM(m.cached_input_tokens), 0)::bigint,
                      COALESCE(SUM(m.reasoning_tokens), 0)::bigint
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id AND m.content <> ''
               GROUP BY t.platform ORDER BY t.platform"""
        )
        return [PlatformStats(*row) for row in rows]

    async def list_threads(self) -> list[ThreadListing]:
        """Every thread with its message count, most recently active first."""
        rows = await self._pool.fetch(
            """SELECT t.platform, t.scope, t.channel, t.thread, COUNT(m.id), t.updated_at
               FROM threads t LEFT JOIN messages m ON m.thread_id = t.id AND m.content <> ''
               GROUP BY t.id ORDER BY t.updated_at DESC, t.id DESC"""
        )
        return [ThreadListing(ThreadKey(*row[:4]), row[4], row[5].isoformat()) for row in rows]


KEY_WHERE = "platform = $1 AND scope = $2 AND channel = $3 AND thread = $4"


def key_args(key: ThreadKey) -> tuple[str, str, str, str]:
    """A thread key as the $1..$4 of KEY_WHERE."""
    return (key.platform, key.scope, key.channel, key.thread)


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row[1], role=row[2], author_id=row[3], author_name=row[4], content=row[5],
        tokens=row[6], platform_message_id=row[7], response_id=row[8], created_at=row[9],
        ending=Ending(row[10]) if row[10] else None, model=row[11],
        usage=stored_usage(tuple(row)[12:16]),
        covers=Coverage(row[16], row[17]) if row[16] is not None else None,
    )
