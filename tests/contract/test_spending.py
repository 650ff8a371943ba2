"""The spending ledger every backend keeps (``Store.admit``, ``spend``, ``usage``): what a
quota's rule is shown, what a report adds up, and that concurrent admissions — in one
process or several (several stores on one database) — never both see the same sums."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.admin.ledger import (
    Charge,
    Limit,
    Metric,
    Spender,
    Spending,
    Spent,
    Subject,
    UsageBy,
    UsageRow,
    Verdict,
)
from bot.ports import Store
from bot.types import NewMessage, ThreadKey, utcnow
from tests.contract.conftest import Backend

ALICE = Spender("slack", "T1", "C1", "U1")
BOB = Spender("slack", "T1", "C2", "U2")  # Alice's workspace, another channel
DAVE = Spender("slack", "T1", "C1", "U3")  # Alice's channel
CAROL = Spender("discord", "G1", "C9", "U1")  # Alice's user id, on another platform
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def limit(subject: Subject, metric: Metric = Metric.TOKENS, amount: float = 1e9,
          since: datetime = LONG_AGO) -> Limit:
    return Limit(f"{subject}_{metric}", subject, metric, amount, since, since + timedelta(days=1))


def charge(spender: Spender = ALICE, tokens: int = 100, cost: float = 0.5) -> Charge:
    return Charge(spender, thread_id=None, model="gpt-a", tokens=tokens, cost=cost)


def spending(spender: Spender, model: str, inp: int, cached: int, out: int, cost: float,
             estimated: bool = False) -> Spending:
    return Spending(spender, None, model, inp, cached, out, cost, estimated)


@dataclass
class Recorder:
    """A rule that says ``verdict`` and remembers what it was shown."""

    verdict: Verdict = field(default_factory=lambda: Verdict(admitted=True))
    seen: list[list[Spent]] = field(default_factory=list)

    def __call__(self, spent: Sequence[Spent]) -> Verdict:
        self.seen.append(list(spent))
        return self.verdict


REFUSE = Verdict(admitted=False)


async def shown(store: Store, limits: Sequence[Limit], stale_after: float = 3600,
                spender: Spender = ALICE) -> list[Spent]:
    """What a rule is shown for ``limits`` right now (it refuses: nothing is stored)."""
    rule = Recorder(REFUSE)
    assert await store.admit(charge(spender), limits, rule, stale_after=stale_after) == (REFUSE, None)
    [seen] = rule.seen
    return seen


async def test_without_limits_a_call_is_admitted_and_reserved(store: Store) -> None:
    rule = Recorder()
    verdict, charge_id = await store.admit(charge(tokens=700, cost=0.25), [], rule, stale_after=60)
    assert verdict.admitted and charge_id is not None
    assert rule.seen == [[]]
    spent = await shown(store, [limit(Subject.USER), limit(Subject.USER, Metric.COST),
                                limit(Subject.USER, Metric.MESSAGES)])
    assert spent == [Spent(0, 700), Spent(0, 0.25), Spent(0, 1)]


async def test_a_refused_call_is_not_reserved(store: Store) -> None:
    refused = Verdict(admitted=False, limit=limit(Subject.USER))
    assert await store.admit(charge(), [limit(Subject.USER)], Recorder(refused),
                             stale_after=60) == (refused, None)
    assert await store.admit(charge(), [], Recorder(REFUSE), stale_after=60) == (REFUSE, None)
    assert await shown(store, [limit(Subject.USER, Metric.MESSAGES)]) == [Spent(0, 0)]


async def test_spending_replaces_the_reservation(store: Store) -> None:
    _, charge_id = await store.admit(charge(tokens=4000, cost=2.0), [limit(Subject.USER)],
                                     Recorder(), stale_after=60)
    assert await shown(store, [limit(Subject.USER)]) == [Spent(0, 4000)]
    await store.spend(charge_id, spending(ALICE, "gpt-a", 100, 60, 20, 0.5))
    limits = [limit(Subject.USER), limit(Subject.USER, Metric.COST),
              limit(Subject.USER, Metric.MESSAGES)]
    assert await shown(store, limits) == [Spent(120, 0), Spent(0.5, 0), Spent(1, 0)]
    [row] = await store.usage(LONG_AGO, UsageBy.USER)
    assert row == UsageRow("slack", "U1", 1, 100, 60, 20, 0.5)


async def test_each_subject_counts_its_own_charges(store: Store) -> None:
    await store.spend(None, spending(ALICE, "gpt-a", 100, 0, 20, 0.5))
    await store.spend(None, spending(BOB, "gpt-a", 10, 0, 5, 0.25))
    await store.spend(None, spending(CAROL, "gpt-a", 1, 0, 1, 0.125))
    await store.spend(None, spending(DAVE, "gpt-a", 7, 0, 0, 0.0625))
    limits = [limit(Subject.USER), limit(Subject.CHANNEL), limit(Subject.WORKSPACE),
              limit(Subject.ALL), limit(Subject.USER, Metric.MESSAGES),
              limit(Subject.WORKSPACE, Metric.MESSAGES), limit(Subject.ALL, Metric.COST)]
    assert await shown(store, limits) == [
        Spent(120, 0), Spent(127, 0), Spent(142, 0), Spent(144, 0), Spent(1, 0), Spent(3, 0),
        Spent(0.9375, 0),
    ]
    carol = [limit(Subject.USER), limit(Subject.WORKSPACE, Metric.MESSAGES)]
    assert await shown(store, carol, spender=CAROL) == [Spent(2, 0), Spent(1, 0)]


async def test_a_window_leaves_out_what_was_spent_before_it_started(store: Store) -> None:
    await store.spend(None, spending(ALICE, "gpt-a", 30, 0, 0, 0.5))
    await asyncio.sleep(0.02)
    start = utcnow()
    await asyncio.sleep(0.02)
    await store.spend(None, spending(ALICE, "gpt-a", 10, 0, 2, 0.25))
    since_start = [limit(Subject.USER, since=start), limit(Subject.ALL, Metric.COST, since=start)]
    assert await shown(store, [limit(Subject.USER), *since_start]) == [
        Spent(42, 0), Spent(12, 0), Spent(0.25, 0),
    ]
    assert [r.calls for r in await store.usage(start, UsageBy.USER)] == [1]
    assert await store.usage(utcnow() + timedelta(seconds=5), UsageBy.USER) == []


async def test_the_rule_sees_done_and_in_flight_apart_and_a_stale_charge_as_done(
    store: Store,
) -> None:
    await store.spend(None, spending(ALICE, "gpt-a", 40, 0, 10, 0.5))
    await store.admit(charge(tokens=300), [], Recorder(), stale_after=60)
    rule = Recorder()
    _, charge_id = await store.admit(charge(tokens=200), [limit(Subject.USER)], rule,
                                     stale_after=60)
    assert rule.seen == [[Spent(50, 300)]]  # what the rule decided on, before this charge
    assert await shown(store, [limit(Subject.USER)]) == [Spent(50, 500)]
    await asyncio.sleep(0.3)
    # Open for longer than stale_after: a call whose process died; its bound counts as spent.
    assert await shown(store, [limit(Subject.USER)], stale_after=0.1) == [Spent(550, 0)]
    await store.spend(charge_id, spending(ALICE, "gpt-a", 20, 0, 5, 0.25))
    assert await shown(store, [limit(Subject.USER)], stale_after=0.1) == [Spent(375, 0)]
    assert await shown(store, [limit(Subject.USER)]) == [Spent(75, 300)]


async def test_usage_adds_up_what_ended_by_user_channel_workspace_model_and_day(
    store: Store,
) -> None:
    day = utcnow().date().isoformat()
    _, charge_id = await store.admit(charge(), [], Recorder(), stale_after=60)
    await store.spend(charge_id, spending(ALICE, "gpt-a", 100, 40, 20, 0.5))
    await store.spend(None, spending(ALICE, "gpt-b", 50, 0, 10, 0.25))
    await store.spend(None, spending(BOB, "gpt-a", 300, 100, 30, 1.0))
    await store.spend(None, spending(CAROL, "gpt-a", 10, 0, 5, 0.125, estimated=True))
    await store.admit(charge(BOB, tokens=9000), [], Recorder(), stale_after=60)  # in flight
    if utcnow().date().isoformat() != day:
        pytest.skip("ran across midnight UTC")

    assert await store.usage(LONG_AGO, UsageBy.USER) == [
        UsageRow("slack", "U2", 1, 300, 100, 30, 1.0),
        UsageRow("slack", "U1", 2, 150, 40, 30, 0.75),
        UsageRow("discord", "U1", 1, 10, 0, 5, 0.125),
    ]
    assert [(r.platform, r.key, r.tokens) for r in await store.usage(LONG_AGO, UsageBy.CHANNEL)] == [
        ("slack", "C2", 330), ("slack", "C1", 180), ("discord", "C9", 15),
    ]
    assert await store.usage(LONG_AGO, UsageBy.WORKSPACE) == [
        UsageRow("slack", "T1", 3, 450, 140, 60, 1.75),
        UsageRow("discord", "G1", 1, 10, 0, 5, 0.125),
    ]
    assert await store.usage(LONG_AGO, UsageBy.MODEL) == [
        UsageRow("", "gpt-a", 3, 410, 140, 55, 1.625),
        UsageRow("", "gpt-b", 1, 50, 0, 10, 0.25),
    ]
    assert await store.usage(LONG_AGO, UsageBy.DAY) == [UsageRow("", day, 4, 460, 140, 65, 1.875)]


async def test_usage_within_a_subject_and_the_top_rows(store: Store) -> None:
    await store.spend(None, spending(ALICE, "gpt-a", 100, 40, 20, 0.5))
    await store.spend(None, spending(ALICE, "gpt-b", 50, 0, 10, 0.25))
    await store.spend(None, spending(BOB, "gpt-a", 300, 100, 30, 1.0))
    await store.spend(None, spending(DAVE, "gpt-c", 1, 0, 1, 0.125))
    await store.spend(None, spending(CAROL, "gpt-a", 10, 0, 5, 0.125))

    assert await store.usage(LONG_AGO, UsageBy.MODEL, within=(Subject.USER, ALICE)) == [
        UsageRow("", "gpt-a", 1, 100, 40, 20, 0.5),
        UsageRow("", "gpt-b", 1, 50, 0, 10, 0.25),
    ]
    by_channel = await store.usage(LONG_AGO, UsageBy.USER, within=(Subject.CHANNEL, ALICE))
    assert [(r.key, r.tokens) for r in by_channel] == [("U1", 180), ("U3", 2)]
    in_workspace = await store.usage(LONG_AGO, UsageBy.USER, within=(Subject.WORKSPACE, ALICE),
                                     top=2)
    assert [(r.platform, r.key) for r in in_workspace] == [("slack", "U2"), ("slack", "U1")]
    everyone = await store.usage(LONG_AGO, UsageBy.USER, within=(Subject.ALL, ALICE))
    assert len(everyone) == 4
    [carol] = await store.usage(LONG_AGO, UsageBy.WORKSPACE, within=(Subject.USER, CAROL))
    assert (carol.platform, carol.key, carol.calls) == ("discord", "G1", 1)
    assert await store.usage(LONG_AGO, UsageBy.USER, top=0) == []


def fits(limits: Sequence[Limit], tokens: int) -> Recorder:
    """Admit while everything done and in flight, plus this call, stays within each limit."""

    class Fits(Recorder):
        def __call__(self, spent: Sequence[Spent]) -> Verdict:
            super().__call__(spent)
            for lim, s in zip(limits, spent, strict=True):
                if s.done + s.in_flight + tokens > lim.amount:
                    return Verdict(admitted=False, limit=lim)
            return Verdict(admitted=True)

    return Fits()


@pytest.mark.parametrize("processes", [1, 3])
async def test_concurrent_admissions_for_one_user_admit_exactly_what_fits(
    backend: Backend, processes: int
) -> None:
    """20 calls at once for one user, room for 5: never 6, however they interleave (several
    stores on one database stand for several processes)."""
    stores = [await backend.open() for _ in range(processes)]
    try:
        limits = [limit(Subject.USER, amount=5 * 100)]
        rule = fits(limits, 100)
        results = await asyncio.gather(*(
            stores[i % processes].admit(charge(tokens=100), limits, rule, stale_after=60)
            for i in range(20)
        ))
        ids = [charge_id for verdict, charge_id in results if verdict.admitted]
        assert len(ids) == 5 and len(set(ids)) == 5 and None not in ids
        assert await shown(stores[0], limits) == [Spent(0, 500)]
    finally:
        for store in stores:
            await store.close()


async def test_a_failing_rule_loses_nothing_written_meanwhile(store: Store) -> None:
    """The rule raising ends the admission with nothing reserved — and messages stored at
    the same moment on the same store are all kept."""
    key = ThreadKey("slack", "T1", "C1", "1700000000.000100")
    thread = await store.ensure_thread(key, "replay")

    def broken(spent: Sequence[Spent]) -> Verdict:
        raise RuntimeError("rule failed")

    async def failing_admit() -> None:
        with pytest.raises(RuntimeError, match="rule failed"):
            await store.admit(charge(), [limit(Subject.USER)], broken, stale_after=60)

    said = [NewMessage(role="user", content=f"m{i}", tokens=1, platform_message_id=f"p{i}")
            for i in range(10)]
    await asyncio.gather(failing_admit(), *(store.add(thread, m) for m in said))
    assert sorted(m.content for _, m in await store.history(key)) == [m.content for m in said]
    assert await shown(store, [limit(Subject.USER, Metric.MESSAGES)]) == [Spent(0, 0)]
