"""The conversation store on PostgreSQL (asyncpg), for several replicas on one database.

The same contract as the SQLite store (``bot.ports.Store``, ``tests/contract/``), and what
only a server database needs: writes to one thread are serialised across connections and
processes by the thread's advisory lock, inside the plpgsql functions of
``storage/migrations/postgres.py`` (one round trip each); leases run on the server's clock
(``storage/postgres_leases.py``). Every method is one statement on a pooled connection,
prepared once per connection by asyncpg, so a turn costs a few loopback round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bot.images import from_json, to_json
from bot.types import (
    ContextMessage,
    NewMessage,
    ThreadKey,
    ThreadState,
    Unfinished,
    Usage,
    utcnow,
)
from storage import stored_usage
from storage.postgres_connect import open_pool
from storage.postgres_leases import PostgresLeases
from storage.postgres_purge import PostgresPurge
from storage.postgres_reads import KEY_WHERE, key_args
from storage.postgres_spending import PostgresSpending
from storage.postgres_summaries import PostgresSummaries


def _args(count: int) -> str:
    """``$1, …, $count``: a function's positional parameters."""
    return ", ".join(f"${i}" for i in range(1, count + 1))


_CONTEXT_COLUMNS = "role, author_id, author_name, content, tokens, running_tokens, images"
# The overloads with the reasoning tokens as their last argument (005_reasoning_tokens).
_ADD = f"SELECT threadbot_add_message({_args(17)})"
_ADD_TO = f"SELECT * FROM threadbot_add_to({_args(20)})"
_FINISH = f"SELECT threadbot_finish_reply({_args(13)})"
_THREAD = "SELECT id, strategy, epoch, last_response_id, model FROM threads"
_NO_LIMIT = 2**62  # "before" when there is no reserved row: above every row id


class PostgresStore(PostgresSpending, PostgresLeases, PostgresSummaries, PostgresPurge):
    def __init__(self, pool: asyncpg.Pool, upkeep: asyncpg.Pool) -> None:
        self._pool = pool
        self._upkeep = upkeep

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """A pool on ``url`` with the schema migrated; ConfigError in one line (without the
        password) when the server, the login or the database is not there. Plus one
        connection of its own for renewing leases and reading stops, so that a busy pool
        (every turn queued on it) never delays a renewal past the lease."""
        pool = await open_pool(url)
        try:
            upkeep = await open_pool(url, size=1)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, upkeep)

    async def close(self) -> None:
        await self._upkeep.close()
        await self._pool.close()

    # --- threads ---
    async def ensure_thread(self, key: ThreadKey, strategy: str) -> ThreadState:
        """The thread's row, created with ``strategy`` if new: one round trip, and a read
        only (no commit to wait for) when it exists — every turn asks. Its ``updated_at``
        moves when a message is stored (threadbot_add_message), not here."""
        row = await self._pool.fetchrow(
            """WITH found AS (
                   SELECT id, strategy, epoch, last_response_id, model FROM threads
                   WHERE platform = $1 AND scope = $2 AND channel = $3 AND thread = $4),
               made AS (
                   INSERT INTO threads (platform, scope, channel, thread, strategy,
                                        created_at, updated_at)
                   SELECT $1, $2, $3, $4, $5, clock_timestamp(), clock_timestamp()
                   WHERE NOT EXISTS (SELECT 1 FROM found)
                   ON CONFLICT DO NOTHING
                   RETURNING id, strategy, epoch, last_response_id, model)
               SELECT * FROM found UNION ALL SELECT * FROM made""",
            *key_args(key), strategy,
        )
        if row is None:  # another replica created it since this statement's snapshot
            row = await self._pool.fetchrow(f"{_THREAD} WHERE {KEY_WHERE}", *key_args(key))
        return _thread(key, row)

    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        row = await self._pool.fetchrow(f"{_THREAD} WHERE {KEY_WHERE}", *key_args(key))
        return _thread(key, row) if row else None

    async def reset(self, thread_id: int) -> None:
        """Start a new epoch: earlier messages stay but leave the context."""
        await self._pool.execute(
            """UPDATE threads SET epoch = epoch + 1, last_response_id = NULL,
                                  updated_at = clock_timestamp()
               WHERE id = $1""",
            thread_id,
        )

    async def set_anchor(self, thread: ThreadState, response_id: str | None, model: str) -> None:
        """Point the chain at ``response_id``, only within the epoch the reply belonged to."""
        await self._pool.execute(
            """UPDATE threads SET last_response_id = $1, model = $2,
                                  updated_at = clock_timestamp()
               WHERE id = $3 AND epoch = $4""",
            response_id, model, thread.id, thread.epoch,
        )

    # --- messages ---
    async def add(self, thread: ThreadState, message: NewMessage) -> int | None:
        """Store one message in the thread's current epoch; its row id, or None if its
        platform id was already stored (a redelivery, possibly to another replica)."""
        row_id: int | None = await self._pool.fetchval(_ADD, *_params(thread, message))
        await self._add_images(row_id, message)
        return row_id

    async def _add_images(self, row_id: int | None, message: NewMessage) -> None:
        """A message's images, by reference, in a second write (only when it has some: the
        stored functions that add a message stay as they are)."""
        if row_id is not None and message.images:
            await self._pool.execute("UPDATE messages SET images = $1 WHERE id = $2",
                                     to_json(message.images), row_id)

    async def add_to(
        self, key: ThreadKey, strategy: str, message: NewMessage
    ) -> tuple[ThreadState, int | None]:
        """One round trip: threadbot_add_to finds or creates the thread, then stores the
        message through threadbot_add_message (the thread's lock, its running total)."""
        row = await self._pool.fetchrow(_ADD_TO, *key_args(key), strategy, *_message_args(message))
        assert row is not None  # the function always returns its one row
        values = tuple(row)
        await self._add_images(values[5], message)
        return _thread(key, values[:5]), values[5]

    async def add_many(self, thread: ThreadState, messages: Sequence[NewMessage]) -> None:
        """Store several messages in one round trip: asyncpg pipelines the calls in one
        implicit transaction, so they are all stored or none, and other writers to the
        thread wait for all of them."""
        if messages:
            await self._pool.executemany(_ADD, [_params(thread, m) for m in messages])
        pictured = [m for m in messages if m.images and m.platform_message_id]
        if pictured:
            await self._pool.executemany(
                "UPDATE messages SET images = $1 WHERE thread_id = $2 AND platform_msg_id = $3",
                [(to_json(m.images), thread.id, m.platform_message_id) for m in pictured],
            )

    async def begin_reply(self, thread: ThreadState) -> int:
        """Reserve the reply's row before its context is read, so messages that arrive while
        it is generated are ordered after it."""
        row_id = await self.add(thread, NewMessage(role="assistant", content="", tokens=0))
        assert row_id is not None
        return row_id

    async def finish_reply(self, thread: ThreadState, row_id: int, reply: NewMessage) -> None:
        """Fill the reserved row, shift the running totals of it and of the messages stored
        since, and mark every message stored before it as answered: one function call, so
        one transaction under the thread's lock."""
        await self._pool.execute(
            _FINISH, thread.id, thread.epoch, row_id, reply.content, reply.tokens,
            reply.response_id, reply.model, *_usage_args(reply.usage),
            reply.ending.value if reply.ending else None, reply.at or utcnow(),
            _reasoning(reply.usage),
        )

    async def discard_reply(self, row_id: int) -> None:
        """Drop a reserved row that was never shown (its 0 tokens leave the totals right)."""
        await self._pool.execute(
            "DELETE FROM messages WHERE id = $1 AND role = 'assistant' AND ending IS NULL", row_id
        )

    async def set_refs(self, row_id: int, refs: Sequence[str]) -> None:
        """Record the platform messages showing reply ``row_id`` ([] once they are final)."""
        await self._pool.execute("UPDATE messages SET refs = $1 WHERE id = $2", list(refs), row_id)

    async def settle(self, thread: ThreadState) -> None:
        """Nothing in the thread waits for an answer any more (a stop or a reset)."""
        await self._pool.execute(
            "UPDATE messages SET awaits_answer = 0 WHERE thread_id = $1 AND awaits_answer = 1",
            thread.id,
        )

    async def waiting(self, thread: ThreadState) -> Unfinished | None:
        """What waits for an answer in the thread's current epoch, or None."""
        row = await self._pool.fetchrow(
            """SELECT COUNT(*) OVER (), author_id FROM messages
               WHERE thread_id = $1 AND awaits_answer = 1 AND epoch = $2
               ORDER BY id DESC LIMIT 1""",
            thread.id, thread.epoch,
        )
        return Unfinished(thread.key, row[0], row[1] or "", ()) if row else None

    async def context(
        self, thread: ThreadState, budget: int, *, before: int | None = None, after: int = 0
    ) -> list[ContextMessage]:
        """The newest user/assistant messages of the current epoch that fit ``budget`` tokens,
        oldest first (only those before the reserved row ``before``): an index range on the
        running total, so its cost does not grow with the thread. The newest message always
        comes back, even when it alone exceeds the budget. ``after``: only messages past that
        running total (what a rolling summary does not cover)."""
        top = (
            "(SELECT running_tokens FROM messages WHERE id = $4)"
            if before is not None
            else "(SELECT COALESCE(MAX(running_tokens), 0) FROM messages "
            "WHERE thread_id = $1 AND epoch = $2)"
        )
        rows = await self._pool.fetch(
            f"""SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = $1 AND epoch = $2 AND role <> 'summary' AND content <> ''
                  AND running_tokens > {top} - $3 AND running_tokens <= {top}
                  AND running_tokens > $5 AND id < $4
                ORDER BY running_tokens, id""",
            thread.id, thread.epoch, budget, before or _NO_LIMIT, after,
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
        rows = await self._pool.fetch(
            f"""WITH anchor AS (SELECT id, running_tokens FROM messages
                                WHERE thread_id = $1 AND epoch = $2 AND response_id = $3)
                SELECT {_CONTEXT_COLUMNS} FROM messages
                WHERE thread_id = $1 AND epoch = $2 AND role = 'user'
                  AND running_tokens >= (SELECT running_tokens FROM anchor)
                  AND id > (SELECT id FROM anchor) AND id < $4
                ORDER BY running_tokens, id""",
            thread.id, thread.epoch, response_id, before or _NO_LIMIT,
        )
        return [_context_message(row) for row in rows]

    async def reply_usage(self, thread: ThreadState, response_id: str) -> Usage | None:
        row = await self._pool.fetchrow(
            """SELECT input_tokens, output_tokens, cached_input_tokens, reasoning_tokens
               FROM messages WHERE thread_id = $1 AND response_id = $2 AND input_tokens IS NOT NULL
               LIMIT 1""",
            thread.id, response_id,
        )
        return stored_usage(tuple(row)) if row else None

    # --- commands and hints ---
    async def first_time(self, key: ThreadKey, event_id: str, kind: str) -> bool:
        """Record that the platform event ``event_id`` was handled in ``key``; False if it
        already was — by this replica or another, now or before a restart."""
        row = await self._pool.fetchval(
            """INSERT INTO handled (platform, scope, channel, thread, event_id, kind, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
               ON CONFLICT DO NOTHING RETURNING 1""",
            *key_args(key), event_id, kind,
        )
        return row is not None

    # --- after a restart ---
    async def expire_waiting(self, older_than: datetime) -> int:
        """Leave messages that waited since before ``older_than``: marked, never answered."""
        rows = await self._pool.fetch(
            """UPDATE messages SET awaits_answer = 2
               WHERE awaits_answer = 1 AND created_at < $1 RETURNING 1""",
            older_than,
        )
        return len(rows)


def _thread(key: ThreadKey, row: Any) -> ThreadState:
    return ThreadState(
        id=row[0], key=key, strategy=row[1], epoch=row[2], last_response_id=row[3], model=row[4]
    )


def _params(thread: ThreadState, m: NewMessage) -> tuple[Any, ...]:
    """The arguments of threadbot_add_message, in its order."""
    return (thread.id, thread.epoch, *_message_args(m))


def _message_args(m: NewMessage) -> tuple[Any, ...]:
    """threadbot_add_message's arguments after the thread's (threadbot_add_to's after the
    key's and the strategy)."""
    return (
        m.role, m.author_id, m.author_name, m.content, m.tokens,
        m.platform_message_id, m.response_id, m.model, *_usage_args(m.usage),
        m.ending.value if m.ending else None, int(m.awaits_answer), m.at or utcnow(),
        _reasoning(m.usage),
    )


def _usage_args(usage: Usage | None) -> tuple[int | None, int | None, int | None]:
    """Input, output and cached input tokens, as the writing functions take them."""
    if usage is None:
        return (None, None, None)
    return (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)


def _reasoning(usage: Usage | None) -> int | None:
    """The reasoning tokens, the writing functions' last argument."""
    return usage.reasoning_tokens if usage is not None else None


def _context_message(row: Any) -> ContextMessage:
    """A ``_CONTEXT_COLUMNS`` row (the running total is only for fitting the budget)."""
    return ContextMessage(row[0], row[1], row[2], row[3], row[4], from_json(row[6]))
