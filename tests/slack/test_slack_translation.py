"""The pure parts, on plain dicts and strings: which Slack messages become which turns in
which conversation, how Slack text reads to the model, how Markdown reads in Slack."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.common.chunking import split_text
from adapters.common.commands import Invocation
from adapters.common.routing import Action
from adapters.common.titles import title_from
from adapters.slack.events import (
    Identity,
    Incoming,
    decide,
    history_turn,
    parse_command,
    parse_message,
    prompts,
    readable,
    shortcut_target,
    slash_target,
)
from adapters.slack.format import to_mrkdwn
from bot.types import CommandName, Origin, ThreadKey
from tests.fakes.slack_server import message_event, message_shortcut, slash_command
from tests.pasted_code import CODES, MENTION_LAYOUTS, SNIPPET

ME = Identity(team_id="T0TEAM", user_id="U0BOT", bot_id="B0BOT")


def parse(text: str, **kw: Any) -> Incoming | None:
    event = message_event(text, ts=kw.pop("ts", "1700000100.000100"), **kw)
    return parse_message(event, ME, team_id="T0TEAM")


def test_a_top_level_mention_starts_a_thread_under_itself() -> None:
    incoming = parse("<@U0BOT> hello", ts="111.1")
    assert incoming is not None
    assert incoming.key == ThreadKey("slack", "T0TEAM", "C0GENERAL", "111.1")
    assert incoming.reply_thread_ts == "111.1" and incoming.text == "hello"
    assert incoming.mentioned and decide(incoming, follows=False) is Action.ANSWER


def test_thread_messages_belong_to_the_thread_root() -> None:
    incoming = parse("more", ts="222.2", thread_ts="111.1")
    assert incoming is not None and incoming.key.thread == "111.1" and incoming.in_thread
    assert decide(incoming, follows=True) is Action.ANSWER
    assert decide(incoming, follows=True, follow_threads=False) is Action.CONTEXT
    assert decide(incoming, follows=False) is Action.IGNORE


def test_a_mention_in_a_new_thread_joins_it() -> None:
    incoming = parse("<@U0BOT> what do you think?", ts="222.2", thread_ts="111.1")
    assert incoming is not None and decide(incoming, follows=False) is Action.JOIN
    assert decide(incoming, follows=True) is Action.ANSWER


def test_dms_are_one_conversation_and_dm_threads_their_own() -> None:
    top = parse("hi", channel="D0ALICE", ts="1.1")
    inner = parse("hi", channel="D0ALICE", ts="2.2", thread_ts="1.1")
    assert top is not None and inner is not None
    assert top.key == ThreadKey("slack", "T0TEAM", "D0ALICE", "") and top.reply_thread_ts == ""
    assert inner.key.thread == "1.1" and inner.reply_thread_ts == "1.1"
    assert decide(top, follows=False) is decide(inner, follows=False) is Action.ANSWER


def test_chatter_without_a_mention_is_ignored() -> None:
    incoming = parse("lunch?")
    assert incoming is not None and decide(incoming, follows=False) is Action.IGNORE


@pytest.mark.parametrize(
    "extra",
    [
        {"user": "U0BOT"},
        {"bot_id": "B0BOT"},
        {"bot_id": "B0OTHER", "subtype": "bot_message"},
        {"bot_id": "B0OTHER"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"hidden": True},
    ],
)
def test_own_bot_and_subtype_messages_are_never_turns(extra: dict[str, Any]) -> None:
    assert parse("<@U0BOT> hi", **extra) is None


def test_other_bots_only_when_allowed() -> None:
    event = message_event("<@U0BOT> deploy?", ts="1.1", bot_id="B0CI", subtype="bot_message")
    assert parse_message(event, ME, team_id="T0TEAM", allow_bots=True) is not None
    assert parse_message(event, ME, team_id="T0TEAM", allow_bots=False) is None


def test_thread_broadcasts_and_file_shares_are_human_messages() -> None:
    assert parse("see this", subtype="thread_broadcast", thread_ts="1.1") is not None
    assert parse("<@U0BOT> look", subtype="file_share") is not None


@pytest.mark.parametrize(
    ("text", "mentioned", "expected"),
    [
        ("!reset", False, Invocation(CommandName.RESET)),
        ("  !Summarize ", False, Invocation(CommandName.SUMMARIZE)),
        ("!stop", False, Invocation(CommandName.STOP)),
        ("!help", False, Invocation(CommandName.HELP)),
        ("reset", True, Invocation(CommandName.RESET)),
        ("reset", False, None),
        ("!resetting", False, None),
        ("please reset the server", True, None),
        ("!deploy", False, None),
        ("!usage", False, Invocation(CommandName.USAGE)),
        ("usage.", True, Invocation(CommandName.USAGE)),
        ("!model", False, Invocation(CommandName.MODEL)),
        ("!model  gpt-4.1 ", False, Invocation(CommandName.MODEL, "gpt-4.1")),
        ("model gpt-4.1", True, Invocation(CommandName.MODEL, "gpt-4.1")),
        ("!config", False, Invocation(CommandName.CONFIG)),
        ("!config model gpt-4.1", False, Invocation(CommandName.CONFIG, "model gpt-4.1")),
        ("!CONFIG persona", False, Invocation(CommandName.CONFIG, "persona")),
        # an argument holds any text, over several lines too (a persona prompt)
        ("!config persona You are terse.\nNever  use emoji!", False,
         Invocation(CommandName.CONFIG, "persona You are terse.\nNever  use emoji!")),
        # commands that take no argument are only themselves: the rest is a message
        ("!reset everything please", False, None),
        ("!usage of the word", False, None),
        # after a mention, a sentence starting with a command's name is a message
        ("model the data for me please", True, None),
        ("config persona be brief", True, None),
        ("model gpt-4.1", False, None),
    ],
)
def test_text_commands(text: str, mentioned: bool, expected: Invocation | None) -> None:
    assert parse_command(text, mentioned=mentioned) == expected


def test_a_mention_then_a_command_word_is_a_command() -> None:
    incoming = parse("<@U0BOT> summarize", thread_ts="1.1", ts="2.2")
    assert incoming is not None and incoming.command == Invocation(CommandName.SUMMARIZE)
    switch = parse("<@U0BOT> model gpt-4.1", thread_ts="1.1", ts="2.3")
    assert switch is not None and switch.command == Invocation(CommandName.MODEL, "gpt-4.1")


def test_someone_refused_is_told_once_per_channel_or_dm_in_the_thread_of_the_answer() -> None:
    top = parse("<@U0BOT> hi", ts="111.1")
    reply = parse("<@U0BOT> hi", ts="222.2", thread_ts="111.1")
    dm_thread = parse("hi", channel="D0ALICE", ts="333.3", thread_ts="300.0")
    assert top is not None and reply is not None and dm_thread is not None
    channel = ThreadKey("slack", "T0TEAM", "C0GENERAL", "")
    assert top.place_key == channel == reply.place_key
    assert dm_thread.place_key == ThreadKey("slack", "T0TEAM", "D0ALICE", "")
    assert (top.reply_thread_ts, reply.reply_thread_ts) == ("111.1", "111.1")
    # a text command acts on its own conversation, as its author, in a DM or not
    assert (reply.target.key, reply.target.user_id, reply.target.direct) == (
        reply.key, "U0ALICE", False)


def test_turns_say_whether_they_come_from_a_dm() -> None:
    dm = parse("hi", channel="D0ALICE")
    channel = parse("<@U0BOT> hi", ts="111.1")
    assert dm is not None and channel is not None
    assert dm.turn("Alice", "hi", addressed=True).origin == Origin(direct=True)
    # a Slack thread's key names its channel: no parent channel, and no roles
    assert channel.turn("Alice", "hi", addressed=True).origin == Origin()


def test_slack_markup_reads_naturally() -> None:
    names = {"U0BOB": "Bob"}
    text = "Ask <@U0BOB> in <#C0DEV|dev>, <!here>: see <https://x.io/a|the doc> &amp; <https://y.io> &lt;3"
    assert readable(text, names) == "Ask @Bob in #dev, @here: see the doc (https://x.io/a) & https://y.io <3"


def test_thread_history_keeps_the_bot_as_itself_and_names_people() -> None:
    key = ThreadKey("slack", "T0TEAM", "C0GENERAL", "1.1")
    names = {"U0ALICE": "Alice"}
    mine = {"type": "message", "ts": "2.2", "user": "U0BOT", "bot_id": "B0BOT", "text": "Hi all"}
    theirs = {"type": "message", "ts": "3.3", "user": "U0ALICE", "text": "<@U0BOT> thanks"}
    joined = {"type": "message", "ts": "4.4", "user": "U0ALICE", "subtype": "channel_join", "text": "x"}
    turns = [history_turn(m, key, names, ME) for m in (mine, theirs, joined)]
    assert turns[0] is not None and turns[0].author_id == "U0BOT"
    assert turns[1] is not None and (turns[1].author_name, turns[1].text) == ("Alice", "thanks")
    assert turns[2] is None and not turns[1].addressed


def test_slash_commands_and_shortcuts_find_their_conversation() -> None:
    dm = slash_target(slash_command("/reset", channel="D0ALICE"))
    assert dm is not None and dm.direct and dm.key == ThreadKey("slack", "T0TEAM", "D0ALICE", "")
    channel = slash_target(slash_command("/reset", channel="C0GENERAL"))
    assert channel is not None and not channel.direct
    assert (dm.origin, channel.origin) == (Origin(direct=True), Origin())
    reply = {"ts": "2.2", "thread_ts": "1.1", "text": "x"}
    root = {"ts": "1.1", "text": "x"}
    threads = [
        shortcut_target(message_shortcut("x", channel=channel_id, message=message))
        for channel_id, message in (("C0GENERAL", reply), ("C0GENERAL", root), ("D0ALICE", root))
    ]
    assert [t.key.thread if t else None for t in threads] == ["1.1", "1.1", ""]


@pytest.mark.parametrize(
    ("text", "argument"),
    [
        ("", ""),
        ("  gpt-4.1  ", "gpt-4.1"),
        ("persona Be kind &amp; brief &lt;3", "persona Be kind & brief <3"),  # Slack escapes these
        ("persona \ud800", "persona \ufffd"),
    ],
)
def test_a_slash_commands_text_is_its_argument(text: str, argument: str) -> None:
    target = slash_target(slash_command("/model", channel="C0GENERAL", text=text))
    assert target is not None and target.argument == argument


def test_suggested_prompts_and_titles() -> None:
    assert prompts("A | B||C") == [
        {"title": "A", "message": "A"},
        {"title": "B", "message": "B"},
        {"title": "C", "message": "C"},
    ]
    assert title_from("\n  Short question?\nmore", 60) == "Short question?"
    long = title_from("word " * 40, 60)
    assert len(long) <= 61 and long.endswith("…")


def test_markdown_becomes_mrkdwn() -> None:
    markdown = (
        "# Plan\n"
        "**Bold**, *italic*, ~~old~~ and [docs](https://d.io/x_y).\n"
        "- one\n  * two\n"
        "> quoted & <escaped>\n"
        "```python\nif a < b and c:  # **not bold**\n    pass\n```\n"
        "Inline `x<y` stays code."
    )
    assert to_mrkdwn(markdown) == (
        "*Plan*\n"
        "*Bold*, _italic_, ~old~ and <https://d.io/x_y|docs>.\n"
        "• one\n  • two\n"
        "> quoted &amp; &lt;escaped&gt;\n"
        "```\nif a &lt; b and c:  # **not bold**\n    pass\n```\n"
        "Inline `x&lt;y` stays code."
    )


def test_mrkdwn_of_split_chunks_keeps_code_blocks_closed() -> None:
    code = "\n".join(f"print({i})" for i in range(400))
    for chunk in split_text(f"Text\n\n```python\n{code}\n```\nAfter", 1000):
        assert to_mrkdwn(chunk).count("```") % 2 == 0


def test_an_unclosed_code_block_is_closed() -> None:
    assert to_mrkdwn("```\ncode").endswith("```")


def test_the_manifest_declares_what_the_adapter_handles() -> None:
    from pathlib import Path

    from adapters.slack.app import SHORTCUTS
    from adapters.slack.settings import SlackSettings

    manifest = (Path(__file__).parents[2] / "slack-manifest.yaml").read_text()
    fields = SlackSettings.model_fields
    for name in ("reset", "summarize", "usage", "model"):
        assert f"command: {fields[name + '_command'].default}\n" in manifest
    for callback_id in SHORTCUTS:
        assert f"callback_id: {callback_id}\n" in manifest
    for event in ("app_mention", "message.channels", "message.im", "assistant_thread_started"):
        assert f"- {event}\n" in manifest



@pytest.mark.parametrize("me", ["<@U0BOT>", "<@U0BOT|threadbot>"])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize(("sent", "expected"), MENTION_LAYOUTS)
def test_pasted_code_keeps_its_indentation(me: str, code: str, sent: str, expected: str) -> None:
    raw, wanted = sent.format(me=me, code=code), expected.format(code=code)
    incoming = parse(raw, thread_ts="1.1")
    assert incoming is not None and incoming.mentioned
    assert readable(incoming.text, {}) == wanted
    key = ThreadKey("slack", "T0TEAM", "C0GENERAL", "1.1")
    read = history_turn({"ts": "2.2", "user": "U0ALICE", "text": raw}, key, {}, ME)
    assert read is not None and read.text == wanted


def test_text_without_a_mention_arrives_unchanged() -> None:
    incoming = parse(f"  {SNIPPET}\n\n", channel="D0ALICE")
    assert incoming is not None and incoming.text == f"  {SNIPPET}\n\n"


@pytest.mark.parametrize("unclosed", ["<@U0BOB|", "<#C0DEV|", "<http://x.io", "<!subteam^S1|", "<!here|",
                                      "<@U0BOT|", " \t"])
def test_a_long_hostile_message_is_read_in_linear_time(unclosed: str) -> None:
    text = (unclosed * (40_000 // len(unclosed)))[:40_000]  # Slack's longest message
    started = time.monotonic()
    incoming = parse(f"<@U0BOT> {text}x", channel="D0ALICE")
    assert incoming is not None
    readable(incoming.text, {})
    assert time.monotonic() - started < 1  # seconds per message before, milliseconds now
