"""The Store's leases and pending work (bot/ports.py), run against every backend: one
holder per thread at a time, expiry and takeover, stops asked from another process, and
``unfinished`` leaving alone what a live holder is answering. Two stores opened on one
database stand for two processes (replicas)."""

from __future__ import annotations

import asyncio

from bot.ports import Store
from bot.types import Ending, NewMessage, ThreadKey
from tests.contract.conftest import Backend

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


def asked(text: str, pid: str, author: str = "U1") -> NewMessage:
    return NewMessage(role="user", content=text, tokens=3, platform_message_id=pid,
                      author_id=author, awaits_answer=True)


async def test_one_holder_at_a_time_and_the_holder_renews(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    assert await store.claim(thread.id, "a", 30)
    assert not await store.claim(thread.id, "b", 30)
    assert await store.claim(thread.id, "a", 30)  # its own: renewed
    assert await store.renew("a", [thread.id], 30) == {thread.id}
    assert await store.renew("b", [thread.id], 30) == set()
    await store.release(thread, "b")  # not b's to give up
    assert not await store.claim(thread.id, "b", 30)
    await store.release(thread, "a")
    assert await store.claim(thread.id, "b", 30)


async def test_an_expired_lease_is_taken_over(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    assert await store.claim(thread.id, "a", 0.05)
    await asyncio.sleep(0.2)
    assert await store.claim(thread.id, "b", 30)
    assert await store.renew("a", [thread.id], 30) == set()  # a lost it: it must not answer
    assert not await store.claim(thread.id, "a", 30)


async def test_only_one_of_many_concurrent_claims_wins(backend: Backend) -> None:
    stores = [await backend.open() for _ in range(3)]
    try:
        thread = await stores[0].ensure_thread(KEY, "replay")
        wins = await asyncio.gather(
            *(stores[i % 3].claim(thread.id, f"holder-{i}", 30) for i in range(30))
        )
        assert wins.count(True) == 1
    finally:
        for store in stores:
            await store.close()


async def test_a_stop_reaches_the_holder_once(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    assert not await store.request_stop(thread.id)  # nobody is answering
    assert await store.claim(thread.id, "a", 30)
    assert await store.request_stop(thread.id)
    assert await store.stops_requested("b") == set()
    assert await store.stops_requested("a") == {thread.id}
    assert await store.stops_requested("a") == set()  # reported once
    await store.request_stop(thread.id)
    await store.release(thread, "a")
    assert await store.claim(thread.id, "b", 30)
    assert await store.stops_requested("b") == set()  # the stop went with the old lease


async def test_waiting_says_how_many_and_who_asked_last(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    assert await store.waiting(thread) is None
    await store.add(thread, asked("one", "m1", "U1"))
    await store.add(thread, asked("two", "m2", "U2"))
    waiting = await store.waiting(thread)
    assert waiting is not None and (waiting.key, waiting.waiting) == (KEY, 2)
    assert waiting.last_author_id == "U2"
    row = await store.begin_reply(thread)
    await store.finish_reply(thread, row, NewMessage(role="assistant", content="both",
                                                     tokens=2, ending=Ending.ANSWERED))
    assert await store.waiting(thread) is None


async def test_unfinished_leaves_alone_what_a_live_holder_answers(backend: Backend) -> None:
    first, second = await backend.open(), await backend.open()
    try:
        thread = await first.ensure_thread(KEY, "replay")
        await first.add(thread, asked("hello", "m1"))
        assert await first.claim(thread.id, "replica-a", 30)
        await first.begin_reply(thread)  # replica a is writing its reply
        assert [w.key for w in await second.unfinished()] == []
        await first.release(thread, "replica-a")
        [work] = await second.unfinished()
        assert (work.key, work.waiting) == (KEY, 1)
    finally:
        await first.close()
        await second.close()


async def test_release_says_what_another_process_stored_meanwhile(backend: Backend) -> None:
    holder, other = await backend.open(), await backend.open()
    try:
        thread = await holder.ensure_thread(KEY, "replay")
        assert await holder.claim(thread.id, "a", 30)
        assert await holder.release(thread, "a") is None  # nothing waits
        assert await holder.claim(thread.id, "a", 30)
        await other.add(thread, asked("meanwhile", "m1", "U7"))
        assert not await other.claim(thread.id, "b", 30)  # a holds it: b leaves it to a
        left = await holder.release(thread, "a")
        assert left is not None and (left.waiting, left.last_author_id) == (1, "U7")
        await holder.reset(thread.id)
        await holder.settle(thread)
        assert await holder.release(thread, "a") is None  # the new epoch has nothing waiting
    finally:
        await holder.close()
        await other.close()


async def test_renewing_leaves_a_lease_no_answer_holds_to_expire(store: Store) -> None:
    """An answer ended without giving its lease up (the release failed): the holder's
    renewals of the threads it still answers do not keep that one from everyone."""
    answering = await store.ensure_thread(KEY, "replay")
    forgotten = await store.ensure_thread(ThreadKey("slack", "T1", "C1", "other"), "replay")
    assert await store.claim(answering.id, "a", 0.3)
    assert await store.claim(forgotten.id, "a", 0.3)
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await store.renew("a", [answering.id], 0.3) == {answering.id}
    assert await store.claim(forgotten.id, "b", 30)
    assert not await store.claim(answering.id, "b", 30)
