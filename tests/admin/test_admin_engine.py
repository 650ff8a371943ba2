"""The admin controls through the engine, the real OpenAI SDK and the loopback fake: who is
refused, quotas by tokens, rate and spend (across a restart, under concurrency, on both
stores), per-place model and prompt, the model and config commands, and reloads."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.admin.access import NOT_FOR_YOU
from bot.admin.chat import ADMINS_ONLY
from bot.admin.config import AdminConfig, load_admin
from bot.admin.ledger import UsageBy
from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine
from bot.types import Command, CommandName, Origin, ThreadKey, Turn, utcnow
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink

_ids = itertools.count(1)
KEY = ThreadKey("slack", "T1", "C1", "100.1")


def turn(text: str, user: str = "U1", key: ThreadKey = KEY, origin: Origin | None = None) -> Turn:
    return Turn(key=key, message_id=f"m{next(_ids)}", author_id=user, author_name=user,
                text=text, origin=origin or Origin())


async def ask(engine: Engine, text: str, **kw: Any) -> RecordingSink:
    sink = RecordingSink()
    await engine.handle(turn(text, **kw), sink)
    return sink


async def command(engine: Engine, name: CommandName, argument: str = "", user: str = "U1",
                  key: ThreadKey = KEY) -> str | None:
    sink = RecordingSink()
    await engine.command(Command(key=key, name=name, author_id=user, argument=argument,
                                 message_id=f"c{next(_ids)}"), sink)
    return sink.final


def admin(tmp_path: Path, toml: str = "", **env: str) -> AdminConfig:
    if toml:
        (tmp_path / "threadbot.toml").write_text(toml)
        env["THREADBOT_CONFIG"] = str(tmp_path / "threadbot.toml")
    return load_admin(env)


@asynccontextmanager
async def bot(settings: Settings, config: AdminConfig) -> AsyncIterator[Engine]:
    async with open_engine(settings, admin=config) as engine:
        yield engine


def calls(fake: Any) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


# --- who may use it ---
async def test_a_denied_user_gets_one_polite_message_per_conversation_and_no_model_call(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    async with bot(settings, admin(tmp_path, THREADBOT_DENIED_USERS="U6")) as engine:
        first = await ask(engine, "hello", user="U6")
        second = await ask(engine, "hello again", user="U6")
        elsewhere = await ask(engine, "hi", user="U6", key=ThreadKey("slack", "T1", "D9", ""))
        allowed = await ask(engine, "hello", user="U1")
    assert first.final == NOT_FOR_YOU and not first.started
    assert second.final is None and not second.used  # told once per conversation
    assert elsewhere.final == NOT_FOR_YOU
    assert allowed.final == "You said: hello"
    assert calls(fake_openai) == 1  # only the allowed user's
    store = await open_store(settings.db)
    try:
        said = [m.content for _, m in await store.history(KEY)]
        assert "hello again" not in said and "hello" in said  # nothing of theirs is kept
    finally:
        await store.close()


async def test_allowed_lists_let_only_those_in(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    config = admin(tmp_path, '[defaults]\nallowed_users = ["U1"]\nallowed_roles = ["R1"]\n')
    async with bot(settings, config) as engine:
        assert (await ask(engine, "hi", user="U2")).final == NOT_FOR_YOU
        role = await ask(engine, "hi", user="U3", origin=Origin(roles=("R1",)))
        assert role.final == "You said: hi"
        assert (await command(engine, CommandName.SUMMARIZE, user="U2")) == NOT_FOR_YOU
    assert calls(fake_openai) == 1


# --- quotas ---
async def test_a_token_quota_stops_model_calls_keeps_the_message_and_holds_after_a_restart(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    config = admin(tmp_path, THREADBOT_USER_DAILY_TOKENS="30")
    async with bot(settings, config) as engine:
        first = await ask(engine, "one two three four five six seven eight nine ten eleven")
        assert first.final and first.final.startswith("You said")
        refused = await ask(engine, "are you still there")
        assert refused.final is not None
        assert "daily token limit (30 tokens)" in refused.final and "00:00 UTC" in refused.final
        assert calls(fake_openai) == 1
        other = ThreadKey("slack", "T1", "C1", "9.0")
        assert (await ask(engine, "hello", user="U2", key=other)).final == "You said: hello"
    async with bot(settings, config) as engine:  # a restart
        again = await ask(engine, "and now")
        assert again.final is not None and "daily token limit" in again.final
    assert calls(fake_openai) == 2
    store = await open_store(settings.db)
    try:
        said = [m.content for _, m in await store.history(KEY) if m.role == "user"]
        assert "are you still there" in said and "and now" in said  # kept, not answered
    finally:
        await store.close()


async def test_a_rate_limit_counts_replies_per_minute(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    async with bot(settings, admin(tmp_path, THREADBOT_USER_MESSAGES_PER_MINUTE="2")) as engine:
        answers = [await ask(engine, f"message {i}") for i in range(3)]
    assert [a.final for a in answers[:2]] == ["You said: message 0", "You said: message 1"]
    assert answers[2].final == (
        "You've reached your limit of 2 messages a minute. Please try again in a minute.")
    assert calls(fake_openai) == 2


async def test_twenty_concurrent_turns_by_one_user_pass_a_limit_by_at_most_one_reply(
    database: str, fake_openai: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)
    limit = 60
    async with bot(settings, admin(tmp_path, THREADBOT_USER_DAILY_TOKENS=str(limit))) as engine:
        keys = [ThreadKey("slack", "T1", "C1", f"{i}.0") for i in range(20)]
        sinks = await asyncio.gather(*(ask(engine, "please say something useful", key=k)
                                       for k in keys))
    answered = [s for s in sinks if s.final and s.final.startswith("You said")]
    refused = [s for s in sinks if s.final and "limit" in s.final]
    assert len(answered) + len(refused) == 20 and answered and refused
    assert calls(fake_openai) == len(answered)
    store = await open_store(database)
    try:
        (row,) = await store.usage(utcnow().replace(hour=0, minute=0), UsageBy.USER)
    finally:
        await store.close()
    per_reply = row.tokens / row.calls
    assert row.tokens - limit <= per_reply  # overshoot: at most one reply


async def test_the_monthly_spend_cap_stops_every_call_and_tells_the_admin(
    settings: Settings, fake_openai: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = admin(tmp_path, THREADBOT_MONTHLY_SPEND_CAP="0.000001")  # gpt-4o-mini is priced
    async with bot(settings, config) as engine:
        assert (await ask(engine, "hello")).final == "You said: hello"
        with caplog.at_level(logging.ERROR, logger="threadbot"):
            capped = await ask(engine, "hello", user="U2")
    assert capped.final is not None and "monthly spending cap" in capped.final
    assert any("monthly spend cap" in r.getMessage() for r in caplog.records)
    assert calls(fake_openai) == 1


# --- per place ---
async def test_a_channels_model_and_persona_are_what_the_provider_gets(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    config = admin(tmp_path, '[channels.C1]\nmodel = "gpt-4.1"\nsystem_prompt = "You are a pirate."\n'
                             'max_output_tokens = 77\n')
    async with bot(settings, config) as engine:
        await ask(engine, "hello")
        await ask(engine, "hello", key=ThreadKey("slack", "T1", "C2", "1.0"))
    support, other = (r.json for r in fake_openai.requests)
    assert (support["model"], support["messages"][0]["content"]) == ("gpt-4.1", "You are a pirate.")
    assert support["max_tokens"] == 77  # a local server: the classic parameter
    assert other["model"] == "gpt-4o-mini" and other["messages"][0]["content"] != "You are a pirate."


async def test_the_model_command_lists_and_switches_this_conversation(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    async with bot(settings, admin(tmp_path, THREADBOT_MODELS="gpt-4o-mini,gpt-4.1")) as engine:
        listed = await command(engine, CommandName.MODEL)
        assert listed == ("This conversation uses gpt-4o-mini. Models you can switch it to: "
                          "gpt-4o-mini, gpt-4.1.")
        refused = await command(engine, CommandName.MODEL, "gpt-9")
        assert refused is not None and refused.startswith("gpt-9 isn't available here")
        assert await command(engine, CommandName.MODEL, "gpt-4.1") == "Switched this conversation to gpt-4.1."
        await ask(engine, "hello")
        await ask(engine, "hello", key=ThreadKey("slack", "T1", "C1", "2.0"))
    assert [r.json["model"] for r in fake_openai.requests] == ["gpt-4.1", "gpt-4o-mini"]


async def test_config_is_for_admins_and_sets_the_channel(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    async with bot(settings, admin(tmp_path, THREADBOT_ADMINS="A1")) as engine:
        assert await command(engine, CommandName.CONFIG, "model gpt-4.1", user="U1") == ADMINS_ONLY
        assert await command(engine, CommandName.CONFIG, "model gpt-4.1", user="A1") == (
            "Set model for this channel.")
        shown = await command(engine, CommandName.CONFIG, user="A1")
        assert shown is not None and "model = gpt-4.1  (set from chat by A1" in shown
        await ask(engine, "hello", key=ThreadKey("slack", "T1", "C1", "5.0"))
        assert await command(engine, CommandName.CONFIG, "model", user="A1") == (
            "Cleared model for this channel: the configuration's value applies again.")
        await ask(engine, "hello", key=ThreadKey("slack", "T1", "C1", "6.0"))
    assert [r.json["model"] for r in fake_openai.requests] == ["gpt-4.1", "gpt-4o-mini"]


async def test_a_reload_mid_reply_keeps_that_reply_and_applies_to_the_next(
    settings: Settings, fake_openai: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "threadbot.toml"
    path.write_text('[defaults]\nsystem_prompt = "Old persona."\n')
    monkeypatch.setenv("THREADBOT_CONFIG", str(path))
    fake_openai.delay = 0.5
    async with bot(settings, load_admin()) as engine:
        running = asyncio.create_task(ask(engine, "hello"))
        while not fake_openai.requests:
            await asyncio.sleep(0.01)
        path.write_text('[defaults]\nsystem_prompt = "New persona."\n')
        assert engine.gate.reload()
        first = await running
        path.write_text("[defaults\n")  # broken: the one in use stays
        assert not engine.gate.reload()
        await ask(engine, "hello", key=ThreadKey("slack", "T1", "C1", "7.0"))
    assert first.final == "You said: hello"
    assert [r.json["messages"][0]["content"] for r in fake_openai.requests] == [
        "Old persona.", "New persona."]


async def test_a_model_switch_in_chain_mode_rebuilds_the_context_by_replay(
    fake_openai: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             provider="openai-responses", history="chain")
    async with bot(settings, admin(tmp_path, THREADBOT_MODELS="gpt-4o-mini,gpt-4.1")) as engine:
        await ask(engine, "My name is Ada")
        await ask(engine, "hello")
        assert await command(engine, CommandName.MODEL, "gpt-4.1") == "Switched this conversation to gpt-4.1."
        after = await ask(engine, "What is my name?")
        await ask(engine, "thanks")
    first, chained, switched, rechained = (r.json for r in fake_openai.requests)
    assert chained.get("previous_response_id") and chained["model"] == "gpt-4o-mini"
    assert switched["model"] == "gpt-4.1" and not switched.get("previous_response_id")
    assert after.final == "Your name is Ada."  # the whole conversation, replayed
    assert rechained["model"] == "gpt-4.1" and rechained.get("previous_response_id")


async def test_the_usage_footer_is_shown_but_never_stored(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    async with bot(settings, admin(tmp_path, THREADBOT_USAGE_FOOTER="true")) as engine:
        shown = await ask(engine, "hello")
        quiet = await ask(engine, "hello", key=ThreadKey("slack", "T1", "C2", "1.0"))
    assert shown.final is not None and shown.final.startswith("You said: hello\n\n_")
    assert shown.final.endswith("_") and " tokens · est. $" in shown.final
    assert quiet.final is not None and " tokens · est. $" in quiet.final  # everywhere
    store = await open_store(settings.db)
    try:
        replies = [m.content for _, m in await store.history(KEY) if m.role == "assistant"]
    finally:
        await store.close()
    assert replies == ["You said: hello"]


async def test_usage_shows_your_own_against_your_limits_and_admins_the_top_users(
    settings: Settings, fake_openai: Any, tmp_path: Path
) -> None:
    config = admin(tmp_path, THREADBOT_ADMINS="A1", THREADBOT_USER_DAILY_TOKENS="5000",
                   THREADBOT_MONTHLY_SPEND_CAP="20")
    async with bot(settings, config) as engine:
        await ask(engine, "hello from one", user="U1")
        await ask(engine, "hello from two with more words", user="U2",
                  key=ThreadKey("slack", "T1", "C2", "1.0"))
        mine = await command(engine, CommandName.USAGE, user="U1")
        theirs = await command(engine, CommandName.USAGE, user="A1")
    store = await open_store(settings.db)
    try:
        rows = {r.key: r for r in await store.usage(utcnow().replace(day=1, hour=0), UsageBy.USER)}
    finally:
        await store.close()
    assert mine is not None and theirs is not None
    assert f"Today: {rows['U1'].tokens:,} tokens in 1 reply" in mine
    assert "your limit: 5,000 tokens a day" in mine and "Top users" not in mine
    assert "Today: nothing yet" in theirs
    assert f"• U2: {rows['U2'].tokens:,} tokens, 1 reply" in theirs
    assert theirs.index("• U2") < theirs.index("• U1")  # most first
    assert "Top channels" in theirs and "• C1:" in theirs
    assert "of its $20.00 monthly spend cap" in theirs


async def test_a_channel_setting_made_on_one_replica_applies_on_another(
    database: str, fake_openai: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)
    config = admin(tmp_path, THREADBOT_ADMINS="A1")
    async with bot(settings, config) as a, bot(settings, config) as b:
        await ask(b, "hello", key=ThreadKey("slack", "T1", "C1", "1.0"))  # B knows C1: unset
        assert await command(a, CommandName.CONFIG, "model gpt-4.1", user="A1") == (
            "Set model for this channel.")
        await asyncio.sleep(2.5)  # every replica learns where settings changed every 2 s
        await ask(b, "hello", key=ThreadKey("slack", "T1", "C1", "2.0"))
    assert [r.json["model"] for r in fake_openai.requests] == ["gpt-4o-mini", "gpt-4.1"]
