"""Conversations as a Slack user has them: mentions, follow-ups, joined threads, DMs,
several people, duplicates, what the bot ignores, and a restart mid-thread."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from tests.fakes.slack_server import BOT_ID, BOT_USER_ID, FakeSlack, message_event
from tests.slack.conftest import serve

REPLY_METHODS = ("chat.postMessage", "chat.startStream", "chat.update", "chat.postEphemeral")


def said(fake_openai: Any, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of what a model request carried, system prompt aside."""
    messages = fake_openai.requests[index].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


def replies(slack: FakeSlack) -> list[Any]:
    return [p for p in slack.posts if p.kind != "ephemeral"]


async def test_mention_is_answered_in_a_thread_under_it(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    fake_openai.reply_with("Paris is the capital of France.")
    ts = await bot.mention("What is the capital of France?")

    [reply] = replies(slack)
    assert (reply.channel, reply.thread_ts) == ("C0GENERAL", ts)
    assert reply.text == "Paris is the capital of France."
    assert not reply.open  # the stream was finished
    assert said(fake_openai) == [("user", "What is the capital of France?")]  # mention stripped


async def test_follow_up_in_the_thread_needs_no_mention(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.mention("My name is Ada.")
    await bot.say("What is my name?", thread_ts=root)

    assert [p.text for p in replies(slack)][-1] == "Your name is Ada."
    assert all(p.thread_ts == root for p in replies(slack))
    assert len(fake_openai.requests) == 2


async def test_with_follow_threads_off_a_follow_up_is_context_until_mentioned(
    settings: Settings, fake_openai: Any, slack: FakeSlack
) -> None:
    async for bot in serve(settings, slack, follow_threads=False):
        root = await bot.mention("Hello")
        await bot.say("My name is Grace.", thread_ts=root)
        assert len(fake_openai.requests) == 1  # not answered...
        await bot.mention("What is my name?", thread_ts=root)
        assert replies(slack)[-1].text == "Your name is Grace."  # ...but remembered


async def test_a_thread_the_bot_is_not_in_is_left_alone(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    root = await bot.say("Lunch anyone?")
    await bot.say("Sure, 12:30", thread_ts=root, user="U0BOB")

    assert not slack.calls_to(*REPLY_METHODS, "conversations.replies")
    assert not fake_openai.requests


async def test_mention_in_a_human_thread_reads_its_earlier_messages_once(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = slack.next_ts()
    earlier = [
        message_event("We ship the release on Friday.", ts=root, user="U0ALICE"),
        message_event(
            "The blocker is the flaky login test.", ts=slack.next_ts(), user="U0BOB", thread_ts=root
        ),
    ]
    slack.threads[("C0GENERAL", root)] = earlier
    await bot.mention("What is blocking the release?", thread_ts=root, user="U0BOB")
    await bot.say("Thanks!", thread_ts=root, user="U0ALICE")

    [read] = slack.calls_to("conversations.replies")  # once, bounded
    assert read["ts"] == root and int(read["limit"]) <= 200
    first = said(fake_openai, 0)
    text = "\n".join(content for _, content in first)
    assert "Alice: We ship the release on Friday." in text
    assert "Bob: The blocker is the flaky login test." in text
    assert "Bob: What is blocking the release?" in text
    assert len(fake_openai.requests) == 2  # the follow-up was answered without a re-read


async def test_dm_messages_are_one_conversation_and_a_dm_thread_is_its_own(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    await bot.say("My name is Linus.", channel="D0ALICE")
    await bot.say("What is my name?", channel="D0ALICE")
    top = replies(slack)
    assert [p.thread_ts for p in top] == ["", ""]  # answered in the DM itself
    assert top[-1].text == "Your name is Linus."

    root = top[0].ts
    await bot.say("What is my name?", channel="D0ALICE", thread_ts=root)
    in_thread = replies(slack)[-1]
    assert in_thread.thread_ts == root
    assert in_thread.text == "I don't know your name."  # a fresh conversation


async def test_each_person_in_a_thread_is_named_and_looked_up_once(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("My name is Ada.", user="U0ALICE")
    await bot.say("I'm here too.", thread_ts=root, user="U0BOB")
    await bot.say("Welcome Bob <@U0BOB>", thread_ts=root, user="U0ALICE")

    last = "\n".join(content for role, content in said(fake_openai) if role == "user")
    assert "Bob: I'm here too." in last
    assert "Alice: Welcome Bob @Bob" in last
    looked_up = [c["user"] for c in slack.calls_to("users.info")]
    assert sorted(looked_up) == ["U0ALICE", "U0BOB"]


async def test_retries_and_mention_doubles_are_answered_once(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    ts = slack.next_ts()
    event = message_event(f"<@{BOT_USER_ID}> hi", ts=ts)
    mention = message_event(f"<@{BOT_USER_ID}> hi", ts=ts, kind="app_mention")
    assert await bot.event(mention) == 200
    assert await bot.event(event) == 200
    assert await bot.event(mention, retry=1) == 200
    assert await bot.event(mention, retry=2) == 200

    assert len(fake_openai.requests) == 1
    assert len(replies(slack)) == 1


async def test_own_messages_other_bots_and_edits_are_ignored(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("Hello")
    before = len(slack.calls)
    await bot.say("I am the bot", thread_ts=root, user=BOT_USER_ID, bot_id=BOT_ID)
    await bot.say("beep", thread_ts=root, user="U0OTHERBOT", bot_id="B0OTHER", subtype="bot_message")
    changed = message_event(
        "",
        ts=slack.next_ts(),
        thread_ts=root,
        subtype="message_changed",
        message={"text": "edited", "ts": root, "user": "U0ALICE"},
    )
    changed.pop("user")
    await bot.event(changed)
    await bot.say("joined", thread_ts=root, subtype="channel_join")

    assert slack.calls[before:] == []  # not a single Web API call
    assert len(fake_openai.requests) == 1


async def test_other_bots_are_answered_when_allowed(
    settings: Settings, fake_openai: Any, slack: FakeSlack
) -> None:
    async for bot in serve(settings, slack, allow_bots=True):
        await bot.say(f"<@{BOT_USER_ID}> status?", user="U0OTHERBOT", bot_id="B0OTHER", username="CI bot")
        assert len(fake_openai.requests) == 1
        assert said(fake_openai) == [("user", "status?")]


async def test_a_restart_mid_thread_continues_it_and_ignores_redeliveries(
    settings: Settings, fake_openai: Any, slack: FakeSlack
) -> None:
    async for bot in serve(settings, slack):
        root = await bot.mention("My name is Ada.")
    async for bot in serve(settings, slack):  # a new process on the same database
        await bot.event(message_event(f"<@{BOT_USER_ID}> My name is Ada.", ts=root), retry=1)
        assert len(fake_openai.requests) == 1  # the redelivery was not answered again
        await bot.say("What is my name?", thread_ts=root)  # a follow-up, no mention
    assert replies(slack)[-1].text == "Your name is Ada."
    assert replies(slack)[-1].thread_ts == root
