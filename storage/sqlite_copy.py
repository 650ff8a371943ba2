"""The SQLite side of `threadbot migrate-store` (storage/copy.py): reading every column of a
thread, and writing one back in a single transaction; the same for the spending ledger, and
the settings changed from chat.

It borrows the open store's connection: the copy is the only user of it in its process, so
the explicit transaction cannot swallow another coroutine's write (what sqlite.py avoids on
the bot's shared connection). BEGIN IMMEDIATE takes the write lock up front, so a bot
process writing the same file waits (busy_timeout) instead of failing half-way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.admin.ledger import PlaceSetting, Spender
from bot.types import ThreadKey
from storage.copy_rows import ChargeCopy, HandledCopy, MessageCopy, ThreadCopy
from storage.sqlite import SqliteStore
from storage.sqlite_spending import stamp

_MESSAGE_COLUMNS = (
    "epoch, role, author_id, author_name, content, tokens, running_tokens, platform_msg_id, "
    "response_id, model, input_tokens, output_tokens, cached_input_tokens, ending, awaits_answer, "
    "refs, created_at, reasoning_tokens, images, covers_tokens, covers_messages"
)
_KEY = "platform = ? AND scope = ? AND channel = ? AND thread = ?"
_CHARGE_COLUMNS = (
    "at, platform, scope, channel, user_id, model, input_tokens, cached_input_tokens, "
    "output_tokens, tokens, cost, open, estimated, reasoning_tokens"
)


class SqliteCopier:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store._db

    async def close(self) -> None:
        await self._store.close()

    async def thread_keys(self) -> list[ThreadKey]:
        rows = await self._db.execute_fetchall(
            "SELECT platform, scope, channel, thread FROM threads ORDER BY id"
        )
        return [ThreadKey(*row) for row in rows]

    async def read_thread(self, key: ThreadKey) -> ThreadCopy:
        [thread] = await self._db.execute_fetchall(
            f"""SELECT id, strategy, epoch, last_response_id, model, created_at, updated_at
                FROM threads WHERE {_KEY}""",
            _key(key),
        )
        rows = await self._db.execute_fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? ORDER BY id",
            (thread[0],),
        )
        return ThreadCopy(
            key=key, strategy=thread[1], epoch=thread[2], last_response_id=thread[3],
            model=thread[4], created_at=_time(thread[5]), updated_at=_time(thread[6]),
            messages=tuple(_message(row) for row in rows),
        )

    async def write_thread(self, thread: ThreadCopy) -> bool:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = list(await self._db.execute_fetchall(
                """INSERT INTO threads (platform, scope, channel, thread, strategy, epoch,
                                        last_response_id, model, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id""",
                (*_key(thread.key), thread.strategy, thread.epoch, thread.last_response_id,
                 thread.model, thread.created_at.isoformat(), thread.updated_at.isoformat()),
            ))
            if rows:
                await self._db.executemany(
                    f"""INSERT INTO messages (thread_id, stopped, {_MESSAGE_COLUMNS})
                        VALUES ({', '.join('?' * 23)})""",
                    [_message_row(rows[0][0], m) for m in thread.messages],
                )
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        return bool(rows)

    async def read_handled(self) -> list[HandledCopy]:
        rows = await self._db.execute_fetchall(
            "SELECT platform, scope, channel, thread, event_id, kind, created_at FROM handled"
        )
        return [HandledCopy(key=ThreadKey(*row[:4]), event_id=row[4], kind=row[5],
                            created_at=_time(row[6])) for row in rows]

    async def write_handled(self, rows: list[HandledCopy]) -> int:
        before = await self._count_handled()
        await self._db.executemany(
            """INSERT INTO handled (platform, scope, channel, thread, event_id, kind, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [(*_key(h.key), h.event_id, h.kind, h.created_at.isoformat()) for h in rows],
        )
        return await self._count_handled() - before

    async def _count_handled(self) -> int:
        return await self._count("handled")

    async def _count(self, table: str) -> int:
        [[count]] = await self._db.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
        return int(count)

    async def read_charges(self) -> list[ChargeCopy]:
        rows = await self._db.execute_fetchall(
            f"""SELECT {', '.join('c.' + c for c in _CHARGE_COLUMNS.split(', '))},
                       t.platform, t.scope, t.channel, t.thread
                FROM charges c LEFT JOIN threads t ON t.id = c.thread_id ORDER BY c.id"""
        )
        return [_charge(row) for row in rows]

    async def write_charges(self, rows: list[ChargeCopy]) -> int:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            [[newest]] = await self._db.execute_fetchall("SELECT MAX(at) FROM charges")
            new = [c for c in rows if newest is None or c.at > _time(newest)]
            await self._db.executemany(
                f"""INSERT INTO charges (thread_id, {_CHARGE_COLUMNS})
                    VALUES ((SELECT id FROM threads WHERE {_KEY}), {', '.join('?' * 14)})""",
                [_charge_row(c) for c in new],
            )
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        return len(new)

    async def read_place_settings(self) -> list[PlaceSetting]:
        rows = await self._db.execute_fetchall(
            "SELECT place, name, value, set_by, set_at FROM place_settings ORDER BY place, name"
        )
        return [PlaceSetting(place=row[0], name=row[1], value=row[2], set_by=row[3],
                             set_at=_time(row[4])) for row in rows]

    async def write_place_settings(self, rows: list[PlaceSetting]) -> int:
        before = await self._count("place_settings")
        await self._db.executemany(
            """INSERT INTO place_settings (place, name, value, set_by, set_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [(s.place, s.name, s.value, s.set_by, stamp(s.set_at)) for s in rows],
        )
        return await self._count("place_settings") - before


def _key(key: ThreadKey) -> tuple[str, str, str, str]:
    return (key.platform, key.scope, key.channel, key.thread)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _message(row: Sequence[Any]) -> MessageCopy:
    return MessageCopy(
        epoch=row[0], role=row[1], author_id=row[2], author_name=row[3], content=row[4],
        tokens=row[5], running_tokens=row[6], platform_msg_id=row[7], response_id=row[8],
        model=row[9], input_tokens=row[10], output_tokens=row[11],
        cached_input_tokens=row[12], ending=row[13], awaits_answer=row[14],
        refs=tuple(json.loads(row[15])), created_at=_time(row[16]), reasoning_tokens=row[17],
        images=row[18], covers_tokens=row[19],
        covers_messages=row[20],
    )


def _message_row(thread_id: int, m: MessageCopy) -> tuple[Any, ...]:
    return (
        thread_id, int(m.ending == "stopped"), m.epoch, m.role, m.author_id, m.author_name,
        m.content, m.tokens, m.running_tokens, m.platform_msg_id, m.response_id, m.model,
        m.input_tokens, m.output_tokens, m.cached_input_tokens, m.ending, m.awaits_answer,
        json.dumps(list(m.refs)), m.created_at.isoformat(), m.reasoning_tokens, m.images,
        m.covers_tokens, m.covers_messages,
    )


def _charge(row: Sequence[Any]) -> ChargeCopy:
    return ChargeCopy(
        at=_time(row[0]), spender=Spender(*row[1:5]), model=row[5], input_tokens=row[6],
        cached_input_tokens=row[7], output_tokens=row[8], tokens=row[9], cost=row[10],
        open=bool(row[11]), estimated=bool(row[12]), reasoning_tokens=row[13],
        thread=ThreadKey(*row[14:18]) if row[14] is not None else None,
    )


def _charge_row(c: ChargeCopy) -> tuple[Any, ...]:
    """The thread's key (NULLs: none) for the thread_id look-up, then the columns."""
    s = c.spender
    return (
        *(_key(c.thread) if c.thread else (None,) * 4), stamp(c.at), s.platform, s.scope,
        s.channel, s.user_id, c.model, c.input_tokens, c.cached_input_tokens, c.output_tokens,
        c.tokens, c.cost, int(c.open), int(c.estimated), c.reasoning_tokens,
    )
