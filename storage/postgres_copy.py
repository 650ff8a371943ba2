"""The PostgreSQL side of `threadbot migrate-store` (storage/copy.py): reading every column
of a thread, and writing one back in a single transaction; the same for the spending ledger,
and the settings changed from chat.

Messages are written as they were, running totals included, not through the store's
``threadbot_add_message``: the thread is new in this transaction, so no other writer can
see it (a bot's ``ensure_thread`` for the same key waits on the unique key until the commit,
then finds it complete).
"""

from __future__ import annotations

from typing import Any

from bot.admin.ledger import PlaceSetting, Spender
from bot.types import ThreadKey
from storage.copy_rows import ChargeCopy, HandledCopy, MessageCopy, ThreadCopy
from storage.postgres import PostgresStore
from storage.postgres_reads import KEY_WHERE, key_args

_MESSAGE_COLUMNS = (
    "epoch, role, author_id, author_name, content, tokens, running_tokens, platform_msg_id, "
    "response_id, model, input_tokens, output_tokens, cached_input_tokens, ending, awaits_answer, "
    "refs, created_at, reasoning_tokens, images, covers_tokens, covers_messages"
)
_CHARGE_COLUMNS = (
    "at, platform, scope, channel, user_id, model, input_tokens, cached_input_tokens, "
    "output_tokens, tokens, cost, open, estimated, reasoning_tokens"
)
_CHARGE_TYPES = (
    "timestamptz", "text", "text", "text", "text", "text", "integer", "integer", "integer",
    "integer", "double precision", "boolean", "boolean", "integer", "text", "text", "text",
    "text",
)


class PostgresCopier:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._pool = store._pool

    async def close(self) -> None:
        await self._store.close()

    async def thread_keys(self) -> list[ThreadKey]:
        rows = await self._pool.fetch(
            "SELECT platform, scope, channel, thread FROM threads ORDER BY id"
        )
        return [ThreadKey(*row) for row in rows]

    async def read_thread(self, key: ThreadKey) -> ThreadCopy:
        thread = await self._pool.fetchrow(
            f"""SELECT id, strategy, epoch, last_response_id, model, created_at, updated_at
                FROM threads WHERE {KEY_WHERE}""",
            *key_args(key),
        )
        assert thread is not None
        rows = await self._pool.fetch(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE thread_id = $1 ORDER BY id",
            thread[0],
        )
        return ThreadCopy(
            key=key, strategy=thread[1], epoch=thread[2], last_response_id=thread[3],
            model=thread[4], created_at=thread[5], updated_at=thread[6],
            messages=tuple(_message(row) for row in rows),
        )

    async def write_thread(self, thread: ThreadCopy) -> bool:
        async with self._pool.acquire() as db, db.transaction():
            thread_id = await db.fetchval(
                """INSERT INTO threads (platform, scope, channel, thread, strategy, epoch,
                                        last_response_id, model, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT DO NOTHING RETURNING id""",
                *key_args(thread.key), thread.strategy, thread.epoch, thread.last_response_id,
                thread.model, thread.created_at, thread.updated_at,
            )
            if thread_id is None:
                return False
            await db.executemany(
                f"""INSERT INTO messages (thread_id, {_MESSAGE_COLUMNS})
                    VALUES ({', '.join(f'${i}' for i in range(1, 23))})""",
                [_message_row(thread_id, m) for m in thread.messages],
            )
        return True

    async def read_handled(self) -> list[HandledCopy]:
        rows = await self._pool.fetch(
            "SELECT platform, scope, channel, thread, event_id, kind, created_at FROM handled"
        )
        return [HandledCopy(key=ThreadKey(*row[:4]), event_id=row[4], kind=row[5],
                            created_at=row[6]) for row in rows]

    async def write_handled(self, rows: list[HandledCopy]) -> int:
        columns = [list(c) for c in zip(*map(_handled_row, rows), strict=True)] or [[]] * 7
        new = await self._pool.fetchval(
            """WITH added AS (
                   INSERT INTO handled (platform, scope, channel, thread, event_id, kind,
                                        created_at)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                        $5::text[], $6::text[], $7::timestamptz[])
                   ON CONFLICT DO NOTHING RETURNING 1)
               SELECT COUNT(*) FROM added""",
            *columns,
        )
        return int(new)

    async def read_charges(self) -> list[ChargeCopy]:
        rows = await self._pool.fetch(
            f"""SELECT {', '.join('c.' + c for c in _CHARGE_COLUMNS.split(', '))},
                       t.platform, t.scope, t.channel, t.thread
                FROM charges c LEFT JOIN threads t ON t.id = c.thread_id ORDER BY c.id"""
        )
        return [_charge(row) for row in rows]

    async def write_charges(self, rows: list[ChargeCopy]) -> int:
        """One statement: those that started after the target's newest charge, in order,
        each with the target's id of its thread."""
        columns = [list(c) for c in zip(*map(_charge_row, rows), strict=True)] or [[]] * 18
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(_CHARGE_TYPES, 1))
        new = await self._pool.fetchval(
            f"""WITH added AS (
                    INSERT INTO charges (thread_id, {_CHARGE_COLUMNS})
                    SELECT t.id, {', '.join('r.' + c for c in _CHARGE_COLUMNS.split(', '))}
                    FROM unnest({arrays}) WITH ORDINALITY
                         AS r({_CHARGE_COLUMNS}, tp, ts, tc, tt, n)
                    LEFT JOIN threads t ON t.platform = r.tp AND t.scope = r.ts
                                       AND t.channel = r.tc AND t.thread = r.tt
                    WHERE r.at > (SELECT COALESCE(MAX(at), '-infinity') FROM charges)
                    ORDER BY r.n
                    RETURNING 1)
                SELECT COUNT(*) FROM added""",
            *columns,
        )
        return int(new)

    async def read_place_settings(self) -> list[PlaceSetting]:
        rows = await self._pool.fetch(
            "SELECT place, name, value, set_by, set_at FROM place_settings ORDER BY place, name"
        )
        return [PlaceSetting(*row) for row in rows]

    async def write_place_settings(self, rows: list[PlaceSetting]) -> int:
        columns = [list(c) for c in zip(
            *((s.place, s.name, s.value, s.set_by, s.set_at) for s in rows), strict=True
        )] or [[]] * 5
        new = await self._pool.fetchval(
            """WITH added AS (
                   INSERT INTO place_settings (place, name, value, set_by, set_at)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                        $5::timestamptz[])
                   ON CONFLICT DO NOTHING RETURNING 1)
               SELECT COUNT(*) FROM added""",
            *columns,
        )
        return int(new)


def _charge(record: Any) -> ChargeCopy:
    row = tuple(record)
    return ChargeCopy(
        at=row[0], spender=Spender(*row[1:5]), model=row[5], input_tokens=row[6],
        cached_input_tokens=row[7], output_tokens=row[8], tokens=row[9], cost=row[10],
        open=row[11], estimated=row[12], reasoning_tokens=row[13],
        thread=ThreadKey(*row[14:18]) if row[14] is not None else None,
    )


def _charge_row(c: ChargeCopy) -> tuple[Any, ...]:
    """The columns in _CHARGE_COLUMNS' order, then the thread's key (NULLs: none)."""
    s = c.spender
    return (
        c.at, s.platform, s.scope, s.channel, s.user_id, c.model, c.input_tokens,
        c.cached_input_tokens, c.output_tokens, c.tokens, c.cost, c.open, c.estimated,
        c.reasoning_tokens, *(key_args(c.thread) if c.thread else (None,) * 4),
    )


def _message(row: Any) -> MessageCopy:
    return MessageCopy(
        epoch=row[0], role=row[1], author_id=row[2], author_name=row[3], content=row[4],
        tokens=row[5], running_tokens=row[6], platform_msg_id=row[7], response_id=row[8],
        model=row[9], input_tokens=row[10], output_tokens=row[11],
        cached_input_tokens=row[12], ending=row[13], awaits_answer=row[14],
        refs=tuple(row[15]), created_at=row[16], reasoning_tokens=row[17], images=row[18],
        covers_tokens=row[19],
        covers_messages=row[20],
    )


def _message_row(thread_id: int, m: MessageCopy) -> tuple[Any, ...]:
    return (
        thread_id, m.epoch, m.role, m.author_id, m.author_name, m.content, m.tokens,
        m.running_tokens, m.platform_msg_id, m.response_id, m.model, m.input_tokens,
        m.output_tokens, m.cached_input_tokens, m.ending, m.awaits_answer, list(m.refs), m.created_at,
        m.reasoning_tokens,
        m.images,
        m.covers_tokens, m.covers_messages,
    )


def _handled_row(h: HandledCopy) -> tuple[Any, ...]:
    return (*key_args(h.key), h.event_id, h.kind, h.created_at)
