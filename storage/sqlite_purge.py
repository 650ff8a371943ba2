"""Deleting on SQLite (``bot.ports.Store.purge``): retention, `threadbot purge`, /forget.

Apart from storage/sqlite.py to keep each module small. A purge is one ``BEGIN IMMEDIATE``
transaction (the write lock first), so no other process's write to a thread — a message, a
reply, a lease taken — lands between the lease check, the delete and the repairs after it.
The repairs are set-based (one statement each for every thread touched), so a retention run
over thousands of threads costs a handful of statements, not a loop.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.types import Purge, Purged
from storage import purge_named, purged
from storage.sqlite_leases import SqliteLeases

# A reply a process is writing (or a dead one left, to be tidied): never deleted by a filter.
_NOT_OPEN_REPLY = "NOT (m.role = 'assistant' AND m.ending IS NULL)"
# What a purge counts as a message: what export and stats show (not empty reserved rows).
_SHOWN = "m.content != ''"
_THREAD = "(SELECT id FROM threads WHERE platform = :p AND scope = :s AND channel = :c AND thread = :th)"
# The (thread, epoch) pairs a purge touched, from the JSON list it passes: [[t, e, low], …]
_TOUCHED = """touched AS (SELECT json_extract(value, '$[0]') AS t, json_extract(value, '$[1]') AS e,
                                 json_extract(value, '$[2]') AS low FROM json_each(:touched))"""


class SqlitePurge(SqliteLeases):
    def _transaction(self) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError  # storage/sqlite_spending.py's, on the same connection

    async def purge(self, what: Purge, *, dry_run: bool = False) -> Purged:
        where, params = _where(what)
        await self._forget_dead_holders()  # a dead holder's lease does not protect a thread
        match = _matched(where)
        now = time.time()
        first = await self._run(match, {**params, "now": now})  # outside the write lock
        if dry_run or not (first or what.whole_thread):
            return purged(first)  # (retention's hourly run, mostly: nothing to delete)
        async with self._transaction():
            matched = await self._sql(match, {**params, "now": now})
            counts = purged(matched)
            doomed = [row for row in matched if not row[3]]
            if what.whole_thread:  # its row too (messages and all go with it), if idle
                gone = await self._sql(
                    f"""DELETE FROM threads WHERE id = {_THREAD} AND NOT EXISTS (
                            SELECT 1 FROM leases l WHERE l.thread_id = threads.id
                              AND l.expires_at >= :now) RETURNING 1""",
                    {**params, "now": time.time()},
                )
                counts = Purged(counts.messages, len(gone), counts.skipped,
                                counts.skipped_messages)
            elif doomed:
                await self._delete(where, params, doomed)
        return counts

    async def _delete(self, where: str, params: dict[str, Any], doomed: list[Any]) -> None:
        """Delete the matched rows of threads without a live lease, then repair each
        (thread, epoch) touched: summaries covering what went, running totals, anchors."""
        touched = json.dumps([[row[0], row[1], row[4]] for row in doomed])
        await self._sql(
            f"""DELETE FROM messages AS m WHERE {where}
                  AND m.thread_id IN (SELECT value FROM json_each(:ids))""",
            {**params, "ids": json.dumps(sorted({row[0] for row in doomed}))},
        )
        # a summary covers the messages up to its running total: one that reached a
        # deleted message would keep what was forgotten (a summary on request, not rolling,
        # stood at the total when it was made)
        await self._sql(
            f"""WITH {_TOUCHED}
                DELETE FROM messages WHERE role = 'summary' AND EXISTS (
                    SELECT 1 FROM touched WHERE t = messages.thread_id AND e = messages.epoch
                      AND messages.running_tokens >= low)""",
            {"touched": touched},
        )
        # running totals are the sum of the epoch's context tokens up to each row, by id
        # (finish_reply keeps them so): recomputed, the budget reads what remains
        await self._sql(
            f"""WITH {_TOUCHED},
                totals AS (SELECT m.id, SUM(m.tokens) OVER (
                                    PARTITION BY m.thread_id, m.epoch ORDER BY m.id) AS total
                           FROM messages m JOIN touched ON t = m.thread_id AND e = m.epoch
                           WHERE m.role != 'summary')
                UPDATE messages SET running_tokens = totals.total FROM totals
                WHERE messages.id = totals.id AND messages.running_tokens != totals.total""",
            {"touched": touched},
        )
        # the provider still holds the deleted messages in its chain: replay what remains
        await self._sql(
            f"""WITH {_TOUCHED}
                UPDATE threads SET last_response_id = NULL
                WHERE last_response_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM touched WHERE t = threads.id AND e = threads.epoch)""",
            {"touched": touched},
        )

    async def _sql(self, sql: str, params: Any = ()) -> list[Any]:
        """A statement inside the purge's transaction (``_run`` would wait for it to end)."""
        return list(await self._db.execute_fetchall(sql, params))


def _where(what: Purge) -> tuple[str, dict[str, Any]]:
    """The messages ``what`` names, as a condition on ``messages m`` and its parameters."""
    purge_named(what)
    where: list[str] = [] if what.whole_thread else [_NOT_OPEN_REPLY]
    params: dict[str, Any] = {}
    if what.key is not None:
        where.append(f"m.thread_id = {_THREAD}")
        key = what.key
        params.update(p=key.platform, s=key.scope, c=key.channel, th=key.thread)
    if what.older_than is not None:
        where.append("m.created_at < :before")
        params["before"] = what.older_than.isoformat()
    if what.author_id is not None:
        where.append("m.role = 'user' AND m.author_id = :author")
        params["author"] = what.author_id
    return " AND ".join(where), params


def _index(where: str) -> str:
    """By age across threads: the old rows only (without statistics SQLite would read every
    message through messages_budget, for its GROUP BY order)."""
    by_age = "m.created_at" in where and "m.thread_id" not in where
    return "INDEXED BY messages_created" if by_age else ""


def _matched(where: str) -> str:
    """Per thread and epoch: the thread id, epoch, shown messages matched, whether it has a
    live lease, the lowest running total matched, and the thread's key."""
    return f"""SELECT m.thread_id, m.epoch, SUM({_SHOWN}),
                      EXISTS (SELECT 1 FROM leases l WHERE l.thread_id = m.thread_id
                                AND l.expires_at >= :now),
                      MIN(m.running_tokens), t.platform, t.scope, t.channel, t.thread
               FROM messages m {_index(where)} JOIN threads t ON t.id = m.thread_id
               WHERE {where} GROUP BY m.thread_id, m.epoch"""
