"""Spending and settings changed from chat on PostgreSQL: ``admit``, ``spend``, ``usage``,
``place_settings`` and ``set_place_setting`` of ``bot.ports.Store``.

``admit`` asks the rule (Python) between reading the sums and storing the charge, yet holds
no lock across a round trip: it reads the sums, asks the rule, then calls
``threadbot_admit`` (storage/migrations/postgres_ledger.py) with the sums the rule was given.
That function takes each subject's advisory lock, adds the sums up again and stores the
charge only if they are the same — one transaction, so no other admit for an overlapping
subject can land between its sums and its insert. If they moved (another replica's charge, a
call that ended), it returns the new sums and the rule is asked again. Each retry means some
other charge or spending was stored meanwhile, or a reservation went stale, so the loop ends;
uncontended, an admission costs two round trips (one without limits). Times are the server's
clock, as for leases.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg

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
from storage.spending import (
    SUBJECT_COLUMNS,
    USAGE_KEY,
    spender_values,
    subject_values,
    usage_order,
)

_ADMIT = "SELECT o_id, o_done, o_in_flight FROM threadbot_admit(" + ", ".join(
    f"${i}" for i in range(1, 15)
) + ")"
_DAY = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class PostgresSpending:
    _pool: asyncpg.Pool

    async def admit(
        self, charge: Charge, limits: Sequence[Limit], rule: Rule, *, stale_after: float
    ) -> tuple[Verdict, int | None]:
        args = _limit_args(limits, stale_after)
        spent = _spent(await self._admit(args, None, charge)) if limits else []
        while True:
            verdict = rule(spent)
            if not verdict.admitted:
                return verdict, None
            row = await self._admit(args, spent, charge)
            if row[0] is not None:
                return verdict, int(row[0])
            spent = _spent(row)

    async def spend(self, charge_id: int | None, spending: Spending) -> None:
        """One statement: the open charge becomes what the call cost, or — no charge, or
        none of that id — a new row."""
        s = spending
        await self._pool.execute(
            """WITH ended AS (
                   UPDATE charges SET open = false, model = $7::text, input_tokens = $8::integer,
                          cached_input_tokens = $9::integer, output_tokens = $10::integer,
                          tokens = $8 + $10, cost = $11::double precision,
                          estimated = $12::boolean, reasoning_tokens = $13::integer
                   WHERE id = $1::bigint RETURNING 1)
               INSERT INTO charges (at, platform, scope, channel, user_id, thread_id, model,
                                    input_tokens, cached_input_tokens, output_tokens, tokens,
                                    cost, open, estimated, reasoning_tokens)
               SELECT clock_timestamp(), $2::text, $3::text, $4::text, $5::text, $6::bigint,
                      $7, $8, $9, $10, $8 + $10, $11, false, $12, $13
               WHERE NOT EXISTS (SELECT 1 FROM ended)""",
            charge_id, *spender_values(s.spender), s.thread_id, s.model, s.input_tokens,
            s.cached_input_tokens, s.output_tokens, s.cost, s.estimated, s.reasoning_tokens,
        )

    async def usage(
        self, since: datetime, by: UsageBy, *, within: tuple[Subject, Spender] | None = None,
        top: int | None = None,
    ) -> list[UsageRow]:
        platform, key = ("''", _DAY) if by is UsageBy.DAY else USAGE_KEY[by]
        where = ["NOT open", "at >= $1"]
        params: list[Any] = [since]
        if within is not None:
            for column, value in zip(
                SUBJECT_COLUMNS[within[0]], subject_values(*within), strict=True
            ):
                params.append(value)
                where.append(f"{column} = ${len(params)}")
        rows = await self._pool.fetch(
            f"""SELECT {platform}::text, {key}, COUNT(*), SUM(input_tokens)::bigint,
                       SUM(cached_input_tokens)::bigint, SUM(output_tokens)::bigint, SUM(cost),
                       SUM(reasoning_tokens)::bigint
                FROM charges WHERE {' AND '.join(where)}
                GROUP BY 1, 2 ORDER BY {usage_order(by)} LIMIT ${len(params) + 1}""",
            *params, None if top is None else max(top, 0),
        )
        return [UsageRow(*row) for row in rows]

    async def place_settings(self, places: Sequence[str]) -> list[PlaceSetting]:
        """In the order of ``places`` (then by name)."""
        rows = await self._pool.fetch(
            """SELECT s.place, s.name, s.value, s.set_by, s.set_at
               FROM unnest($1::text[]) WITH ORDINALITY AS p(place, n)
               JOIN place_settings s ON s.place = p.place
               ORDER BY p.n, s.name""",
            list(dict.fromkeys(places)),  # each place once, in order
        )
        return [PlaceSetting(*row) for row in rows]

    async def set_place_setting(self, place: str, name: str, value: str | None, by: str) -> None:
        if value is None:
            await self._pool.execute(
                "DELETE FROM place_settings WHERE place = $1 AND name = $2", place, name
            )
            return
        await self._pool.execute(
            """INSERT INTO place_settings (place, name, value, set_by, set_at)
               VALUES ($1, $2, $3, $4, clock_timestamp())
               ON CONFLICT (place, name) DO UPDATE SET
                   value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at""",
            place, name, value, by,
        )

    async def places_with(self, names: Collection[str]) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT place FROM place_settings WHERE name = ANY($1::text[])",
            list(names),
        )
        return {row[0] for row in rows}

    async def _admit(
        self, limits: tuple[Any, ...], expected: Sequence[Spent] | None, charge: Charge
    ) -> Any:
        """threadbot_admit: only the sums (``expected`` None), or the charge stored if the
        sums are still ``expected``."""
        done = None if expected is None else [s.done for s in expected]
        in_flight = None if expected is None else [s.in_flight for s in expected]
        return await self._pool.fetchrow(
            _ADMIT, *limits, done, in_flight, *spender_values(charge.spender), charge.thread_id,
            charge.model, charge.tokens, charge.cost,
        )


def _limit_args(limits: Sequence[Limit], stale_after: float) -> tuple[Any, ...]:
    """threadbot_admit's first arguments: the limits as arrays, and when a charge is stale."""
    return (
        [limit.subject.value for limit in limits], [limit.metric.value for limit in limits],
        [limit.since for limit in limits], float(stale_after),
    )


def _spent(row: Any) -> list[Spent]:
    return [Spent(done=d, in_flight=f) for d, f in zip(row[1], row[2], strict=True)]

