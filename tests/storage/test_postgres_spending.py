"""Quotas across PostgreSQL replicas: many admissions at once from several replicas (stores
with pools of their own), for users whose limits overlap — their own, their channel's and
the bot's overall cap — never admit more than each limit holds, and never deadlock however
each call lists its limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.admin.ledger import Charge, Limit, Metric, Rule, Spender, Spent, Subject, Verdict
from bot.ports import Store
from storage import open_store

SINCE = datetime(2020, 1, 1, tzinfo=UTC)
USERS = [Spender("slack", "T1", "C1", "U1"), Spender("slack", "T1", "C1", "U2"),
         Spender("slack", "T1", "C2", "U3"), Spender("slack", "T1", "C2", "U4")]
TOKENS = 100


def limit(subject: Subject, calls: int) -> Limit:
    return Limit(f"{subject}_tokens", subject, Metric.TOKENS, calls * TOKENS, SINCE,
                 SINCE + timedelta(days=1))


LIMITS = [limit(Subject.USER, 5), limit(Subject.CHANNEL, 7), limit(Subject.ALL, 12)]


def fits(limits: Sequence[Limit]) -> Rule:
    def rule(spent: Sequence[Spent]) -> Verdict:
        for lim, s in zip(limits, spent, strict=True):
            if s.done + s.in_flight + TOKENS > lim.amount:
                return Verdict(admitted=False, limit=lim)
        return Verdict(admitted=True)

    return rule


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[Store]]:
    stores = list(await asyncio.gather(*(open_store(postgres_url) for _ in range(5))))
    try:
        yield stores
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_replicas_admitting_at_once_keep_every_overlapping_limit(
    replicas: list[Store],
) -> None:
    async def ask(i: int) -> tuple[Spender, bool]:
        who = USERS[i % len(USERS)]
        limits = LIMITS if i % 2 else LIMITS[::-1]  # the locks are taken in one order anyway
        rule = fits(limits)
        verdict, charge_id = await replicas[i % len(replicas)].admit(
            Charge(who, None, "gpt-x", TOKENS, 0.01), limits, rule, stale_after=60
        )
        assert verdict.admitted == (charge_id is not None)
        return who, verdict.admitted

    results = await asyncio.gather(*(ask(i) for i in range(60)))
    per_user = Counter(who.user_id for who, admitted in results if admitted)
    per_channel = Counter(who.channel for who, admitted in results if admitted)
    # Whatever the order, the overall cap is what runs out first (see the limits above).
    assert sum(per_user.values()) == 12
    assert max(per_user.values()) <= 5 and max(per_channel.values()) <= 7

    def refuse(spent: Sequence[Spent]) -> Verdict:
        seen.append(list(spent))
        return Verdict(admitted=False)

    seen: list[list[Spent]] = []
    await replicas[0].admit(Charge(USERS[0], None, "gpt-x", TOKENS, 0.01), LIMITS, refuse,
                            stale_after=60)
    assert seen == [[Spent(0, per_user["U1"] * TOKENS), Spent(0, per_channel["C1"] * TOKENS),
                     Spent(0, 12 * TOKENS)]]
