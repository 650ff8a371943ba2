"""``forget`` and purges seen from the model's side, on each store: after a person's messages
are deleted, the next request the (fake) model receives carries exactly what remains — in
replay, and in a chain, where the provider still holds the deleted messages, by replaying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.admin.config import load_admin
from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine
from bot.forgetting import ADMINS_ONLY, BUSY
from bot.types import Command, CommandName, Purge, ThreadKey, Turn
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")
_ids = iter(range(1, 1_000_000))


@pytest.fixture
def settings(tmp_path: Path, fake_openai: Any, database: str) -> Settings:
    return make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)


def turn(text: str, who: str, *, addressed: bool = True) -> Turn:
    return Turn(key=KEY, message_id=f"m{next(_ids)}", author_id=f"U-{who}", author_name=who,
                text=text, addressed=addressed)


async def ask(engine: Engine, text: str, who: str = "Alice") -> RecordingSink:
    sink = RecordingSink()
    await engine.handle(turn(text, who), sink)
    return sink


async def forget(engine: Engine, who: str, argument: str = "") -> str | None:
    sink = RecordingSink()
    await engine.command(Command(key=KEY, name=CommandName.FORGET, author_id=f"U-{who}",
                                 argument=argument, message_id=f"c{next(_ids)}"), sink)
    return sink.final


def sent(body: dict[str, Any], role: str = "") -> list[str]:
    """The conversation's texts a request carried (system prompt aside; only ``role``'s
    when given), either API."""
    items = body.get("messages") or body.get("input") or []
    texts = []
    for item in items:
        content = item["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        if item["role"] != "system" and item["role"] == (role or item["role"]):
            texts.append(content)
    return texts


async def stored(settings: Settings) -> list[str]:
    store = await open_store(settings.db)
    try:
        return [m.content for _, m in await store.history(KEY)]
    finally:
        await store.close()


async def test_after_forget_the_model_gets_exactly_what_remains(
    settings: Settings, fake_openai: Any
) -> None:
    async with open_engine(settings) as engine:
        first = await ask(engine, "My name is Alice")
        await engine.remember([turn("My PIN is 4321", "Bob", addressed=False)])
        await ask(engine, "What is my name?")
        assert any("4321" in t for t in sent(fake_openai.requests[-1].json))

        confirmed = await forget(engine, "Bob")
        remaining = await stored(settings)
        await ask(engine, "And now?")

    assert confirmed is not None and confirmed.startswith("Deleted 1 message of yours")
    assert "My PIN is 4321" not in remaining and first.final in remaining
    texts = sent(fake_openai.requests[-1].json)
    assert not any("4321" in t for t in texts)
    # the request is the stored conversation, names added where several people talk
    assert [t.removeprefix("Alice: ") for t in texts] == [*remaining, "And now?"]


async def test_a_chain_that_held_forgotten_messages_replays_what_remains(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, db=database, provider="openai-responses",
                             history="chain", openai_base_url=fake_openai.base_url)
    async with open_engine(settings) as engine:
        await ask(engine, "My name is Alice")
        await ask(engine, "My PIN is 4321", who="Bob")
        await ask(engine, "Nice to meet you both")
        chained = fake_openai.requests[-1].json
        assert chained["previous_response_id"]  # the provider holds Bob's PIN in its chain

        await forget(engine, "Bob")
        remaining = await stored(settings)
        await ask(engine, "What do you know?")
        await ask(engine, "Thanks")

    replayed, after = (r.json for r in fake_openai.requests[-2:])
    assert replayed.get("previous_response_id") is None
    # what people said: Alice's messages only (the fake's replies echo Bob's, and the bot's
    # replies are not Bob's to delete — an admin's ``forget all`` is)
    said = sent(replayed, role="user")
    assert said == ["Alice: My name is Alice", "Alice: Nice to meet you both",
                    "Alice: What do you know?"]
    assert "\n\n".join(sent(replayed)) == "\n\n".join(
        [*(f"Alice: {t}" if not t.startswith("You said") else t for t in remaining),
         "Alice: What do you know?"])
    assert after["previous_response_id"]  # and the chain continues from the replayed reply


async def test_forget_all_is_for_admins_and_deletes_the_conversation(
    tmp_path: Path, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url)
    async with open_engine(settings, admin=load_admin({"THREADBOT_ADMINS": "U-Root"})) as engine:
        await ask(engine, "hello")
        assert await forget(engine, "Alice", "all") == ADMINS_ONLY
        assert await forget(engine, "Alice", "everything") is not None
        assert await stored(settings) != []
        done = await forget(engine, "Root", "all")
        assert done is not None and done.startswith("Deleted this conversation (2 messages)")
        assert await stored(settings) == [] and not await engine.follows(KEY)
        await ask(engine, "hello again")  # a new conversation starts
    assert sent(fake_openai.requests[-1].json) == ["hello again"]


async def test_forget_while_a_reply_is_written_deletes_nothing(
    tmp_path: Path, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url)
    async with open_engine(settings) as engine:
        await ask(engine, "hello")
        store = await open_store(settings.db)
        try:
            thread = await store.get_thread(KEY)
            assert thread is not None and await store.claim(thread.id, "other-replica", 60)
            assert await forget(engine, "Alice") == BUSY
            assert (await store.purge(Purge(key=KEY), dry_run=True)).skipped == (KEY,)
        finally:
            await store.close()
    assert "hello" in await stored(settings)


async def test_a_rolling_summary_of_forgotten_messages_is_not_sent_again(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    from tests.test_compaction import CONTEXT, FACT, OUTPUT, chat, summariser
    from tests.test_compaction import KEY as COMPACTED

    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 100)
        assert FACT in fake_openai.requests[-1].json["messages"][0]["content"]  # summarised
        sink = RecordingSink()
        await engine.command(Command(key=COMPACTED, name=CommandName.FORGET, author_id="U-Ada",
                                     message_id="forget-1"), sink)
        await engine.handle(Turn(key=COMPACTED, message_id="after", author_id="U-Bob",
                                 author_name="Bob", text="what do you remember?"), RecordingSink())
    assert sink.final is not None and sink.final.startswith("Deleted 50 messages of yours")
    for request in fake_openai.requests[-2:]:  # a new summary (if any) and the answer
        assert not any("PELICAN" in m["content"] or "Ada:" in m["content"]
                       for m in request.json["messages"])
