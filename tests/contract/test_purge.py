"""Deleting (``Store.purge``), run against every backend: what goes, what stays, and that
the thread is left in a state the engine continues from — the budgeted context reads only
what remains, summaries of deleted messages go too, the chain replays, replies being written
are left alone, and what was spent stays counted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.admin.ledger import Spender, Spending, UsageBy
from bot.ports import Store
from bot.types import Coverage, Ending, NewMessage, Purge, RollingSummary, ThreadKey, ThreadState, utcnow

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")
OTHER = ThreadKey("slack", "T1", "C1", "1700000000.000200")
OLD = utcnow() - timedelta(days=100)
CUTOFF = utcnow() - timedelta(days=90)


def said(who: str, text: str, tokens: int = 10, *, old: bool = False) -> NewMessage:
    return NewMessage(role="user", content=text, tokens=tokens, author_id=who,
                      platform_message_id=f"{who}-{text}", at=OLD if old else None)


def reply(text: str, tokens: int = 10, *, old: bool = False) -> NewMessage:
    return NewMessage(role="assistant", content=text, tokens=tokens, ending=Ending.ANSWERED,
                      at=OLD if old else None)


async def texts(store: Store, thread: ThreadState, budget: int = 1000) -> list[str]:
    fresh = await store.get_thread(thread.key)
    assert fresh is not None
    return [m.content for m in await store.context(fresh, budget)]


async def test_a_users_messages_go_and_the_budget_reads_what_remains(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    for message in (said("alice", "a1"), said("bob", "b1"), reply("r1"), said("bob", "b2"),
                    said("alice", "a2")):
        await store.add(thread, message)

    purged = await store.purge(Purge(key=KEY, author_id="bob"))

    assert (purged.messages, purged.threads, purged.skipped) == (2, 1, ())
    assert await texts(store, thread) == ["a1", "r1", "a2"]
    # 30 tokens remain: a budget of 30 holds all three (the deleted 20 no longer count)
    assert await texts(store, thread, budget=30) == ["a1", "r1", "a2"]
    assert await texts(store, thread, budget=20) == ["r1", "a2"]
    assert await store.running_total(thread) == 30


async def test_a_user_is_forgotten_in_every_thread_and_the_bots_replies_stay(store: Store) -> None:
    one = await store.ensure_thread(KEY, "replay")
    two = await store.ensure_thread(OTHER, "replay")
    await store.add(one, said("bob", "hello"))
    await store.add(one, reply("hi bob"))
    await store.add(two, said("bob", "again"))
    await store.add(two, said("alice", "me too"))

    purged = await store.purge(Purge(author_id="bob"))

    assert (purged.messages, purged.threads) == (2, 2)
    assert await texts(store, one) == ["hi bob"]
    assert await texts(store, two) == ["me too"]


async def test_a_dry_run_counts_and_deletes_nothing(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, said("alice", "old", old=True))
    await store.add(thread, reply("old reply", old=True))
    await store.add(thread, said("alice", "new"))

    counted = await store.purge(Purge(older_than=CUTOFF), dry_run=True)

    assert (counted.messages, counted.threads) == (2, 1)
    assert await texts(store, thread) == ["old", "old reply", "new"]
    done = await store.purge(Purge(older_than=CUTOFF))
    assert done == counted
    assert await texts(store, thread) == ["new"]
    assert (await store.purge(Purge(older_than=CUTOFF))).messages == 0  # idempotent


async def test_a_thread_with_a_reply_being_written_is_skipped_and_named(store: Store) -> None:
    busy = await store.ensure_thread(KEY, "replay")
    idle = await store.ensure_thread(OTHER, "replay")
    await store.add(busy, said("alice", "old", old=True))
    await store.add(idle, said("alice", "old", old=True))
    assert await store.claim(busy.id, "replica-1", 60)
    await store.begin_reply(busy)

    purged = await store.purge(Purge(older_than=CUTOFF))

    assert (purged.messages, purged.threads) == (1, 1)
    assert (purged.skipped, purged.skipped_messages) == ((KEY,), 1)
    assert await texts(store, busy) == ["old"]
    assert await texts(store, idle) == []
    assert (await store.purge(Purge(key=KEY))).skipped == (KEY,)
    assert await store.get_thread(KEY) is not None


async def test_an_open_reply_row_is_not_deleted_by_age(store: Store) -> None:
    """A dead process's half-written reply waits to be tidied on screen (``unfinished``)."""
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, said("alice", "old", old=True))
    row = await store.begin_reply(thread)
    await store.set_refs(row, ["ts-1"])
    await store.purge(Purge(older_than=utcnow() + timedelta(days=1)))
    assert [w.open_refs for w in await store.unfinished()] == [("ts-1",)]


async def test_a_whole_thread_goes_and_others_stay(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    other = await store.ensure_thread(OTHER, "replay")
    await store.add(thread, said("alice", "a"))
    await store.add(thread, reply("r"))
    await store.add(other, said("alice", "b"))

    assert (await store.purge(Purge(key=KEY), dry_run=True)).messages == 2
    purged = await store.purge(Purge(key=KEY))

    assert (purged.messages, purged.threads) == (2, 1)
    assert await store.get_thread(KEY) is None and await store.history(KEY) == []
    assert await texts(store, other) == ["b"]
    assert (await store.purge(Purge(key=KEY))).threads == 0


async def test_a_thread_with_nothing_stored_or_an_expired_lease_goes_too(store: Store) -> None:
    await store.ensure_thread(KEY, "replay")
    assert (await store.purge(Purge(key=KEY))).threads == 1
    assert await store.get_thread(KEY) is None
    left = await store.ensure_thread(OTHER, "replay")
    await store.add(left, said("alice", "a"))
    assert await store.claim(left.id, "replica-that-died", -1)  # a lease already expired
    assert (await store.purge(Purge(key=OTHER))).threads == 1
    again = await store.ensure_thread(OTHER, "replay")  # a new conversation, free to answer
    assert await store.claim(again.id, "replica-2", 60)


async def test_a_summary_covering_a_deleted_message_goes_one_before_it_stays(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    for message in (said("alice", "a1"), said("alice", "a2")):
        await store.add(thread, message)
    early = RollingSummary(content="alice said a1 a2", tokens=5, covers=Coverage(20, 2),
                           model="m")
    await store.add_rolling_summary(thread, early)
    await store.add(thread, said("bob", "b1"))
    await store.add(thread, said("alice", "a3"))
    assert await store.rolling_summary(thread) == early

    await store.purge(Purge(key=KEY, author_id="bob"))
    assert await store.rolling_summary(thread) == early  # made before bob spoke: it stays
    assert await texts(store, thread) == ["a1", "a2", "a3"]

    late = RollingSummary(content="a1 a2 a3", tokens=5, covers=Coverage(30, 3), model="m")
    await store.add_rolling_summary(thread, late)
    await store.purge(Purge(key=KEY, author_id="alice"))
    assert await store.rolling_summary(thread) is None  # both covered alice's messages


async def test_a_chain_that_lost_messages_replays(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "chain")
    await store.add(thread, said("bob", "secret"))
    row = await store.begin_reply(thread)
    await store.finish_reply(thread, row, NewMessage(role="assistant", content="ok", tokens=2,
                                                     response_id="resp_1"))
    await store.set_anchor(thread, "resp_1", "gpt-4o")
    other = await store.ensure_thread(OTHER, "chain")
    await store.set_anchor(other, "resp_2", "gpt-4o")

    await store.purge(Purge(author_id="bob"))

    after = await store.get_thread(KEY)
    assert after is not None and after.last_response_id is None
    untouched = await store.get_thread(OTHER)
    assert untouched is not None and untouched.last_response_id == "resp_2"


async def test_what_was_spent_stays_counted(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, said("bob", "hello"))
    bob = Spender("slack", "T1", "C1", "bob")
    await store.spend(None, Spending(bob, thread.id, "gpt-a", 100, 0, 20, 0.5))
    before = await store.usage(OLD, UsageBy.USER)

    await store.purge(Purge(key=KEY))

    assert await store.usage(OLD, UsageBy.USER) == before
    assert sum(s.messages for s in await store.stats()) == 0


async def test_a_purge_names_something() -> None:
    from storage import purge_named

    with pytest.raises(ValueError):
        purge_named(Purge())
