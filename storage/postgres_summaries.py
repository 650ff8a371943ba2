"""Rolling summaries on PostgreSQL (bot/history/compaction.py): a summary row stands for
the oldest messages of its epoch, up to a running token total, and the context is read
after it.

Apart from storage/postgres.py to keep each module small; the same pool. Every read is an
index range (the running total, or the partial index on rolling summaries).
"""

from __future__ import annotations

import asyncpg

from bot.types import ContextMessage, Coverage, RollingSummary, ThreadState, utcnow
from storage import stored_usage, usage_columns

_NO_LIMIT = 2**62  # "before" when there is no reserved row: above every row id
_COLUMNS = "role, author_id, author_name, content, tokens, running_tokens"
_CONTEXT = "thread_id = $1 AND epoch = $2 AND role <> 'summary' AND content <> '' AND id < $5"


class PostgresSummaries:
    _pool: asyncpg.Pool

    async def rolling_summary(self, thread: ThreadState) -> RollingSummary | None:
        row = await self._pool.fetchrow(
            """SELECT content, tokens, covers_tokens, covers_messages, model, input_tokens,
                      output_tokens, cached_input_tokens, reasoning_tokens FROM messages
               WHERE thread_id = $1 AND epoch = $2 AND covers_tokens IS NOT NULL
               ORDER BY id DESC LIMIT 1""",
            thread.id, thread.epoch,
        )
        if row is None:
            return None
        return RollingSummary(content=row[0], tokens=row[1], covers=Coverage(row[2], row[3]),
                              model=row[4] or "", usage=stored_usage(tuple(row)[5:]))

    async def add_rolling_summary(self, thread: ThreadState, summary: RollingSummary) -> None:
        """A summary row at the running total it covers: never part of the context itself
        (role 'summary'), and the totals of other rows stay as they are."""
        await self._pool.execute(
            """INSERT INTO messages (thread_id, epoch, role, content, tokens, running_tokens,
                                     model, covers_tokens, covers_messages, created_at,
                                     input_tokens, output_tokens, cached_input_tokens,
                                     reasoning_tokens)
               VALUES ($1, $2, 'summary', $3, $4, $5, $6, $5, $7, $8, $9, $10, $11, $12)""",
            thread.id, thread.epoch, summary.content, summary.tokens, summary.covers.tokens,
            summary.model, summary.covers.messages, utcnow(), *usage_columns(summary.usage),
        )

    async def running_total(self, thread: ThreadState) -> int:
        total = await self._pool.fetchval(
            """SELECT COALESCE(MAX(running_tokens), 0) FROM messages
               WHERE thread_id = $1 AND epoch = $2""",
            thread.id, thread.epoch,
        )
        return int(total)

    async def oldest(
        self, thread: ThreadState, tokens: int, *, after: int, before: int | None = None
    ) -> tuple[list[ContextMessage], int]:
        """Two bounded index ranges: the rows ending within the block, and the one row that
        straddles its end (never a scan to the end of a long thread)."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM messages WHERE {_CONTEXT}
                  AND running_tokens > $3 AND running_tokens <= $3 + $4
                UNION ALL
                SELECT * FROM (SELECT {_COLUMNS} FROM messages WHERE {_CONTEXT}
                                 AND running_tokens > $3 + $4
                               ORDER BY running_tokens, id LIMIT 1) AS straddling
                WHERE running_tokens - tokens < $3 + $4
                ORDER BY 6""",
            thread.id, thread.epoch, after, tokens, before or _NO_LIMIT,
        )
        return [ContextMessage(*row[:5]) for row in rows], rows[-1][5] if rows else after
