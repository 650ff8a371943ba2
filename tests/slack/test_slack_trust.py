"""Slack: nothing acknowledged is lost, nothing is answered twice — through the real bolt
HTTP endpoint, the fake Slack Web API and a real SQLite file."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.fakes.slack_server import BOT_USER_ID, FakeSlack, message_event
from tests.slack.test_slack_conversations import replies


def stored(db: str, ts: str) -> list[tuple[str, int]]:
    """What another process would find on disk for platform message ``ts``."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT content, awaits_answer FROM messages WHERE platform_msg_id = ?", (ts,)
        ).fetchall()


async def test_a_message_is_stored_before_slack_gets_its_ack(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.delays["users.info"] = 0.3  # the name lookup before storing takes a while
    ts = slack.next_ts()
    status = await bot.event(
        message_event(f"<@{BOT_USER_ID}> remember me", ts=ts), settle=False
    )
    assert status == 200
    # The moment Slack has its ack, the message is on disk, waiting for its answer.
    assert stored(bot.settings.db, ts) == [("remember me", 1)]
    await bot.bot.drain()
    assert replies(slack)[-1].text == "You said: remember me"
    assert stored(bot.settings.db, ts) == [("remember me", 0)]  # answered


async def test_a_slow_name_lookup_does_not_hold_the_ack_past_the_deadline(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.delays["users.info"] = 5.0  # rate-limited or down
    ts = slack.next_ts()
    status = await bot.event(message_event(f"<@{BOT_USER_ID}> hi", ts=ts), settle=False)
    assert status == 200 and stored(bot.settings.db, ts) == [("hi", 1)]
    await bot.bot.drain()


async def test_a_redelivered_text_command_is_not_run_again(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("My name is Ada.")
    command = message_event("!reset", ts=slack.next_ts(), thread_ts=root)
    await bot.event(command)
    await bot.event(command, retry=1)  # Slack's retry of the same event
    resets = [p for p in replies(slack) if "reset" in p.text.lower()]
    assert len(resets) == 1


async def test_a_bare_mention_gets_the_hint_and_the_thread_is_followed(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("")
    assert "Send me a message" in replies(slack)[-1].text
    await bot.say("My name is Grace.", thread_ts=root)  # a follow-up, no mention
    assert replies(slack)[-1].text == "You said: My name is Grace."


async def test_after_a_crash_the_open_stream_is_closed_and_the_question_answered_once(
    settings: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.types import ThreadKey
    from tests.crash import left_by_a_crash
    from tests.fakes.slack_server import TEAM_ID
    from tests.slack.conftest import serve

    # The dead process stored the question, started streaming its answer, and was killed.
    root = slack.next_ts()
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)
    opened = await client.chat_startStream(channel="C0GENERAL", thread_ts=root,
                                           recipient_team_id=TEAM_ID, recipient_user_id="U0ALICE")
    await client.chat_appendStream(channel="C0GENERAL", ts=opened["ts"], markdown_text="Half an")
    await left_by_a_crash(settings.db, ThreadKey("slack", TEAM_ID, "C0GENERAL", root),
                          ["My name is Ada."], author_id="U0ALICE", author_name="Alice",
                          message_ids=[root], refs=[f"stream:{opened['ts']}"])

    async for bot in serve(settings, slack):  # the new process
        await bot.bot.resume()
        await slack.wait_for("chat.stopStream", count=2)
        await bot.bot.resume()  # a second look finds nothing left to do
    [cut, answer] = [p for p in slack.posts if p.thread_ts == root]
    assert cut.text.startswith("Half an") and "answering again" in cut.text and not cut.open
    assert answer.text == "You said: My name is Ada." and not answer.open
    assert len(fake_openai.requests) == 1


async def test_a_stream_opened_just_before_a_crash_is_found_and_closed(
    settings: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    """The crash came after Slack opened the stream but before the bot recorded its ts: the
    reply only recorded when it began, and the stream is found in the thread."""
    import time

    from slack_sdk.web.async_client import AsyncWebClient

    from bot.types import ThreadKey
    from tests.crash import left_by_a_crash
    from tests.fakes.slack_server import TEAM_ID
    from tests.slack.conftest import serve

    root = slack.next_ts()
    began = f"{time.time() - 1:.6f}"
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)
    opened = await client.chat_startStream(channel="C0GENERAL", thread_ts=root,
                                           recipient_team_id=TEAM_ID, recipient_user_id="U0ALICE")
    await client.chat_appendStream(channel="C0GENERAL", ts=opened["ts"], markdown_text="A")
    await left_by_a_crash(settings.db, ThreadKey("slack", TEAM_ID, "C0GENERAL", root),
                          ["hello?"], author_id="U0ALICE", author_name="Alice",
                          message_ids=[root], refs=[f"streams-after:{began}"])  # no stream ts

    async for bot in serve(settings, slack):
        await bot.bot.resume()
        await slack.wait_for("chat.stopStream", count=2)
    [cut, answer] = [p for p in slack.posts if p.thread_ts == root]
    assert cut.text.startswith("A") and "answering again" in cut.text and not cut.open
    assert answer.text == "You said: hello?" and not answer.open
