"""Commands as Slack allows them: !text commands in threads (and after a mention), slash
commands in DMs and channels, message shortcuts — all acknowledged at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.fakes.slack_server import FakeSlack, message_event, message_shortcut, slash_command
from tests.slack.test_slack_conversations import replies, said


async def test_bang_reset_forgets_the_thread(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.mention("My name is Ada.")
    await bot.say("!reset", thread_ts=root)
    assert replies(slack)[-1].text.startswith("Conversation reset")
    assert replies(slack)[-1].thread_ts == root

    await bot.say("What is my name?", thread_ts=root)  # still followed, no mention needed
    assert said(fake_openai) == [("user", "What is my name?")]  # no old history
    assert replies(slack)[-1].text == "I don't know your name."


async def test_reset_after_a_mention_works_too(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.mention("My name is Ada.")
    await bot.mention("reset", thread_ts=root)
    await bot.say("What is my name?", thread_ts=root)
    assert said(fake_openai) == [("user", "What is my name?")]


async def test_help_lists_the_slack_ways_to_use_commands(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("hi")
    await bot.say("!help", thread_ts=root)
    text = replies(slack)[-1].text
    assert "!reset" in text and "Reset conversation" in text and "/summarize" in text
    assert len(fake_openai.requests) == 1  # help needs no model


async def long_reply_showing(bot: Any, slack: FakeSlack, fake_openai: Any) -> str:
    """A thread whose second reply (300 words, slowly) has begun to show; its root ts."""
    root: str = await bot.mention("hi")
    fake_openai.reply_with("word " * 300)
    fake_openai.delay = 0.01
    await bot.event(message_event("Tell me a story", ts=slack.next_ts(), thread_ts=root), settle=False)
    while not any(p.thread_ts == root and "word" in p.text for p in slack.posts):
        await asyncio.sleep(0.01)
    return root


async def test_bang_stop_ends_a_long_reply_and_keeps_what_was_written(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await long_reply_showing(bot, slack, fake_openai)
    await bot.say("!stop", thread_ts=root)

    texts = [p.text for p in replies(slack)]
    story = next(t for t in texts if "word" in t)
    assert story.endswith("_(stopped)_") and story.count("word") < 300
    assert "Stopped." in texts


async def test_slash_reset_in_a_dm_resets_the_dm(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    await bot.say("My name is Ada.", channel="D0ALICE")
    started = time.monotonic()
    status, _ = await bot.form(slash_command("/reset", channel="D0ALICE"), settle=False)
    assert status == 200 and time.monotonic() - started < 3
    await bot.bot.drain()
    assert replies(slack)[-1].text.startswith("Conversation reset")
    await bot.say("What is my name?", channel="D0ALICE")
    assert said(fake_openai) == [("user", "What is my name?")]


async def test_slash_reset_in_a_channel_explains_how_to_reset_a_thread(bot: Any, slack: FakeSlack) -> None:
    status, body = await bot.form(slash_command("/reset", channel="C0GENERAL"))
    assert status == 200
    assert "!reset" in body  # the ack text: an ephemeral reply to the caller only
    assert not replies(slack)


async def test_slash_summarize_in_a_dm_summarizes_the_dm(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    await bot.say("We picked Postgres for the new service.", channel="D0ALICE")
    status, _ = await bot.form(slash_command("/summarize", channel="D0ALICE"))
    assert status == 200
    summary = replies(slack)[-1]
    assert summary.channel == "D0ALICE" and summary.text.startswith("Summary:")
    assert "Postgres" in summary.text


async def test_slash_summarize_in_a_channel_is_a_private_catch_up(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.history["C0GENERAL"] = [  # newest first, as conversations.history returns them
        message_event("Agreed, Thursday it is.", ts=slack.next_ts(), user="U0BOB"),
        message_event("Can we move the demo to Thursday?", ts=slack.next_ts(), user="U0ALICE"),
    ]
    status, body = await bot.form(slash_command("/summarize", channel="C0GENERAL", user="U0BOB"))
    assert status == 200 and "Catching up" in body

    [summary] = [p for p in slack.posts if p.kind == "ephemeral"]
    assert summary.user == "U0BOB" and summary.channel == "C0GENERAL"
    prompt = said(fake_openai)[0][1]
    assert prompt.index("Alice: Can we move") < prompt.index("Bob: Agreed")  # oldest first
    assert not replies(slack)  # nothing public


async def test_configured_command_names_are_used(settings: Any, slack: FakeSlack) -> None:
    from tests.slack.conftest import serve

    async for bot in serve(settings, slack, reset_command="/tb-reset"):
        status, body = await bot.form(slash_command("/tb-reset", channel="C0GENERAL"))
        assert status == 200 and "!reset" in body


async def test_reset_shortcut_on_a_thread_message(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.mention("My name is Ada.")
    reply = replies(slack)[-1]
    message = {"type": "message", "ts": reply.ts, "thread_ts": root, "text": reply.text, "user": "U0BOT"}
    status, _ = await bot.form(message_shortcut("threadbot_reset", channel="C0GENERAL", message=message))
    assert status == 200
    assert replies(slack)[-1].text.startswith("Conversation reset")
    await bot.say("What is my name?", thread_ts=root)
    assert said(fake_openai) == [("user", "What is my name?")]


async def test_summarize_shortcut_on_a_thread_the_bot_never_joined(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = slack.next_ts()
    slack.threads[("C0GENERAL", root)] = [
        message_event("Incident: checkout is down.", ts=root, user="U0ALICE"),
        message_event("Rolled back, checkout is up.", ts=slack.next_ts(), user="U0BOB", thread_ts=root),
    ]
    message = {"type": "message", "ts": root, "text": "Incident: checkout is down.", "user": "U0ALICE"}
    status, _ = await bot.form(
        message_shortcut("threadbot_summarize", channel="C0GENERAL", message=message, user="U0BOB")
    )
    assert status == 200
    [summary] = [p for p in slack.posts if p.kind == "ephemeral"]
    assert summary.user == "U0BOB" and summary.thread_ts == root
    assert "Rolled back" in summary.text


async def test_slash_summarize_where_the_bot_is_not_a_member_says_how_to_fix_it(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.fail("conversations.history", "not_in_channel")
    payload = slash_command("/summarize", channel="C0RANDOM", response_url=slack.response_url)
    status, _ = await bot.form(payload)
    assert status == 200
    [answer] = slack.responses  # through the command's response_url: ephemeral, no membership needed
    assert "/invite" in answer["text"] and answer.get("response_type", "ephemeral") == "ephemeral"
    assert not fake_openai.requests and not slack.posts


async def test_bang_forget_deletes_your_messages_and_tells_only_you(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("My PIN is 4321")
    await bot.say("!forget", thread_ts=root)
    [private] = [p for p in slack.posts if p.kind == "ephemeral"]
    assert private.user == "U0ALICE" and private.thread_ts == root
    assert private.text.startswith("Deleted 1 message of yours")
    assert len(replies(slack)) == 1  # nothing public but the first answer

    await bot.say("What do you know?", thread_ts=root)  # still followed
    assert not any("4321" in text for role, text in said(fake_openai) if role == "user")


async def test_slash_forget_in_a_dm_forgets_there_and_in_a_channel_says_how(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    await bot.say("My PIN is 4321", channel="D0ALICE")
    payload = slash_command("/forget", channel="D0ALICE", response_url=slack.response_url)
    status, _ = await bot.form(payload)
    assert status == 200
    assert slack.responses[-1]["text"].startswith("Deleted 1 message of yours")
    await bot.say("And now?", channel="D0ALICE")
    assert [t for r, t in said(fake_openai) if r == "user"] == ["And now?"]

    payload = slash_command("/forget", channel="C0GENERAL", response_url=slack.response_url)
    await bot.form(payload)
    assert "`!forget`" in slack.responses[-1]["text"]
