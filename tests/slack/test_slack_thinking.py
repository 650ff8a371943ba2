"""A reasoning model on Slack: its thinking is never streamed nor posted; the thread's status
says "is thinking…" while it thinks, and again when it thinks after some text."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack_server import FakeSlack
from tests.slack.test_slack_conversations import replies

REPLY = "First part. <think>wait, let me check that again</think>\n\nSecond part."


async def test_thinking_is_a_status_never_text(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    fake_openai.reply_with(REPLY)
    fake_openai.thinking = "I should answer in two parts."  # <think>…</think> first, too
    fake_openai.chunk_size, fake_openai.delay = 4, 0.03
    await bot.mention("go")

    methods = [c.method for c in slack.calls if c.method.startswith(("chat.", "assistant."))]
    assert methods[0] == "assistant.threads.setStatus"
    assert methods.count("assistant.threads.setStatus") == 2  # again when it thought mid-reply
    assert methods.index("chat.startStream") < len(methods) - 1 - methods[::-1].index(
        "assistant.threads.setStatus")
    [reply] = replies(slack)
    assert reply.text == "First part. Second part."
    every_call = " ".join(str(c) for c in slack.calls)
    assert "check that again" not in every_call and "two parts" not in every_call
