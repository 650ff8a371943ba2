"""Deleting on PostgreSQL (``bot.ports.Store.purge``): retention, `threadbot purge`, /forget.

Apart from storage/postgres.py to keep each module small; the same pool. The threads a purge
touches are worked through in batches, each one transaction that first takes the threads'
advisory locks — the lock every write to a thread takes (storage/migrations/postgres.py) —
in id order, so no message or reply is stored in them between the lease check, the delete
and the repairs, and two purges never deadlock. Batches keep the locks one transaction holds
well under the server's lock table (``max_locks_per_transaction``).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bot.types import Purge, Purged
from storage import purge_named, purged

BATCH = 200  # threads per transaction
_LIVE = """EXISTS (SELECT 1 FROM leases l WHERE l.thread_id = m.thread_id
                   AND l.expires_at >= clock_timestamp())"""
_TOUCHED = "touched AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS x(t, e, low))"


class PostgresPurge:
    _pool: asyncpg.Pool

    async def purge(self, what: Purge, *, dry_run: bool = False) -> Purged:
        where, args = _where(what)
        matched = await self._pool.fetch(_matched(where), *args)
        if dry_run:
            return purged(matched)
        ids = sorted({row[0] for row in matched})
        if what.whole_thread and what.key is not None:  # also one with no message left
            ids = [row[0] for row in await self._pool.fetch(
                "SELECT id FROM threads WHERE platform = $1 AND scope = $2 AND channel = $3 "
                "AND thread = $4", *args[:4])]
        rows: list[Any] = []
        gone = 0
        for start in range(0, len(ids), BATCH):
            batch_rows, batch_gone = await self._batch(what, where, args, ids[start:start + BATCH])
            rows += batch_rows
            gone += batch_gone
        counts = purged(rows)
        if what.whole_thread:
            return Purged(counts.messages, gone, counts.skipped, counts.skipped_messages)
        return counts

    async def _batch(
        self, what: Purge, where: str, args: list[Any], ids: list[int]
    ) -> tuple[list[Any], int]:
        """Lock, match again (a message may have come, a lease been taken), delete, repair:
        the match rows, and how many threads were deleted whole."""
        batch = f"{where} AND m.thread_id = ANY(${len(args) + 1}::bigint[])"
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS id "
                             "ORDER BY id", ids)
            matched = await db.fetch(_matched(batch), *args, ids)
            doomed = [row for row in matched if not row[3]]
            if what.whole_thread:  # its row too (no foreign key on leases: theirs as well)
                gone = await db.fetchval(
                    """WITH gone AS (
                           DELETE FROM threads t WHERE id = ANY($1::bigint[]) AND NOT EXISTS (
                               SELECT 1 FROM leases l WHERE l.thread_id = t.id
                                 AND l.expires_at >= clock_timestamp())
                           RETURNING id),
                       stale AS (DELETE FROM leases WHERE thread_id IN (SELECT id FROM gone))
                       SELECT COUNT(*) FROM gone""", ids)
                return list(matched), int(gone)
            if doomed:
                await _delete(db, batch, args, doomed)
        return list(matched), 0


async def _delete(db: Any, where: str, args: list[Any], doomed: list[Any]) -> None:
    """Delete the matched rows of threads without a live lease, then repair each (thread,
    epoch) touched: summaries covering what went, running totals, chain anchors (see
    ``bot.ports.Store.purge``)."""
    await db.execute(
        f"DELETE FROM messages m WHERE {where} AND m.thread_id = ANY(${len(args) + 2}::bigint[])",
        *args, [row[0] for row in doomed], [row[0] for row in doomed],
    )
    touched = ([row[0] for row in doomed], [row[1] for row in doomed],
               [row[4] for row in doomed])
    # a summary covers the messages up to its running total: one that reached a deleted
    # message would keep what was forgotten
    await db.execute(
        f"""WITH {_TOUCHED}
            DELETE FROM messages m USING touched
            WHERE m.role = 'summary' AND m.thread_id = touched.t AND m.epoch = touched.e
              AND m.running_tokens >= touched.low""",
        *touched,
    )
    # running totals are the sum of the epoch's context tokens up to each row, by id
    await db.execute(
        f"""WITH {_TOUCHED},
            totals AS (SELECT m.id, SUM(m.tokens) OVER (
                                PARTITION BY m.thread_id, m.epoch ORDER BY m.id) AS total
                       FROM messages m JOIN touched ON touched.t = m.thread_id
                                                   AND touched.e = m.epoch
                       WHERE m.role <> 'summary')
            UPDATE messages m SET running_tokens = totals.total FROM totals
            WHERE m.id = totals.id AND m.running_tokens <> totals.total""",
        *touched,
    )
    # the provider still holds the deleted messages in its chain: replay what remains
    await db.execute(
        f"""WITH {_TOUCHED}
            UPDATE threads SET last_response_id = NULL FROM touched
            WHERE threads.id = touched.t AND threads.epoch = touched.e
              AND threads.last_response_id IS NOT NULL""",
        *touched,
    )


def _matched(where: str) -> str:
    """Per thread and epoch: the thread id, epoch, shown messages matched, whether it has a
    live lease, the lowest running total matched, and the thread's key."""
    return f"""SELECT m.thread_id, m.epoch, COUNT(*) FILTER (WHERE m.content <> ''), {_LIVE},
                      MIN(m.running_tokens), t.platform, t.scope, t.channel, t.thread
               FROM messages m JOIN threads t ON t.id = m.thread_id
               WHERE {where}
               GROUP BY m.thread_id, m.epoch, t.platform, t.scope, t.channel, t.thread"""


def _where(what: Purge) -> tuple[str, list[Any]]:
    """The messages ``what`` names, as a condition on ``messages m`` and its arguments."""
    purge_named(what)
    where = [] if what.whole_thread else ["NOT (m.role = 'assistant' AND m.ending IS NULL)"]
    args: list[Any] = []
    if what.key is not None:
        key = what.key
        args += [key.platform, key.scope, key.channel, key.thread]
        where.append("m.thread_id = (SELECT id FROM threads WHERE platform = $1 AND scope = $2 "
                     "AND channel = $3 AND thread = $4)")
    if what.older_than is not None:
        args.append(what.older_than)
        where.append(f"m.created_at < ${len(args)}")
    if what.author_id is not None:
        args.append(what.author_id)
        where.append(f"m.role = 'user' AND m.author_id = ${len(args)}")
    return " AND ".join(where), args

