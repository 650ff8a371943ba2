"""Spending and settings changed from chat on SQLite: ``admit``, ``spend``, ``usage``,
``place_settings`` and ``set_place_setting`` of ``bot.ports.Store``.

``admit`` is the one explicit transaction on the bot's shared connection. ``BEGIN IMMEDIATE``
takes the file's write lock before the sums are read, so no other admit — in another process,
or another store on the same file — can add a charge between this one's sums and its insert.
Within the process, the other coroutines' statements wait for its end
(``SqliteReads._no_transaction``) instead of running inside it, where an error's rollback
would take them along; admits queue on a lock of their own.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.admin.ledger import (
    Charge,
    Limit,
    PlaceSetting,
    Rule,
    Spender,
    Spending,
    Spent,
    Subject,
    UsageBy,
    UsageRow,
    Verdict,
)
from bot.types import utcnow
from storage.spending import (
    METRIC_VALUE,
    SUBJECT_COLUMNS,
    USAGE_KEY,
    spender_values,
    subject_values,
    usage_order,
)
from storage.sqlite_reads import SqliteReads

_OPEN_CHARGE = """
INSERT INTO charges (at, platform, scope, channel, user_id, thread_id, model, tokens, cost, open)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id"""

# The spending replaces the open charge of that id, keeping when it started and whose it is;
# with no id (no limit applied) it is a new row.
_SPEND = """
INSERT INTO charges (id, at, platform, scope, channel, user_id, thread_id, model, input_tokens,
                     cached_input_tokens, output_tokens, tokens, cost, open, estimated,
                     reasoning_tokens)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    model = excluded.model, input_tokens = excluded.input_tokens,
    cached_input_tokens = excluded.cached_input_tokens, output_tokens = excluded.output_tokens,
    tokens = excluded.tokens, cost = excluded.cost, open = 0, estimated = excluded.estimated,
    reasoning_tokens = excluded.reasoning_tokens"""


def stamp(when: datetime) -> str:
    """A time as the spending tables keep it: UTC, microseconds always written out, so the
    text sorts as the time does (``isoformat`` drops them when zero)."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteSpending(SqliteReads):
    _idle: asyncio.Event
    _admitting: asyncio.Lock

    async def admit(
        self, charge: Charge, limits: Sequence[Limit], rule: Rule, *, stale_after: float
    ) -> tuple[Verdict, int | None]:
        """Without limits there is nothing to read: no transaction, one statement."""
        if not limits:
            verdict = rule([])
            if not verdict.admitted:
                return verdict, None
            return verdict, (await self._run(*_open_charge(charge)))[0][0]
        async with self._transaction():
            spent = await self._spent(limits, charge.spender, stale_after)
            verdict = rule(spent)
            if not verdict.admitted:
                return verdict, None
            rows = await self._db.execute_fetchall(*_open_charge(charge))
            return verdict, list(rows)[0][0]

    async def spend(self, charge_id: int | None, spending: Spending) -> None:
        s = spending
        await self._run(_SPEND, (
            charge_id, stamp(utcnow()), *spender_values(s.spender), s.thread_id, s.model,
            s.input_tokens, s.cached_input_tokens, s.output_tokens,
            s.input_tokens + s.output_tokens, s.cost, int(s.estimated), s.reasoning_tokens,
        ))

    async def usage(
        self, since: datetime, by: UsageBy, *, within: tuple[Subject, Spender] | None = None,
        top: int | None = None,
    ) -> list[UsageRow]:
        platform, key = ("''", "substr(at, 1, 10)") if by is UsageBy.DAY else USAGE_KEY[by]
        where, params = ["open = 0", "at >= ?"], [stamp(since)]
        if within is not None:
            where += [f"{c} = ?" for c in SUBJECT_COLUMNS[within[0]]]
            params += subject_values(*within)
        rows = await self._run(
            f"""SELECT {platform}, {key}, COUNT(*), SUM(input_tokens),
                       SUM(cached_input_tokens), SUM(output_tokens), TOTAL(cost),
                       SUM(reasoning_tokens)
                FROM charges WHERE {' AND '.join(where)}
                GROUP BY 1, 2 ORDER BY {usage_order(by)} LIMIT ?""",
            (*params, -1 if top is None else max(top, 0)),
        )
        return [UsageRow(*row) for row in rows]

    async def place_settings(self, places: Sequence[str]) -> list[PlaceSetting]:
        """In the order of ``places`` (then by name)."""
        rows = await self._run(
            """SELECT s.place, s.name, s.value, s.set_by, s.set_at
               FROM json_each(json(?)) j JOIN place_settings s ON s.place = j.value
               ORDER BY j.key, s.name""",
            (_json_list(places),),
        )
        return [PlaceSetting(place=row[0], name=row[1], value=row[2], set_by=row[3],
                             set_at=datetime.fromisoformat(row[4])) for row in rows]

    async def set_place_setting(self, place: str, name: str, value: str | None, by: str) -> None:
        if value is None:
            await self._run("DELETE FROM place_settings WHERE place = ? AND name = ?", (place, name))
            return
        await self._run(
            """INSERT INTO place_settings (place, name, value, set_by, set_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (place, name) DO UPDATE SET
                   value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at""",
            (place, name, value, by, stamp(utcnow())),
        )

    async def places_with(self, names: Collection[str]) -> set[str]:
        rows = await self._run(
            """SELECT DISTINCT s.place FROM json_each(json(?)) j
               JOIN place_settings s ON s.name = j.value""",
            (_json_list(list(names)),),
        )
        return {row[0] for row in rows}

    async def _spent(
        self, limits: Sequence[Limit], spender: Spender, stale_after: float
    ) -> list[Spent]:
        """Each limit's sums, in one statement (inside admit's transaction)."""
        stale = stamp(utcnow() - timedelta(seconds=stale_after))
        parts, params = [], []
        for n, limit in enumerate(limits):
            value = METRIC_VALUE[limit.metric]
            where = " AND ".join(["at >= ?", *(f"{c} = ?" for c in SUBJECT_COLUMNS[limit.subject])])
            parts.append(
                f"""SELECT {n} AS n, TOTAL(CASE WHEN open = 0 OR at < ? THEN {value} END),
                           TOTAL(CASE WHEN open = 1 AND at >= ? THEN {value} END)
                    FROM charges WHERE {where}"""
            )
            params += [stale, stale, stamp(limit.since), *subject_values(limit.subject, spender)]
        rows = await self._db.execute_fetchall(" UNION ALL ".join(parts) + " ORDER BY n", params)
        return [Spent(done=row[1], in_flight=row[2]) for row in rows]

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the shared connection, every other statement of
        the process held back meanwhile. The rollback also runs when the task was cancelled
        while a statement was queued: aiosqlite still runs it (a ``BEGIN`` would otherwise
        stay open for whatever the connection runs next)."""
        async with self._admitting:
            self._idle.clear()
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield
                await self._db.execute("COMMIT")
            except BaseException:
                try:
                    await self._db.execute("ROLLBACK")
                except sqlite3.OperationalError:  # no transaction: BEGIN failed, or COMMIT ran
                    pass
                raise
            finally:
                self._idle.set()



def _open_charge(charge: Charge) -> tuple[str, tuple[Any, ...]]:
    """The statement storing ``charge`` as in flight, started now."""
    return _OPEN_CHARGE, (
        stamp(utcnow()), *spender_values(charge.spender), charge.thread_id, charge.model,
        charge.tokens, charge.cost,
    )


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(dict.fromkeys(items)))  # each place once, in order
