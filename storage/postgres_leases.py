"""Leases on PostgreSQL: which replica answers a thread (``bot.ports.Store.claim``), and the
work no live replica is answering (``unfinished``).

Replicas run on different machines, so every time here is the server's clock
(``clock_timestamp()``, which also moves within a transaction), never a client's. The store
cannot see that a holder died: its leases simply expire (``THREADBOT_LEASE_S``), after which
``unfinished`` reports its threads and ``claim`` lets another replica take them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bot.types import ThreadKey, ThreadState, Unfinished
from storage.postgres_reads import KEY_WHERE, PostgresReads, key_args

_UNTIL = "clock_timestamp() + make_interval(secs => $3)"
_NO_REFS = "'{}'"  # an empty text[]


class PostgresLeases(PostgresReads):
    async def claim(self, thread_id: int, holder: str, seconds: float) -> bool:
        # Concurrent claims queue on the lease row; each re-reads its latest version.
        row = await self._pool.fetchval(
            f"""INSERT INTO leases (thread_id, holder, expires_at) VALUES ($1, $2, {_UNTIL})
                ON CONFLICT (thread_id) DO UPDATE SET
                    expires_at = excluded.expires_at,
                    stop_requested = leases.stop_requested AND leases.holder = excluded.holder,
                    holder = excluded.holder
                WHERE leases.holder = excluded.holder OR leases.expires_at < clock_timestamp()
                RETURNING 1""",
            thread_id, holder, float(seconds),
        )
        return row is not None

    async def renew(self, holder: str, thread_ids: Collection[int], seconds: float) -> set[int]:
        rows = await self._upkeep.fetch(
            """UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $2)
               WHERE holder = $1 AND thread_id = ANY($3::bigint[]) RETURNING thread_id""",
            holder, float(seconds), list(thread_ids),
        )
        return {row[0] for row in rows}

    async def release(self, thread: ThreadState, holder: str) -> Unfinished | None:
        # one round trip; the function reads what waits in a statement after the DELETE,
        # so with a snapshot that sees every message stored before the lease was gone
        row = await self._pool.fetchrow(
            "SELECT waiting, author FROM threadbot_release($1, $2)", thread.id, holder
        )
        return Unfinished(thread.key, row[0], row[1] or "", ()) if row else None

    async def request_stop(self, thread_id: int) -> bool:
        row = await self._pool.fetchval(
            """UPDATE leases SET stop_requested = true
               WHERE thread_id = $1 AND expires_at >= clock_timestamp() RETURNING 1""",
            thread_id,
        )
        return row is not None

    async def stops_requested(self, holder: str) -> set[int]:
        rows = await self._upkeep.fetch(
            """UPDATE leases SET stop_requested = false WHERE holder = $1 AND stop_requested
               RETURNING thread_id""",
            holder,
        )
        return {row[0] for row in rows}

    async def unfinished(self) -> list[Unfinished]:
        """Threads with messages waiting for an answer (in their current epoch), a reply a
        process was writing when it ended, or a stored reply whose platform messages may not
        show its end — none under a live lease (both found through partial indexes)."""
        rows = await self._pool.fetch(
            """WITH work AS (
                   SELECT thread_id FROM messages WHERE awaits_answer = 1
                   UNION SELECT thread_id FROM messages
                         WHERE role = 'assistant' AND (ending IS NULL OR refs <> '{}'))
               SELECT t.platform, t.scope, t.channel, t.thread,
                      (SELECT COUNT(*) FROM messages m WHERE m.thread_id = t.id
                         AND m.awaits_answer = 1 AND m.epoch = t.epoch),
                      (SELECT m.author_id FROM messages m WHERE m.thread_id = t.id
                         AND m.awaits_answer = 1 ORDER BY m.id DESC LIMIT 1),
                      (SELECT array_agg(r.ref ORDER BY m.id, r.n)
                       FROM messages m, unnest(m.refs) WITH ORDINALITY AS r(ref, n)
                       WHERE m.thread_id = t.id AND m.role = 'assistant'
                         AND m.ending IS NULL),
                      shown.refs, shown.content
               FROM threads t JOIN work ON work.thread_id = t.id
               LEFT JOIN LATERAL (
                   SELECT m.refs, m.content FROM messages m
                   WHERE m.thread_id = t.id AND m.role = 'assistant' AND m.ending IS NOT NULL
                     AND m.refs <> '{}'
                   ORDER BY m.id DESC LIMIT 1) shown ON true
               WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.thread_id = t.id
                                   AND l.expires_at >= clock_timestamp())"""
        )
        return [_unfinished(row) for row in rows]

    async def tidied(self, key: ThreadKey) -> None:
        """What ``unfinished`` reported for ``key`` was dealt with on screen: forget the
        replies a dead process was writing, and the refs of those it had stored."""
        await self._pool.execute(
            f"""WITH t AS (SELECT id FROM threads WHERE {KEY_WHERE}),
                    cut AS (DELETE FROM messages WHERE role = 'assistant' AND ending IS NULL
                              AND thread_id = (SELECT id FROM t))
               UPDATE messages SET refs = {_NO_REFS}
               WHERE role = 'assistant' AND ending IS NOT NULL AND refs <> {_NO_REFS}
                 AND thread_id = (SELECT id FROM t)""",
            *key_args(key),
        )


def _unfinished(row: Any) -> Unfinished:
    return Unfinished(
        key=ThreadKey(*row[:4]), waiting=row[4], last_author_id=row[5] or "",
        open_refs=tuple(row[6] or ()), shown_refs=tuple(row[7] or ()), shown_text=row[8] or "",
    )
