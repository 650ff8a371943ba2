"""What a reply cost, as every backend keeps it: the model and the input, cached input and
output tokens the provider reported, stored with the reply and read back for chaining
(``reply_usage``), export (``history``) and ``stats``."""

from __future__ import annotations

from bot.ports import Store
from bot.types import Ending, NewMessage, ThreadKey, Usage

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")
OTHER = ThreadKey("discord", "G1", "C9", "T9")


def reply(response_id: str, usage: Usage | None, model: str | None = "gpt-x") -> NewMessage:
    return NewMessage(role="assistant", content=f"reply {response_id}", tokens=3, model=model,
                      response_id=response_id, usage=usage, ending=Ending.ANSWERED)


async def answered(store: Store, key: ThreadKey, message: NewMessage) -> None:
    thread = await store.ensure_thread(key, "chain")
    await store.add(thread, NewMessage(role="user", content="question", tokens=1))
    row = await store.begin_reply(thread)
    await store.finish_reply(thread, row, message)


async def test_a_reply_keeps_its_model_and_every_token_count(store: Store) -> None:
    await answered(store, KEY, reply("resp_1", Usage(1200, 80, cached_input_tokens=1024)))
    await answered(store, KEY, reply("resp_2", Usage(300, 20)))  # no cache details: 0
    await answered(store, KEY, reply("resp_3", None, model=None))  # the provider said nothing
    thread = await store.get_thread(KEY)
    assert thread is not None

    assert await store.reply_usage(thread, "resp_1") == Usage(1200, 80, 1024)
    assert await store.reply_usage(thread, "resp_2") == Usage(300, 20, 0)
    assert await store.reply_usage(thread, "resp_3") is None
    replies = [m for _, m in await store.history(KEY) if m.role == "assistant"]
    assert [(m.model, m.usage) for m in replies] == [
        ("gpt-x", Usage(1200, 80, 1024)), ("gpt-x", Usage(300, 20, 0)), (None, None),
    ]
    users = [m for _, m in await store.history(KEY) if m.role == "user"]
    assert {(m.model, m.usage) for m in users} == {(None, None)}


async def test_stats_add_up_the_cached_input_per_platform(store: Store) -> None:
    await answered(store, KEY, reply("resp_1", Usage(1200, 80, 1000)))
    await answered(store, KEY, reply("resp_2", Usage(1300, 90, 1200)))
    await answered(store, OTHER, reply("resp_3", Usage(50, 5)))
    cached = {s.platform: s.cached_input_tokens for s in await store.stats()}
    assert cached == {"slack": 2200, "discord": 0}


async def test_usage_stored_with_a_message_is_kept_too(store: Store) -> None:
    """add and add_to (not only finish_reply) carry the whole usage."""
    thread = await store.ensure_thread(KEY, "chain")
    await store.add(thread, reply("resp_1", Usage(10, 2, 7)))
    await store.add_to(KEY, "chain", reply("resp_2", Usage(20, 4, 9)))
    assert await store.reply_usage(thread, "resp_1") == Usage(10, 2, 7)
    assert await store.reply_usage(thread, "resp_2") == Usage(20, 4, 9)


async def test_reasoning_tokens_are_kept_with_the_reply(store: Store) -> None:
    """A reasoning model's thinking tokens (part of its output) are stored with the reply by
    every writing path, and read back for chaining and export; a reply without them reads 0."""
    await answered(store, KEY, reply("resp_1", Usage(1200, 380, 1024, reasoning_tokens=300)))
    thread = await store.get_thread(KEY)
    assert thread is not None
    await store.add(thread, reply("resp_2", Usage(10, 50, 0, 40)))
    await store.add_to(KEY, "chain", reply("resp_3", Usage(20, 60, 9, 45)))
    await answered(store, KEY, reply("resp_4", Usage(300, 20)))

    assert await store.reply_usage(thread, "resp_1") == Usage(1200, 380, 1024, 300)
    assert await store.reply_usage(thread, "resp_3") == Usage(20, 60, 9, 45)
    replies = [m.usage for _, m in await store.history(KEY) if m.role == "assistant"]
    assert replies == [Usage(1200, 380, 1024, 300), Usage(10, 50, 0, 40), Usage(20, 60, 9, 45),
                       Usage(300, 20, 0, 0)]
