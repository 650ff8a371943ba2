"""What Discord refuses while a reply is shown — a deleted message, a revoked permission — never
fails the reply: the rest of the answer reaches the user once, and the conversation keeps it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord.conftest import Bot
from tests.fakes.discord_server import FakeDiscord

MESSAGE_PATH = r"/channels/\d+/messages/\d+$"
WORDS = " ".join(f"word{i}" for i in range(90))  # ~700 chars, streamed over ~2.5 s


async def streaming_reply(fake_discord: FakeDiscord, fake_openai: Any, answer: str,
                          prompt: str = "talk to me") -> tuple[int, dict[str, Any]]:
    """Start a slowly streamed answer in a new thread; return the thread and, as soon as it
    exists, the bot's first message."""
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with(answer)
    fake_openai.chunk_size, fake_openai.delay = 8, 0.03
    msg = await fake_discord.say(alice, prompt, mention_bot=True)
    thread = int(msg["id"])
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(thread))
    return thread, fake_discord.bot_messages(thread)[0]


def kept_in_context(fake_openai: Any, answer: str) -> bool:
    """Whether the last model request carried ``answer`` as the bot's earlier reply."""
    sent = fake_openai.requests[-1].json["messages"]
    return {"role": "assistant", "content": answer} in sent


def patches_of(fake: FakeDiscord, message: dict[str, Any], since: int = 0) -> int:
    return len([c for c in fake.calls_to("PATCH", MESSAGE_PATH)[since:]
                if c.path.endswith("/" + message["id"])])


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_a_reply_message_deleted_while_streaming_continues_in_a_new_message(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    thread, first = await streaming_reply(fake_discord, fake_openai, WORDS)
    await fake_discord.delete(first)  # a moderator removes it while the answer streams
    await bot.settle()

    [rest] = fake_discord.bot_messages(thread)
    assert first["content"] + rest["content"] == WORDS  # nothing shown twice, nothing lost
    assert not rest["content"].endswith("_")  # no failure note

    await fake_discord.say(fake_discord.add_user("Bob"), "and now?", channel=thread)
    await bot.settle()
    assert kept_in_context(fake_openai, WORDS)  # the reply was not thrown away


async def test_refused_edits_leave_the_message_and_post_the_rest_once_complete(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    thread, first = await streaming_reply(fake_discord, fake_openai, WORDS)
    since = len(fake_discord.calls_to("PATCH", MESSAGE_PATH))
    fake_discord.fail_next("PATCH", MESSAGE_PATH, 403, code=50013, times=100)  # for good
    await bot.settle()

    shown, rest = fake_discord.bot_messages(thread)
    assert shown is first and shown["content"] + rest["content"] == WORDS
    assert patches_of(fake_discord, first, since) == 1  # refused once, never asked again
    assert patches_of(fake_discord, rest) == 0  # posted complete, not streamed into
    [warning] = warnings(caplog, "could not edit a reply message")
    assert "50013" in warning and "Missing Permissions" in warning


async def test_a_code_block_cut_by_a_refused_edit_is_reopened_in_the_continuation(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    code = "\n".join(f"print('line {i:02d}')" for i in range(40))
    answer = f"Here it is:\n```python\n{code}\n```\nThat prints forty lines."
    thread, first = await streaming_reply(fake_discord, fake_openai, answer)
    await fake_discord.wait_for(lambda: "line 01" in first["content"])
    fake_discord.fail_next("PATCH", MESSAGE_PATH, 404, code=10008, times=100)
    await bot.settle()

    shown, rest = fake_discord.bot_messages(thread)
    assert "```python" in shown["content"] and shown["content"].count("```") == 1  # cut inside
    assert rest["content"].startswith("```python\n") and rest["content"].count("```") == 2
    assert shown["content"] + rest["content"].removeprefix("```python\n") == answer


async def test_when_posting_is_refused_too_discord_is_not_called_again_for_that_reply(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    thread, first = await streaming_reply(fake_discord, fake_openai, WORDS)
    posts = len(fake_discord.calls_to("POST", r"/messages$"))
    since = len(fake_discord.calls_to("PATCH", MESSAGE_PATH))
    # the bot loses its permissions in the thread; one refusal each, then Discord would accept
    fake_discord.fail_next("PATCH", MESSAGE_PATH, 403, code=50001)
    fake_discord.fail_next("POST", r"/messages$", 403, code=50001)
    await bot.settle()

    assert fake_discord.bot_messages(thread) == [first]
    assert len(fake_discord.calls_to("POST", r"/messages$")) == posts + 1
    assert patches_of(fake_discord, first, since) == 1
    assert len(warnings(caplog, "could not post a reply message")) == 1

    await fake_discord.say(fake_discord.add_user("Bob"), "still there?", channel=thread)
    await bot.settle()
    assert kept_in_context(fake_openai, WORDS)
    assert len(fake_discord.bot_messages(thread)) == 2  # Discord accepts again: answered
