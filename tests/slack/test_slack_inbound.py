"""What the model learns from Slack messages, end to end through bolt: files that were
shared, pasted code as it was pasted, and the newest part of a long thread it joins."""

from __future__ import annotations

from typing import Any

import pytest

from bot.types import ThreadKey
from storage import open_store
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack, message_event
from tests.pasted_code import FENCED, SNIPPET
from tests.slack.test_slack_conversations import replies, said

EMPTY_HINT = "Send me a message with some text"


def prompt(fake_openai: Any, index: int = -1) -> str:
    return "\n".join(content for role, content in said(fake_openai, index) if role == "user")


def a_file(name: str, **extra: Any) -> dict[str, Any]:
    return {"id": "F0" + name.upper().replace(".", ""), "name": name, "title": name,
            "mimetype": "application/octet-stream", **extra}


async def stored(bot: Any, key: ThreadKey) -> list[str]:
    store = await open_store(bot.settings.db)
    try:
        return [m.content for _, m in await store.history(key)]
    finally:
        await store.close()


async def test_a_file_shared_in_a_followed_thread_is_named_to_the_model(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await bot.mention("I'll send the report.")
    await bot.say("", thread_ts=root, subtype="file_share", files=[a_file("q3-report.pdf")])
    await bot.say("and these", thread_ts=root, files=[a_file("chart.png"), a_file("data.csv")])

    assert not any(EMPTY_HINT in p.text for p in replies(slack))
    assert len(fake_openai.requests) == 3
    assert "[attachment: q3-report.pdf]" in prompt(fake_openai, 1)
    assert "and these\n[attachment: chart.png]\n[attachment: data.csv]" in prompt(fake_openai, 2)


async def test_files_in_a_joined_threads_history_are_named_too(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = slack.next_ts()
    slack.threads[("C0GENERAL", root)] = [
        message_event("Budget for next year", ts=root),
        message_event("", ts=slack.next_ts(), thread_ts=root, user="U0BOB", subtype="file_share",
                      files=[a_file("budget.xlsx"), {"id": "F0GONE", "mode": "tombstone"}]),
    ]
    await bot.mention("What did Bob share?", thread_ts=root, user="U0ALICE")
    assert "Bob: [attachment: budget.xlsx]" in prompt(fake_openai)
    assert "F0GONE" not in prompt(fake_openai)


async def test_pasted_code_reaches_the_model_as_pasted(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    await bot.mention(f"why does this fail?\n{FENCED}\n{SNIPPET}")
    assert said(fake_openai) == [("user", f"why does this fail?\n{FENCED}\n{SNIPPET}")]


async def test_joining_a_long_thread_reads_its_newest_messages(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = slack.next_ts()
    thread = [message_event("m0000 the thread starts", ts=root, user="U0BOB")]
    thread += [message_event(f"m{i:04d}", ts=slack.next_ts(), thread_ts=root,
                             user=("U0ALICE", "U0BOB")[i % 2]) for i in range(1, 998)]
    mention = slack.next_ts()
    thread.append(message_event(f"<@{BOT_USER_ID}> what was decided?", ts=mention, thread_ts=root))
    thread.append(message_event("a reply after the mention", ts=slack.next_ts(), thread_ts=root))
    slack.threads[("C0GENERAL", root)] = thread

    await bot.mention("what was decided?", ts=mention, thread_ts=root)

    reads = slack.calls_to("conversations.replies")
    assert all(int(r["limit"]) <= 200 for r in reads)
    assert len(reads) == 5  # 999 messages up to the mention, 200 a page; none after
    assert [bool(r.get("cursor")) for r in reads] == [False, True, True, True, True]
    context = await stored(bot, ThreadKey("slack", "T0TEAM", "C0GENERAL", root))
    assert context[:100] == [f"m{i:04d}" for i in range(898, 998)]  # the newest 100, in order
    assert context[100] == "what was decided?"
    assert "m0997" in prompt(fake_openai) and "m0897" not in prompt(fake_openai)
    assert "a reply after the mention" not in prompt(fake_openai)


async def test_reading_a_huge_thread_is_bounded(
    bot: Any, slack: FakeSlack, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    root = slack.next_ts()
    slack.threads[("C0GENERAL", root)] = [
        message_event(f"m{i:05d}", ts=root if i == 0 else slack.next_ts(), thread_ts=root)
        for i in range(10_500)
    ]
    await bot.mention("catch me up", thread_ts=root)

    assert len(slack.calls_to("conversations.replies")) == 50  # 10,000 messages, then it stops
    assert "longer than 10000 messages" in caplog.text
    assert len(replies(slack)) == 1  # and the mention is still answered
