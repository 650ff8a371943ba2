"""What many replies cost Slack: one kept-alive connection for every API call (not one TCP
connection, against Slack a TLS handshake, per call), and a streamed reply that never has
two calls in flight on one message nor calls it faster than one per ``caps.interval``,
however fast the model streams and however slow Slack answers — later text rides along
with the next call, and the message still ends with exactly the model's text."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from adapters.slack.format import escape, to_mrkdwn
from tests.fakes.slack_server import Call, FakeSlack
from tests.slack.conftest import INTERVAL
from tests.slack.test_slack_conversations import replies

LONG = " ".join(f"word{i}" for i in range(120))  # ~900 characters
MESSAGE_CALLS = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.postMessage",
                 "chat.update")


def calls_per_message(slack: FakeSlack) -> dict[str, list[Call]]:
    by_message: dict[str, list[Call]] = defaultdict(list)
    for call in slack.calls_to(*MESSAGE_CALLS):
        by_message[f"{call.get('channel')}/{call.ts}"].append(call)
    return by_message


def assert_paced(slack: FakeSlack) -> None:
    """No two calls on one message overlap, and their starts are ``INTERVAL`` apart (with
    a little slack: the fake sees a call a moment after the sink timed it)."""
    for message, calls in calls_per_message(slack).items():
        calls.sort(key=lambda c: c.started)
        for before, after in zip(calls, calls[1:], strict=False):
            assert after.started >= before.ended, f"overlapping calls on {message}"
            gap = after.started - before.started
            assert gap >= INTERVAL * 0.8, f"{after.method} {gap * 1000:.0f} ms after {before.method}"


async def test_every_api_call_of_many_replies_reuses_one_connection(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("Fine, thanks.")
    for i in range(5):
        await bot.mention(f"question {i}")

    assert len(replies(slack)) == 5
    assert len(slack.calls) >= 15  # status, start, stop… per reply
    assert slack.connections.accepted <= 2


async def test_the_shared_connection_is_closed_with_the_bot(
    settings: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    from tests.slack.conftest import serve

    async for served in serve(settings, slack):
        await served.mention("hello")
        session = served.bot.client.session
    assert session is not None and session.closed


async def test_a_fast_stream_to_a_slow_slack_is_paced_per_message(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with(LONG)
    fake_openai.chunk_size = 6
    fake_openai.delay = 0.004  # ~150 deltas in ~0.6 s: many per interval
    slack.delays["chat.appendStream"] = INTERVAL * 0.6  # Slack slower than the deltas

    await bot.mention("tell me a lot")

    [reply] = replies(slack)
    assert reply.kind == "stream" and not reply.open
    assert reply.text == escape(LONG)
    assert_paced(slack)
    # the deltas were merged: far fewer calls than deltas
    assert len(slack.calls_to("chat.appendStream")) < 150 / 3


async def test_chat_update_replies_are_paced_per_message(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with(LONG)
    fake_openai.chunk_size = 6
    fake_openai.delay = 0.004
    slack.fail("chat.startStream", "unknown_method")  # no native streaming: post + chat.update
    slack.delays["chat.update"] = INTERVAL * 0.6

    await bot.mention("tell me a lot")

    [reply] = replies(slack)
    assert reply.kind == "message"
    assert reply.text == to_mrkdwn(LONG)
    assert_paced(slack)
