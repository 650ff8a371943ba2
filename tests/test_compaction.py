"""Compaction end to end: the real OpenAI SDK against the fake, on both stores. The fake's
"model" summarises deterministically (it keeps the lines that carry a fact), so what matters
is what threadbot sends: the rolling summary instead of silent forgetting, in blocks, within
the budget."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.history import make_histories
from bot.history.compaction import COMPACTION_SYSTEM
from bot.history.replay import SUMMARY_SYSTEM
from bot.providers.factory import make_provider
from bot.tokens import TokenCounter
from bot.types import Command, CommandName, NewMessage, ThreadKey, Turn
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink, answering, meter_for

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000900")
FACT = "Ada: remember: we agreed the launch code is PELICAN-42"
CONTEXT, OUTPUT = 2_000, 200


def summariser(messages: list[dict[str, str]]) -> str:
    """The fake model: as a summariser, the previous summary's lines plus every new line
    that says "remember"; otherwise a short answer."""
    if messages[0]["content"] != COMPACTION_SYSTEM:
        return "Noted."
    prompt = messages[-1]["content"]
    earlier, new = prompt.split("\nNew messages:\n", 1)
    kept = [line for line in earlier.splitlines()[1:] if line and line != "(none yet)"]
    kept += [line for line in new.splitlines() if "remember" in line]
    return "\n".join(kept) or "Small talk only."


def request_tokens(body: dict[str, Any], counter: TokenCounter) -> int:
    """What a Chat request costs as threadbot counts it: the text plus each message's framing."""
    return sum(counter.count(m["content"]) + 4 for m in body["messages"])


async def chat(engine: Any, turns: int) -> None:
    for i in range(turns):
        author = "Ada" if i % 2 == 0 else "Bob"
        text = FACT.split(": ", 1)[1] if i == 0 else (
            f"message {i}: shall we talk about the weather and the lunch menu again today"
        )
        turn = Turn(key=KEY, message_id=f"m{i}", author_id=f"U-{author}", author_name=author,
                    text=text)
        await engine.handle(turn, RecordingSink())


async def test_a_fact_from_turn_1_is_still_sent_at_turn_600_within_the_budget(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 600)
    replies = answering(fake_openai)
    compactions = len(fake_openai.requests) - len(replies)
    last = replies[-1].json
    system = last["messages"][0]["content"]
    assert len(replies) == 600
    # turn 600 still knows turn 1, through the summary, with who said it
    assert FACT in system and system.startswith(settings.system_prompt)
    assert not any("PELICAN" in m["content"] for m in last["messages"][1:])
    counter = TokenCounter(settings.model_name)
    assert max(request_tokens(r.json, counter) for r in replies) <= CONTEXT - OUTPUT
    # in blocks: far fewer summaries than turns, and the prefix (system + summary) of a
    # request changes only when a new summary was written
    assert 3 <= compactions <= 40
    systems = [r.json["messages"][0]["content"] for r in replies]
    assert sum(a != b for a, b in zip(systems, systems[1:], strict=False)) <= compactions
    store = await open_store(settings.db)
    try:
        summaries = [m for _, m in await store.history(KEY) if m.covers is not None]
    finally:
        await store.close()
    assert len(summaries) == compactions
    assert summaries[-1].model == settings.model_name and FACT in summaries[-1].content
    covered = [m.covers.messages for m in summaries if m.covers is not None]
    assert covered == sorted(covered) and covered[0] > 0  # each summary covers more


async def test_a_failed_compaction_trims_with_one_log_line_and_answers(
    tmp_path: Path, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(messages: list[dict[str, str]]) -> str:
        if messages[0]["content"] == COMPACTION_SYSTEM:
            raise RuntimeError("the summariser is down")  # the fake answers HTTP 500
        return "Noted."

    caplog.set_level(logging.WARNING)
    fake_openai.reply_with(broken)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 120)
    replies = answering(fake_openai)
    attempts = len(fake_openai.requests) - len(replies)
    warnings = [r for r in caplog.records if "compaction failed" in r.getMessage()]
    assert len(replies) == 120 and attempts > 0
    assert len(warnings) == attempts and all(r.exc_info is None for r in warnings)
    assert all("\n" not in r.getMessage() for r in warnings)
    last = replies[-1].json["messages"]
    assert last[0]["content"] == settings.system_prompt  # no summary: trimmed as before
    assert not any("PELICAN" in m["content"] for m in last)
    counter = TokenCounter(settings.model_name)
    assert max(request_tokens(r.json, counter) for r in replies) <= CONTEXT - OUTPUT


async def test_chain_mode_replays_with_the_summary_when_the_chain_breaks(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             provider="openai-responses", history="chain",
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 150)
        fake_openai.expire_responses()
        turn = Turn(key=KEY, message_id="last", author_id="U-Bob", author_name="Bob",
                    text="What was the launch code?")
        await engine.handle(turn, RecordingSink())
        thanks = Turn(key=KEY, message_id="thanks", author_id="U-Ada", author_name="Ada",
                      text="Thanks")
        await engine.handle(thanks, RecordingSink())
    calls = [r.json for r in answering(fake_openai)]
    assert calls[-3]["previous_response_id"]  # chained until the chain broke
    replayed = calls[-2]
    assert replayed.get("previous_response_id") is None
    assert FACT in replayed["instructions"]
    # chained again, and still told the summary: instructions are not part of a chain
    assert calls[-1]["previous_response_id"] and FACT in calls[-1]["instructions"]
    assert replayed["input"][-1]["content"][0]["text"] == "Bob: What was the launch code?"


async def test_compaction_off_keeps_trimming(tmp_path: Path, fake_openai: Any) -> None:
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, compaction=False,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 100)
    assert len(answering(fake_openai)) == len(fake_openai.requests) == 100
    assert fake_openai.requests[-1].json["messages"][0]["content"] == settings.system_prompt


async def test_one_thread_is_never_compacted_twice_at_once(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.reply_with(summariser)
    fake_openai.delay = 0.2  # the summary takes a while: the second call comes meanwhile
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    store = await open_store(settings.db)
    provider = make_provider(settings)
    try:
        history = make_histories(settings, store, provider).default
        thread = await store.ensure_thread(KEY, history.name)
        for i in range(200):
            text = FACT if i == 0 else f"message {i} about the weather and the lunch menu"
            await store.add(thread, NewMessage(role="user", content=text,
                                               tokens=history.count(text), author_name="Ada"))
        meter = await meter_for(settings, store, thread, history.count)
        await asyncio.gather(history.compact(thread, meter.again()),
                             history.compact(thread, meter.again()))
        summaries = [m for _, m in await store.history(KEY) if m.covers is not None]
    finally:
        await provider.aclose()
        await store.close()
    assert len(fake_openai.requests) == 1 and len(summaries) == 1


async def test_a_long_backlog_is_summarised_from_its_newest_block_in_one_call(
    tmp_path: Path, fake_openai: Any
) -> None:
    """A thread older than compaction (or stored with it off): one model call catches up,
    not one per block of its history."""
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    store = await open_store(settings.db)
    provider = make_provider(settings)
    try:
        history = make_histories(settings, store, provider).default
        thread = await store.ensure_thread(KEY, history.name)
        texts = [f"message {i} about the weather and the lunch menu" for i in range(3000)]
        await store.add_many(thread, [NewMessage(role="user", content=t, tokens=history.count(t),
                                                 author_name="Ada", platform_message_id=str(i))
                                      for i, t in enumerate(texts)])
        meter = await meter_for(settings, store, thread, history.count)
        await history.compact(thread, meter.again())
        await history.compact(thread, meter.again())  # caught up: nothing more to do
        summary = await store.rolling_summary(thread)
        total = await store.running_total(thread)
    finally:
        await provider.aclose()
        await store.close()
    assert len(fake_openai.requests) == 1 and summary is not None
    sent = fake_openai.requests[0].json["messages"][-1]["content"]
    assert "message 2950 " in sent and "message 100 " not in sent  # the newest block only
    assert summary.covers.tokens < total  # the newest messages stay as they are


async def test_summarize_covers_the_compacted_part_through_the_rolling_summary(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    """`!summarize` (every platform's and the console's command goes through
    ``Engine.command``) summarises the rolling summary plus the messages after it, so a
    fact only the compacted part holds is in what the model is asked to summarise."""
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    async with open_engine(settings) as engine:
        await chat(engine, 150)
        sink = RecordingSink()
        await engine.command(Command(key=KEY, name=CommandName.SUMMARIZE, author_id="U-Ada",
                                     message_id="c1"), sink)
    asked = fake_openai.requests[-1].json["messages"]
    assert asked[0]["content"] == SUMMARY_SYSTEM and sink.final
    prompt = asked[-1]["content"]
    assert FACT in prompt  # from the rolling summary: turn 1 left the window long ago
    assert "message 149:" in prompt  # and the newest messages, after it
    assert prompt.index(FACT) < prompt.index("message 149:")
    counter = TokenCounter(settings.model_name)
    assert request_tokens(fake_openai.requests[-1].json, counter) <= CONTEXT - OUTPUT
