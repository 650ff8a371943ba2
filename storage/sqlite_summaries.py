"""Rolling summaries on SQLite (bot/history/compaction.py): a summary row stands for the
oldest messages of its epoch, up to a running token total, and the context is read after it.

Apart from storage/sqlite.py to keep each module small; the same connection and one-hop
``_run``. Every read is an index range (the running total, or the partial index on rolling
summaries), so none grows with the thread.
"""

from __future__ import annotations

from bot.types import ContextMessage, Coverage, RollingSummary, ThreadState, utcnow
from storage import stored_usage, usage_columns
from storage.sqlite_reads import SqliteReads

_NO_LIMIT = 2**62  # "before" when there is no reserved row: above every row id
_COLUMNS = "role, author_id, author_name, content, tokens, running_tokens"
_CONTEXT = ("thread_id = :t AND epoch = :e AND role != 'summary' AND content != '' "
            "AND id < :before")


class SqliteSummaries(SqliteReads):
    async def rolling_summary(self, thread: ThreadState) -> RollingSummary | None:
        rows = await self._run(
            """SELECT content, tokens, covers_tokens, covers_messages, model, input_tokens,
                      output_tokens, cached_input_tokens, reasoning_tokens FROM messages
               WHERE thread_id = ? AND epoch = ? AND covers_tokens IS NOT NULL
               ORDER BY id DESC LIMIT 1""",
            (thread.id, thread.epoch),
        )
        if not rows:
            return None
        content, tokens, covered, count, model = rows[0][:5]
        return RollingSummary(content=content, tokens=tokens, covers=Coverage(covered, count),
                              model=model or "", usage=stored_usage(rows[0][5:]))

    async def add_rolling_summary(self, thread: ThreadState, summary: RollingSummary) -> None:
        """A summary row at the running total it covers: never part of the context itself
        (role 'summary'), and the totals of other rows stay as they are."""
        await self._run(
            """INSERT INTO messages (thread_id, epoch, role, content, tokens, running_tokens,
                                     model, covers_tokens, covers_messages, created_at,
                                     input_tokens, output_tokens, cached_input_tokens,
                                     reasoning_tokens)
               VALUES (?, ?, 'summary', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (thread.id, thread.epoch, summary.content, summary.tokens, summary.covers.tokens,
             summary.model, summary.covers.tokens, summary.covers.messages,
             utcnow().isoformat(), *usage_columns(summary.usage)),
        )

    async def running_total(self, thread: ThreadState) -> int:
        rows = await self._run(
            "SELECT COALESCE(MAX(running_tokens), 0) FROM messages WHERE thread_id = ? AND epoch = ?",
            (thread.id, thread.epoch),
        )
        return int(rows[0][0])

    async def oldest(
        self, thread: ThreadState, tokens: int, *, after: int, before: int | None = None
    ) -> tuple[list[ContextMessage], int]:
        """Two bounded index ranges: the rows ending within the block, and the one row that
        straddles its end (never a scan to the end of a long thread)."""
        rows = await self._run(
            f"""SELECT {_COLUMNS} FROM messages WHERE {_CONTEXT}
                  AND running_tokens > :after AND running_tokens <= :after + :tokens
                UNION ALL
                SELECT * FROM (SELECT {_COLUMNS} FROM messages WHERE {_CONTEXT}
                                 AND running_tokens > :after + :tokens
                               ORDER BY running_tokens, id LIMIT 1)
                WHERE running_tokens - tokens < :after + :tokens
                ORDER BY 6""",
            {"t": thread.id, "e": thread.epoch, "after": after, "tokens": tokens,
             "before": before or _NO_LIMIT},
        )
        return [ContextMessage(*row[:5]) for row in rows], rows[-1][5] if rows else after
