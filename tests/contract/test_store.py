"""The Store contract (bot/ports.py), run against every backend through the ``store``
fixture: de-duplication, ordering, the budgeted context, reply reservation, epochs, chain
anchors, and reading back for export and stats."""

from __future__ import annotations

import asyncio

from bot.ports import Store
from bot.types import Coverage, Image, NewMessage, RollingSummary, ThreadKey
from tests.contract.conftest import Backend

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


def user(text: str, tokens: int, pid: str | None = None) -> NewMessage:
    return NewMessage(role="user", content=text, tokens=tokens, platform_message_id=pid)


async def test_a_message_is_durable_once_add_returns(backend: Backend) -> None:
    store = await backend.open()
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("hello", 5, "m1"))
    await store.close()

    store = await backend.open()  # a restart on the same database
    try:
        again = await store.get_thread(KEY)
        assert again is not None and again.id == thread.id
        assert [m.content for m in await store.context(again, 100)] == ["hello"]
        assert await store.add(again, user("hello", 5, "m1")) is None  # still a duplicate
    finally:
        await store.close()


async def test_same_platform_message_is_stored_once_per_thread(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    assert await store.add(thread, user("hi", 3, "m1")) is not None
    assert await store.add(thread, user("hi again", 3, "m1")) is None
    other = await store.ensure_thread(ThreadKey("slack", "T1", "C1", "other"), "replay")
    assert await store.add(other, user("hi", 3, "m1")) is not None  # same id, other thread
    assert [m.content for m in await store.context(thread, 100)] == ["hi"]


async def test_add_many_skips_what_is_already_stored(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("first", 3, "m1"))
    await store.add_many(thread, [user("first again", 3, "m1"), user("second", 3, "m2")])
    await store.add_many(thread, [user("second again", 3, "m2")])
    assert [m.content for m in await store.context(thread, 100)] == ["first", "second"]


async def test_row_ids_grow_in_insertion_order(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    ids: list[int] = []
    for i in range(5):
        row = await store.add(thread, user(f"m{i}", 1, f"p{i}"))
        assert row is not None
        ids.append(row)
    reply = await store.begin_reply(thread)
    later = await store.add(thread, user("later", 1, "p9"))
    assert later is not None
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert ids[-1] < reply < later


async def test_context_is_the_newest_messages_within_budget(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    for i in range(10):
        await store.add(thread, user(f"m{i}", 10, f"p{i}"))
    assert [m.content for m in await store.context(thread, 35)] == ["m7", "m8", "m9"]
    assert [m.content for m in await store.context(thread, 40)] == ["m6", "m7", "m8", "m9"]
    # The newest message always comes back, even when it alone is over budget.
    assert [m.content for m in await store.context(thread, 5)] == ["m9"]


async def test_concurrent_writes_to_one_thread_keep_the_running_totals_right(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await asyncio.gather(*(store.add(thread, user(f"m{i}", 10, f"p{i}")) for i in range(40)))
    window = await store.context(thread, 35)
    assert len(window) == 3  # exactly 3 × 10 tokens fit: no total was computed twice
    everything = [m.content for m in await store.context(thread, 10_000)]
    assert sorted(everything) == sorted(f"m{i}" for i in range(40))
    assert [m.content for m in window] == everything[-3:]


async def test_summaries_and_reserved_rows_stay_out_of_the_context(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("question", 10, "p1"))
    await store.add(thread, NewMessage(role="summary", content="a summary", tokens=0))
    await store.begin_reply(thread)  # reserved, never filled
    assert [m.content for m in await store.context(thread, 1000)] == ["question"]
    assert [m.role for _, m in await store.history(KEY)] == ["user", "summary"]


async def test_reply_reserved_before_later_messages_keeps_order_and_totals(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("question", 10, "p1"))
    row = await store.begin_reply(thread)
    await store.add(thread, user("said while the bot typed", 10, "p2"))
    await store.finish_reply(thread, row, NewMessage(role="assistant", content="answer", tokens=30))
    window = await store.context(thread, 1000)
    assert [m.content for m in window] == ["question", "answer", "said while the bot typed"]
    # Running totals include the reply: a 40-token budget holds the newest two only.
    assert [m.content for m in await store.context(thread, 40)] == [
        "answer",
        "said while the bot typed",
    ]


async def test_a_discarded_reply_leaves_no_row(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, user("question", 10, "p1"))
    row = await store.begin_reply(thread)
    await store.discard_reply(row)
    assert [m.content for _, m in await store.history(KEY)] == ["question"]
    [platform] = await store.stats()
    assert (platform.threads, platform.messages) == (1, 1)


async def test_since_response_is_the_user_input_after_the_anchor(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "chain")
    await store.add(thread, user("first", 5, "p1"))
    row = await store.begin_reply(thread)
    await store.finish_reply(
        thread, row, NewMessage(role="assistant", content="answer", tokens=5, response_id="resp_1")
    )
    await store.add(thread, user("second", 5, "p2"))
    await store.add(thread, user("third", 5, "p3"))
    assert [m.content for m in await store.since_response(thread, "resp_1")] == ["second", "third"]
    assert await store.since_response(thread, "resp_unknown") == []


async def test_reset_starts_a_new_epoch_and_keeps_old_messages_for_export(store: Store) -> None:
    thread = await store.ensure_thread(KEY, "chain")
    await store.add(thread, user("old", 5, "p1"))
    await store.set_anchor(thread, "resp_1", "gpt-4o")
    anchored = await store.get_thread(KEY)
    assert anchored is not None and anchored.last_response_id == "resp_1"
    assert anchored.model == "gpt-4o" and anchored.strategy == "chain"
    await store.reset(thread.id)
    fresh = await store.get_thread(KEY)
    assert fresh is not None and fresh.epoch == 1 and fresh.last_response_id is None
    assert await store.context(fresh, 100) == []
    # A reply that finishes after the reset must not re-attach the old chain.
    await store.set_anchor(thread, "resp_late", "gpt-4o")
    fresh = await store.get_thread(KEY)
    assert fresh is not None and fresh.last_response_id is None
    assert [(e, m.content) for e, m in await store.history(KEY)] == [(0, "old")]


async def test_a_thread_keeps_the_strategy_it_started_with(store: Store) -> None:
    await store.ensure_thread(KEY, "chain")
    again = await store.ensure_thread(KEY, "replay")
    assert again.strategy == "chain"


async def test_stats_and_thread_list_count_what_is_stored(store: Store) -> None:
    slack = await store.ensure_thread(KEY, "replay")
    await store.add(slack, user("a", 3, "p1"))
    await store.add(slack, user("b", 4, "p2"))
    console = await store.ensure_thread(ThreadKey("console", "", "", "demo"), "replay")
    await store.add(console, user("c", 5, "p3"))
    stats = {s.platform: (s.threads, s.messages, s.tokens) for s in await store.stats()}
    assert stats == {"slack": (1, 2, 7), "console": (1, 1, 5)}
    listed = await store.list_threads()
    assert [t.key for t in listed] == [console.key, KEY]  # most recent first
    assert [t.messages for t in listed] == [1, 2]


async def test_add_to_finds_or_creates_the_thread_and_stores_once(store: Store) -> None:
    thread, row = await store.add_to(KEY, "replay", user("hello", 5, "m1"))
    assert row is not None and thread.key == KEY and thread.strategy == "replay"
    again, duplicate = await store.add_to(KEY, "chain", user("hello", 5, "m1"))
    assert again.id == thread.id and again.strategy == "replay"  # found, not re-created
    assert duplicate is None
    _, second = await store.add_to(KEY, "replay", user("again", 5, "m2"))
    assert second is not None and second > row
    assert [m.content for m in await store.context(thread, 100)] == ["hello", "again"]


async def test_images_are_stored_by_reference_and_come_back_with_the_context(store: Store) -> None:
    chart = Image("chart.png", "image/png", "ab" * 32, "F1", data=b"\x89PNG...")
    photo = Image("photo.jpg", "image/jpeg", "cd" * 32, "F2")
    thread = await store.ensure_thread(KEY, "replay")
    await store.add(thread, NewMessage(role="user", content="see [image: chart.png]", tokens=5,
                                       platform_message_id="p1", images=(chart,)))
    await store.add_many(thread, [user("no image", 3, "p2"),
                                  NewMessage(role="user", content="[image: photo.jpg]", tokens=4,
                                             platform_message_id="p3", images=(photo,))])

    context = await store.context(thread, 100)
    assert [m.images for m in context] == [(chart,), (), (photo,)]
    assert [im.file_id for m in context for im in m.images] == ["F1", "F2"]
    assert all(im.data == b"" for m in context for im in m.images)  # references only


async def test_a_rolling_summary_stands_for_the_oldest_messages(store: Store) -> None:
    """The compaction's reads: the next block to summarise, the context after a summary,
    and the summary itself, in the current epoch only (and shown by export)."""
    thread = await store.ensure_thread(KEY, "replay")
    for i in range(6):
        await store.add(thread, user(f"m{i}", 10, f"p{i}"))
    assert await store.running_total(thread) == 60
    assert await store.rolling_summary(thread) is None
    block, through = await store.oldest(thread, 25, after=0)  # until 25 tokens are covered
    assert [m.content for m in block] == ["m0", "m1", "m2"] and through == 30
    assert await store.oldest(thread, 20, after=0) == (block[:2], 20)
    assert await store.oldest(thread, 15, after=35) == (block[:0] + [
        m for m in await store.context(thread, 30) if m.content in ("m3", "m4")], 50)
    assert await store.oldest(thread, 10, after=60) == ([], 60)
    summary = RollingSummary(content="m0 to m2", tokens=4, covers=Coverage(30, 3), model="s-1")
    await store.add_rolling_summary(thread, summary)
    assert await store.rolling_summary(thread) == summary
    assert [m.content for m in await store.context(thread, 1000, after=30)] == ["m3", "m4", "m5"]
    assert [m.content for m in await store.context(thread, 15, after=30)] == ["m5"]
    assert [m.content for m in (await store.oldest(thread, 5, after=30))[0]] == ["m3"]
    assert await store.running_total(thread) == 60  # a summary is not context
    rows = [m for _, m in await store.history(KEY) if m.role == "summary"]
    assert [(m.content, m.covers, m.model) for m in rows] == [("m0 to m2", Coverage(30, 3), "s-1")]
    await store.reset(thread.id)
    fresh = await store.ensure_thread(KEY, "replay")
    assert await store.rolling_summary(fresh) is None and await store.running_total(fresh) == 0
