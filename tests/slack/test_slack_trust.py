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
