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


async def test_on_the_editing_path_a_note_shows_while_it_thinks(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    """Without native streaming (post, then chat.update) the reply shows "_Thinking…_" under
    its text while the model thinks again, and the rest of the answer replaces it."""
    slack.fail("chat.startStream", "unknown_method")
    fake_openai.reply_with(REPLY)
    fake_openai.thinking = "I should answer in two parts."
    fake_openai.chunk_size, fake_openai.delay = 4, 0.03
    await bot.mention("go")

    shown = [c["text"] for c in slack.calls_to("chat.update")]
    noted = [t for t in shown if t.endswith("_Thinking…_")]
    assert noted and noted[0].startswith("First part.")
    assert shown.index(noted[0]) < len(shown) - 1  # replaced by what followed
    [reply] = replies(slack)
    assert reply.text == "First part. Second part."
    every_call = " ".join(str(c) for c in slack.calls)
    assert "check that again" not in every_call and "two parts" not in every_call
