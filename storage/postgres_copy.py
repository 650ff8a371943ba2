"""The PostgreSQL side of `threadbot migrate-store` (storage/copy.py): reading every column
of a thread, and writing one back in a single transaction.

Messages are written as they were, running totals included, not through the store's
``threadbot_add_message``: the thread is new in this transaction, so no other writer can
see it (a bot's ``ensure_thread`` for the same key waits on the unique key until the commit,
then finds it complete).
"""

from __future__ import annotations

from typing import Any

from bot.types import ThreadKey
from storage.copy_rows import HandledCopy, MessageCopy, ThreadCopy
from storage.postgres import PostgresStore
from storage.postgres_reads import KEY_WHERE, key_args

_MESSAGE_COLUMNS = (
    "epoch, role, author_id, author_name, content, tokens, running_tokens, platform_msg_id, "
    "response_id, model, input_tokens, output_tokens, cached_input_tokens, ending, awaits_answer, "
    "refs, created_at"
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
                    VALUES ({', '.join(f'${i}' for i in range(1, 19))})""",
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


def _message(row: Any) -> MessageCopy:
    return MessageCopy(
        epoch=row[0], role=row[1], author_id=row[2], author_name=row[3], content=row[4],
        tokens=row[5], running_tokens=row[6], platform_msg_id=row[7], response_id=row[8],
        model=row[9], input_tokens=row[10], output_tokens=row[11],
        cached_input_tokens=row[12], ending=row[13], awaits_answer=row[14],
        refs=tuple(row[15]), created_at=row[16],
    )


def _message_row(thread_id: int, m: MessageCopy) -> tuple[Any, ...]:
    return (
        thread_id, m.epoch, m.role, m.author_id, m.author_name, m.content, m.tokens,
        m.running_tokens, m.platform_msg_id, m.response_id, m.model, m.input_tokens,
        m.output_tokens, m.cached_input_tokens, m.ending, m.awaits_answer, list(m.refs), m.created_at,
    )


def _handled_row(h: HandledCopy) -> tuple[Any, ...]:
    return (*key_args(h.key), h.event_id, h.kind, h.created_at)
