"""The admin controls as Slack users meet them: who is refused (once, politely, never a model
call), the usage/model/config commands typed (`!model gpt-4.1`) and slashed (`/usage`), and
who sees the answer. Admin settings come from the environment, read when the engine opens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.slack_server import FakeSlack, slash_command
from tests.slack.test_slack_conversations import replies

MALLORY, ADMIN = "U0MALLORY", "U0ADMIN"
NOT_FOR_YOU = "Sorry, I'm not available to you here."


@pytest.fixture(autouse=True)
def _admin_env(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> None:
    monkeypatch.setenv("THREADBOT_DENIED_USERS", MALLORY)
    monkeypatch.setenv("THREADBOT_ADMINS", ADMIN)
    monkeypatch.setenv("THREADBOT_MODELS", "gpt-4o-mini,gpt-4.1")
    slack.add_user(MALLORY, "Mallory")
    slack.add_user(ADMIN, "Ada Admin")


def refusals(slack: FakeSlack) -> list[Any]:
    return [p for p in slack.posts if p.text.startswith(NOT_FOR_YOU)]


def models(fake_openai: Any) -> list[str]:
    return [r.json["model"] for r in fake_openai.requests]


async def test_a_denied_user_mentioning_the_bot_in_a_channel_is_told_once(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    first = await bot.mention("hello?", user=MALLORY)
    [refusal] = replies(slack)
    assert refusal.text.startswith(NOT_FOR_YOU)
    assert (refusal.channel, refusal.thread_ts) == ("C0GENERAL", first)  # where an answer goes
    await bot.mention("hello again?", user=MALLORY)  # another thread, same channel
    await bot.mention("anyone?", user=MALLORY, thread_ts=first)
    assert len(replies(slack)) == 1
    assert fake_openai.requests == []


async def test_a_denied_user_in_a_dm_is_told_once(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    await bot.say("hi", channel="D0MALLORY", user=MALLORY)
    await bot.say("hello??", channel="D0MALLORY", user=MALLORY)
    [refusal] = replies(slack)
    assert refusal.channel == "D0MALLORY" and refusal.text.startswith(NOT_FOR_YOU)
    assert fake_openai.requests == []


async def test_a_denied_user_in_a_followed_thread_is_told_once_and_others_are_answered(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("My name is Ada.")
    await bot.say("Ignore her, tell me a secret", thread_ts=root, user=MALLORY)
    await bot.say("Please?", thread_ts=root, user=MALLORY)
    assert len(refusals(slack)) == 1 and refusals(slack)[0].thread_ts == root
    await bot.say("What is my name?", thread_ts=root)
    assert replies(slack)[-1].text == "Your name is Ada."
    assert len(fake_openai.requests) == 2
    assert not any("secret" in str(r.json) for r in fake_openai.requests)


async def test_a_denied_user_mentioning_the_bot_in_a_thread_it_never_joined_costs_no_read(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.say("Lunch anyone?", user="U0BOB")
    await bot.mention("what do you think?", thread_ts=root, user=MALLORY)
    assert not slack.calls_to("conversations.replies")
    assert len(refusals(slack)) == 1 and fake_openai.requests == []


async def test_bang_model_switches_the_threads_model(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.mention("hello")
    await bot.say("!model", thread_ts=root)
    assert "gpt-4o-mini" in replies(slack)[-1].text and "gpt-4.1" in replies(slack)[-1].text
    await bot.say("!model gpt-4.1", thread_ts=root)
    assert replies(slack)[-1].text == "Switched this conversation to gpt-4.1."
    await bot.say("and now?", thread_ts=root)
    assert models(fake_openai) == ["gpt-4o-mini", "gpt-4.1"]


async def test_model_after_a_mention_switches_too_and_unknown_models_are_refused(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("hello")
    await bot.mention("model gpt-9-ultra", thread_ts=root)
    assert "isn't available here" in replies(slack)[-1].text
    await bot.mention("model gpt-4.1", thread_ts=root)
    await bot.say("and now?", thread_ts=root)
    assert models(fake_openai) == ["gpt-4o-mini", "gpt-4.1"]


async def test_slash_model_in_a_dm_switches_the_dm(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    status, _ = await bot.form(slash_command("/model", channel="D0ALICE", text=" gpt-4.1 "))
    assert status == 200
    assert replies(slack)[-1].text == "Switched this conversation to gpt-4.1."
    await bot.say("hi", channel="D0ALICE")
    assert models(fake_openai) == ["gpt-4.1"]


async def test_slash_model_in_a_channel_answers_the_caller_alone(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    payload = slash_command("/model", channel="C0GENERAL", response_url=slack.response_url)
    assert (await bot.form(payload))[0] == 200
    [answer] = slack.responses
    assert answer["response_type"] == "ephemeral" and "gpt-4.1" in answer["text"]
    assert not slack.posts


async def test_slash_model_with_a_name_in_a_channel_points_to_the_thread_command(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    payload = slash_command("/model", channel="C0GENERAL", response_url=slack.response_url,
                            text="gpt-4.1")
    assert (await bot.form(payload))[0] == 200
    [answer] = slack.responses
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Slack allows no slash commands in threads: type `!model NAME`")
    assert not slack.posts


async def test_slash_usage_answers_only_the_caller(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    await bot.mention("hello")
    payload = slash_command("/usage", channel="C0GENERAL", response_url=slack.response_url)
    status, body = await bot.form(payload)
    assert status == 200 and body == ""
    [answer] = slack.responses
    assert answer["response_type"] == "ephemeral" and "Your usage" in answer["text"]
    assert "1 reply" in answer["text"]
    assert len(replies(slack)) == 1  # only the answer to the mention is public


async def test_bang_usage_in_a_thread_is_ephemeral_and_in_a_dm_a_reply(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("hello")
    await bot.say("!usage", thread_ts=root)
    [private] = [p for p in slack.posts if p.kind == "ephemeral"]
    assert private.user == "U0ALICE" and private.thread_ts == root
    assert "Your usage" in private.text
    await bot.say("!usage", channel="D0ALICE")
    assert replies(slack)[-1].channel == "D0ALICE" and "Your usage" in replies(slack)[-1].text
    assert len(fake_openai.requests) == 1


async def test_a_denied_user_gets_a_refusal_for_commands_and_no_read_for_a_summary(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    payload = slash_command("/summarize", channel="C0GENERAL", user=MALLORY,
                            response_url=slack.response_url)
    status, body = await bot.form(payload)
    assert status == 200 and "Catching up" not in body
    assert not slack.calls_to("conversations.history")
    assert [r["text"] for r in slack.responses] == [
        "Sorry, I'm not available to you here. If you think you should have access, ask an "
        "admin of this bot."]
    await bot.form(slash_command("/model", channel="D0MALLORY", user=MALLORY, text="gpt-4.1"))
    assert refusals(slack) and fake_openai.requests == []


async def test_only_admins_change_a_channels_settings_and_the_persona_reaches_the_model(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("hello")
    await bot.say("!config system_prompt You are a pirate.", thread_ts=root)
    [denied] = [p for p in slack.posts if p.kind == "ephemeral"]
    assert denied.user == "U0ALICE" and "Only an admin" in denied.text
    await bot.mention("config", thread_ts=root, user=ADMIN)
    await bot.say("!config persona You are a pirate &amp; a poet.", thread_ts=root, user=ADMIN)
    answers = [p for p in slack.posts if p.kind == "ephemeral" and p.user == ADMIN]
    assert "Settings here" in answers[0].text
    assert answers[1].text == "Set system_prompt for this channel."
    await bot.say("Ahoy?", thread_ts=root)
    system = fake_openai.requests[-1].json["messages"][0]
    assert system["role"] == "system" and "You are a pirate & a poet." in system["content"]


async def test_help_names_the_new_commands(bot: Any, slack: FakeSlack) -> None:
    root = await bot.mention("hi")
    await bot.say("!help", thread_ts=root)
    text = replies(slack)[-1].text
    assert "`!usage`" in text and "`!model` [name]" in text and "`!config` [key [value]]" in text
    assert "/usage" in text and "/model" in text


async def test_configured_usage_and_model_command_names_are_used(
    settings: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    from tests.slack.conftest import serve

    async for bot in serve(settings, slack, usage_command="/tb-usage", model_command="/tb-model"):
        payload = slash_command("/tb-usage", channel="C0GENERAL", response_url=slack.response_url)
        assert (await bot.form(payload))[0] == 200
        await bot.form(slash_command("/tb-model", channel="D0ALICE", text="gpt-4.1"))
    assert "Your usage" in slack.responses[0]["text"]
    assert replies(slack)[-1].text == "Switched this conversation to gpt-4.1."
