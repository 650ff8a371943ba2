"""Compaction's summarising calls under the admin controls, on both stores: each is a row in
the spending ledger charged to whoever asked last, the summary row keeps what the call used,
and a call the quotas or the spend cap refuse is not made — the thread is trimmed instead
and every reply still goes out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.admin.config import load_admin
from bot.admin.ledger import Spender, Subject, UsageBy
from bot.app import open_engine
from bot.history import make_histories
from bot.providers.factory import make_provider
from bot.types import Completion, NewMessage, Request, ThreadKey, Turn, Usage, utcnow
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink, answering, meter_for
from tests.test_compaction import CONTEXT, FACT, KEY, OUTPUT, summariser

OTHER = ThreadKey("slack", "T1", "C1", "1700000000.000777")
SUMMARISER = "gpt-4.1-nano"  # THREADBOT_COMPACTION_MODEL: its calls are told apart in the ledger


async def say(engine: Any, i: int, author: str, *, key: ThreadKey = KEY,
              sink: RecordingSink | None = None) -> None:
    text = FACT.split(": ", 1)[1] if i == 0 else (
        f"message {i}: shall we talk about the weather and the lunch menu again today")
    await engine.handle(Turn(key=key, message_id=f"m{i}", author_id=f"U-{author}",
                             author_name=author, text=text), sink or RecordingSink())


async def test_compactions_are_charged_to_who_asked_last_and_keep_their_usage(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT,
                             compaction_model=SUMMARISER)
    async with open_engine(settings, admin=load_admin({})) as engine:
        for i in range(90):
            await say(engine, i, "Ada")
        for i in range(90, 180):  # from here on Bob asks: the compactions are his
            await say(engine, i, "Bob")
    compactions = [r for r in fake_openai.requests if r.json["model"] == SUMMARISER]
    bob_asks = next(i for i, r in enumerate(fake_openai.requests)
                    if "message 90:" in str(r.json["messages"][-1]))
    by_bob = [r for r in compactions if fake_openai.requests.index(r) > bob_asks]
    assert len(answering(fake_openai)) == 180 and 0 < len(by_bob) < len(compactions)
    store = await open_store(database)
    try:
        since = utcnow().replace(hour=0, minute=0)
        users = {r.key: r for r in await store.usage(since, UsageBy.USER)}
        models = {r.key: r for r in await store.usage(since, UsageBy.MODEL)}
        bob = Spender("slack", KEY.scope, KEY.channel, "U-Bob")
        bobs = {r.key: r for r in await store.usage(since, UsageBy.MODEL,
                                                    within=(Subject.USER, bob))}
        summaries = [m for _, m in await store.history(KEY) if m.covers is not None]
    finally:
        await store.close()
    assert sum(r.calls for r in users.values()) == len(fake_openai.requests)
    assert models[SUMMARISER].calls == len(compactions)
    assert bobs[SUMMARISER].calls == len(by_bob)  # those after Ada's turns are hers
    assert users["U-Bob"].calls == 90 + bobs[SUMMARISER].calls
    # each summary row keeps the call's usage and model, as the ledger has them
    assert len(summaries) == len(compactions)
    assert all(m.model == SUMMARISER and m.usage is not None for m in summaries)
    stored = [m.usage for m in summaries if m.usage is not None]
    assert all(u.input_tokens > 0 and u.output_tokens > 0 for u in stored)
    assert sum(u.input_tokens for u in stored) == models[SUMMARISER].input_tokens
    assert sum(u.output_tokens for u in stored) == models[SUMMARISER].output_tokens


async def test_a_compaction_past_the_users_quota_is_not_made_and_the_reply_goes_out(
    tmp_path: Path, database: str, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A daily token quota that the reply before the first compaction just reaches: that
    reply was admitted and is shown, its compaction is refused (one log line, no call) and
    the thread is trimmed instead."""
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT,
                             compaction_model=SUMMARISER)
    # A first run, by someone else in another thread, finds the tokens spent up to then.
    async with open_engine(settings, admin=load_admin({})) as engine:
        turns = 0
        while len(answering(fake_openai)) == len(fake_openai.requests):
            await say(engine, turns, "Dry", key=OTHER)
            turns += 1
    reached = await tokens_of("U-Dry", database)
    fake_openai.requests.clear()
    config = load_admin({"THREADBOT_USER_DAILY_TOKENS": str(reached)})
    sinks = [RecordingSink() for _ in range(turns)]
    with caplog.at_level(logging.WARNING):
        async with open_engine(settings, admin=config) as engine:
            for i, sink in enumerate(sinks):
                await say(engine, i, "Ada", sink=sink)
    refusals = [r.getMessage() for r in caplog.records if "compaction" in r.getMessage()]
    assert all(s.final == "Noted." for s in sinks)  # the last reply too: it was admitted
    assert len(fake_openai.requests) == turns  # the compaction after it was not made
    assert len(refusals) == 1 and "compaction refused" in refusals[0]
    assert "daily token limit" in refusals[0] and "\n" not in refusals[0]
    assert fake_openai.requests[-1].json["messages"][0]["content"] == settings.system_prompt
    store = await open_store(database)
    try:
        thread = await store.get_thread(KEY)
        assert thread is not None and await store.rolling_summary(thread) is None
    finally:
        await store.close()


async def tokens_of(user: str, database: str) -> int:
    """The tokens of ``user``'s replies today (the summariser's call left out)."""
    store = await open_store(database)
    try:
        spender = Spender("slack", OTHER.scope, OTHER.channel, user)
        rows = await store.usage(utcnow().replace(hour=0, minute=0), UsageBy.MODEL,
                                 within=(Subject.USER, spender))
    finally:
        await store.close()
    return sum(r.tokens for r in rows if r.key != SUMMARISER)


async def test_a_compaction_over_the_users_quota_is_refused_before_any_call(
    tmp_path: Path, database: str, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.reply_with(summariser)
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             context_tokens=CONTEXT, max_output_tokens=OUTPUT)
    store = await open_store(database)
    provider = make_provider(settings)
    try:
        history = make_histories(settings, store, provider).default
        thread = await store.ensure_thread(KEY, history.name)
        for i in range(200):
            text = f"message {i} about the weather and the lunch menu"
            await store.add(thread, NewMessage(role="user", content=text,
                                               tokens=history.count(text), author_name="Ada"))
        meter = await meter_for(settings, store, thread, history.count,
                                THREADBOT_USER_DAILY_TOKENS="100")
        earlier = Request(model=settings.model_name, system="", messages=(), max_output_tokens=10)
        assert await meter.admit(earlier) is None  # a reply that used the day's tokens
        await meter.spent(earlier, Completion(text="ok", model=settings.model_name,
                                              usage=Usage(100, 10)), "ok")
        with caplog.at_level(logging.WARNING):
            await history.compact(thread, meter.again())
        summary = await store.rolling_summary(thread)
        charged = await store.usage(utcnow().replace(hour=0, minute=0), UsageBy.USER)
    finally:
        await provider.aclose()
        await store.close()
    assert fake_openai.requests == [] and summary is None
    assert [(r.calls, r.tokens) for r in charged] == [(1, 110)]  # the reply's row only
    [line] = [r.getMessage() for r in caplog.records if "compaction" in r.getMessage()]
    assert "compaction refused" in line and "daily token limit (100 tokens)" in line
