"""What the bot sends to Slack: model text that can never notify anyone, on every path;
messages within Slack's limit as Slack counts it (after escaping); one failed call, not one per
chunk, where Slack refuses the bot's messages; and Markdown that reads right as mrkdwn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.chunking import open_fence
from adapters.slack.format import escape, to_mrkdwn
from adapters.slack.sink import SlackCaps
from adapters.slack.stream import SlackStreamSink
from tests.fakes.slack_server import FakeSlack, message_event, slash_command
from tests.slack.conftest import SECRET
from tests.slack.test_slack_conversations import replies

MENTIONS = "<!channel> <!here> <!everyone> <!subteam^S123|@team> <@U0ALICE> @channel"
REPLY = f"Heads up {MENTIONS} — the deploy is done."
TEXT_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
# What Slack would parse as markup in mrkdwn: anything in angle brackets but a web/mail link.
MARKUP = re.compile(r"<(?!(?:https?://|mailto:)[^<>|\s]+(?:\|[^<>]*)?>)")


def notifies(mrkdwn: str) -> bool:
    """Whether Slack would turn part of this mrkdwn into a mention (or other markup)."""
    return bool(MARKUP.search(mrkdwn))


def no_parse_options(slack: FakeSlack) -> bool:
    """Plain "@channel" words notify nobody unless a call asks Slack to parse them."""
    return not any(c.get("parse") or c.get("link_names") for c in slack.calls)


def streamed(call: Any) -> str:
    """The Markdown a chat.*Stream call carried (``markdown_text`` or markdown chunks)."""
    chunks = call.get("chunks") or []
    return str(call.get("markdown_text") or "") + "".join(
        str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text"
    )


# --- one escaping for every path that sends model text ---


async def test_a_streamed_reply_notifies_nobody(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    fake_openai.reply_with(REPLY)
    fake_openai.chunk_size = 7
    await bot.mention("status?")

    [reply] = replies(slack)
    assert reply.kind == "stream"
    sent = [streamed(c) for c in slack.calls_to("chat.startStream", "chat.appendStream")]
    assert sent and all("<" not in text and ">" not in text for text in sent)
    assert reply.text == escape(REPLY)  # every character still there, as an entity
    assert no_parse_options(slack)


async def test_a_posted_and_updated_reply_notifies_nobody(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with(REPLY)
    fake_openai.chunk_size = 7
    fake_openai.delay = 0.01
    await bot.say("status?", channel="D0ALICE")

    calls = slack.calls_to("chat.postMessage", "chat.update")
    assert len(calls) >= 2 and not any(notifies(c["text"]) for c in calls)
    [reply] = replies(slack)
    assert reply.text == escape(REPLY)
    assert no_parse_options(slack)


async def test_an_ephemeral_answer_notifies_nobody(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    slack.history["C0GENERAL"] = [message_event("ship it", ts=slack.next_ts(), user="U0BOB")]
    fake_openai.reply_with(REPLY)
    await bot.form(slash_command("/summarize", channel="C0GENERAL", user="U0BOB"))

    [summary] = slack.calls_to("chat.postEphemeral")
    assert not notifies(summary["text"]) and summary["text"] == escape(REPLY)
    assert no_parse_options(slack)


@pytest.mark.parametrize("markdown", ["[x](!channel)", "![x](@U0ALICE)", "[<!here>](https://x.io)",
                                      "![<!here>](https://x.io/a.png)", "<!here|x>"])
def test_markdown_links_cannot_carry_mentions(markdown: str) -> None:
    assert not notifies(to_mrkdwn(markdown))


_PIECES = st.sampled_from(
    ["<!channel>", "<!here>", "<@U0ALICE>", "<!subteam^S1|@t>", "<#C1>", "<", ">", "!", "@", "&",
     "&lt;", "[", "]", "(", ")", "x", " ", "\n", "`", "```", "**", "__", "|", "https://", "mailto:",
     "#", "- ", "> ", "~~", "*", "_", "a.io/", ":"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
@example("<https://<!channel>")  # an autolink around a mention
@example("[x](<!here>)")
@example("<https://> ")
def test_no_model_text_becomes_markup(text: str) -> None:
    assert "<" not in escape(text) and ">" not in escape(text)  # native streaming
    assert not notifies(to_mrkdwn(text))  # post / update / ephemeral


# --- Slack's limit, counted on what Slack receives ---

ESCAPES = "if a < b && c > d then <b> & <i> " * 400  # grows by ~75 % when escaped


async def test_updated_messages_stay_within_the_limit_once_escaped(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with(ESCAPES)
    fake_openai.chunk_size = 400
    await bot.say("escape this", channel="D0ALICE")

    sent = [c["text"] for c in slack.calls_to("chat.postMessage", "chat.update")]
    assert max(len(t) for t in sent) <= 3_500
    shown = " ".join(p.text for p in replies(slack)).split()
    assert shown == escape(ESCAPES).split()  # all of it, once, in order


async def test_streamed_messages_stay_within_the_limit_once_escaped(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fence = "`" * 5
    code = "\n".join(f"if a{i} < b && c > d: pass" for i in range(150))
    answer = ESCAPES[:4000] + f"\n\n{fence}python\n{code}\n{fence}\n\n" + ESCAPES[:3000]
    fake_openai.reply_with(answer)
    fake_openai.chunk_size = 300
    await bot.mention("escape this")

    parts = [p.text for p in replies(slack)]
    assert len(parts) >= 3 and all(p.kind == "stream" for p in replies(slack))
    assert max(len(p) for p in parts) <= 3_500
    assert all(p.count(fence) % 2 == 0 for p in parts)  # each message closes its block
    assert [w for w in " ".join(parts).split() if w not in (fence, f"{fence}python")] == [
        w for w in escape(answer).split() if w not in (fence, f"{fence}python")
    ]


async def test_ephemeral_messages_stay_within_the_limit_once_escaped(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.history["C0GENERAL"] = [message_event("ship it", ts=slack.next_ts(), user="U0BOB")]
    fake_openai.reply_with(ESCAPES)
    await bot.form(slash_command("/summarize", channel="C0GENERAL", user="U0BOB"))

    sent = [c["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert len(sent) >= 3 and max(len(t) for t in sent) <= 3_500


# --- a conversation that refuses the bot's messages: one call, one log line ---

LONG = "A sentence that goes on for a while. " * 3_000  # ~33 chunks of 3,500


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
async def test_a_refused_post_is_tried_once(
    bot: Any, slack: FakeSlack, fake_openai: Any, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    for method in ("chat.postMessage", "chat.update"):
        slack.fail(method, error, times=1_000)
    fake_openai.reply_with(LONG)
    fake_openai.chunk_size = 500
    await bot.say("long please", channel="D0ALICE")

    assert len(slack.calls_to(*TEXT_METHODS)) == 1
    [line] = refusals(caplog)
    assert error in line and slack.bot_token not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived"])
async def test_a_refused_stream_is_tried_once_and_not_reposted(
    bot: Any, slack: FakeSlack, fake_openai: Any, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    for method in ("chat.startStream", "chat.appendStream", "chat.postMessage", "chat.update"):
        slack.fail(method, error, times=1_000)
    fake_openai.reply_with(LONG)
    fake_openai.chunk_size = 500
    await bot.mention("long please")

    assert len(slack.calls_to("chat.startStream")) == 1
    assert not slack.calls_to(*TEXT_METHODS, "chat.appendStream")  # no fallback either
    assert len(refusals(caplog)) == 1
    assert bot.bot.caps.native_stream  # the channel is closed, not the feature


async def test_a_stream_refused_mid_reply_stops_there(
    bot: Any, slack: FakeSlack, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    for method in ("chat.appendStream", "chat.stopStream", "chat.postMessage"):
        slack.fail(method, "is_archived", times=1_000)
    fake_openai.reply_with(LONG)
    fake_openai.chunk_size = 500
    fake_openai.delay = 0.002
    await bot.mention("long please")

    assert len(slack.calls_to("chat.startStream")) == 1
    # the next call, whichever adds the text (a full message ends with chat.stopStream
    # carrying its last text), is refused, and nothing follows it
    assert len(slack.calls_to("chat.appendStream", "chat.stopStream")) == 1
    assert not slack.calls_to(*TEXT_METHODS)
    assert len(refusals(caplog)) == 1


async def test_a_refused_ephemeral_answer_is_tried_once(
    bot: Any, slack: FakeSlack, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slack.history["C0GENERAL"] = [message_event("ship it", ts=slack.next_ts(), user="U0BOB")]
    slack.fail("chat.postEphemeral", "user_not_in_channel", times=1_000)
    fake_openai.reply_with(LONG)
    await bot.form(slash_command("/summarize", channel="C0GENERAL", user="U0BOB"))

    assert len(slack.calls_to("chat.postEphemeral")) == 1
    [line] = refusals(caplog)
    assert "user_not_in_channel" in line


async def test_a_passing_failure_still_lets_the_reply_through(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.fail("chat.update", "internal_error", times=1)
    fake_openai.reply_with("one two three four five six seven eight nine ten")
    fake_openai.chunk_size = 4
    fake_openai.delay = 0.02
    await bot.say("count", channel="D0ALICE")

    [reply] = replies(slack)
    assert reply.text == "one two three four five six seven eight nine ten"


# --- Markdown → mrkdwn ---


def test_code_as_a_link_label_is_a_link_with_the_code() -> None:
    assert to_mrkdwn("see [`split_text`](https://x.io/chunking)") == "see <https://x.io/chunking|`split_text`>"


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("[wiki](https://en.wikipedia.org/wiki/Foo_(bar)) end",
         "<https://en.wikipedia.org/wiki/Foo_(bar)|wiki> end"),
        ("<https://en.wikipedia.org/wiki/Foo_(bar)>", "<https://en.wikipedia.org/wiki/Foo_(bar)>"),
        ("see https://en.wikipedia.org/wiki/Foo_(bar).", "see <https://en.wikipedia.org/wiki/Foo_(bar)>."),
        ("(see https://x.io/a_(b)_c)", "(see <https://x.io/a_(b)_c>)"),
        ("**https://x.io/__init__.py**", "*<https://x.io/__init__.py>*"),
    ],
)
def test_parentheses_stay_in_urls(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("define __init__ first", "define __init__ first"),
        ("call obj.__init__() and read __main__.py", "call obj.__init__() and read __main__.py"),
        ("my__var__name and a__b__", "my__var__name and a__b__"),
        ("this is __really important__ now", "this is *really important* now"),
        ("**bold**, intra**word**bold", "*bold*, intra*word*bold"),
    ],
)
def test_double_underscores_are_bold_only_between_words(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    ("opening", "marker"),
    [('```python title="x.py"', "```"), ("~~~~ js {1,3}", "~~~~"), ("```` text", "````")],
)
def test_a_fence_with_any_info_string_is_a_code_block(opening: str, marker: str) -> None:
    markdown = f"{opening}\nx = a ** b ** c\n{marker}\n\n**after**"
    assert to_mrkdwn(markdown) == "```\nx = a ** b ** c\n```\n\n*after*"


@pytest.mark.parametrize("marker", [c * n for c in "`~" for n in range(3, 9)])
async def test_streamed_messages_close_any_fence_within_the_limit(slack: FakeSlack, marker: str) -> None:
    """The streaming sink itself, with a small limit so that it cuts often: each message stays
    within the limit with its closing fence, however long the fence."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)
    code = "\n".join(f"x{i} = a < b & c" for i in range(60))
    text = f"Look:\n\n{marker}python\n{code}\n{marker}\n\nDone & dusted."
    for shift in range(3):
        sink = SlackStreamSink(client, SlackCaps(interval=0, limit=300), "C0GENERAL", f"{shift}.1",
                               recipient_team_id="T0TEAM", recipient_user_id="U0ALICE")
        await sink.start()
        body = "x" * shift + text
        for at in range(0, len(body), 90):
            await sink.append(body[at : at + 90])
        await sink.finish(body)
        parts = [p.text for p in slack.visible(thread_ts=f"{shift}.1")]
        assert len(parts) >= 4 and max(len(p) for p in parts) <= 300
        assert all(open_fence(p) is None for p in parts)
