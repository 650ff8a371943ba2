"""How replies reach Slack: the streaming path per case, fallbacks, long replies, errors,
rate limits, request signing, health, Socket Mode and AI-app threads."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import pytest

from adapters.slack.app import SlackBot, run_slack
from adapters.slack.sink import SlackCaps
from bot.app import open_engine
from bot.config import Settings
from bot.errors import USER_MESSAGES, ConfigError, ErrorKind
from bot.types import ThreadKey
from tests.fakes.slack_server import (
    BOT_USER_ID,
    FakeSlack,
    event_callback,
    message_event,
    slash_command,
)
from tests.slack.conftest import SECRET, slack_settings
from tests.slack.test_slack_conversations import replies

FENCE = "```"


async def test_thread_replies_stream_natively_with_a_status_first(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("one two three four five six seven eight nine ten " * 3)
    fake_openai.chunk_size = 5
    fake_openai.delay = 0.02
    root = await bot.mention("count")

    methods = [c.method for c in slack.calls if c.method.startswith(("chat.", "assistant."))]
    assert methods[0] == "assistant.threads.setStatus"
    assert methods[1] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert methods.count("chat.appendStream") >= 2  # the text appeared in steps
    start = slack.calls_to("chat.startStream")[0]
    assert (start["thread_ts"], start["recipient_user_id"], start["recipient_team_id"]) == (
        root,
        "U0ALICE",
        "T0TEAM",
    )
    assert replies(slack)[0].text.strip() == ("one two three four five six seven eight nine ten " * 3).strip()


async def test_top_level_dm_replies_use_a_placeholder_then_updates(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.reply_with("Here is **bold**, a [link](https://example.com) and `code`.")
    fake_openai.chunk_size = 4
    fake_openai.delay = 0.02
    await bot.say("format please", channel="D0ALICE")

    assert not slack.calls_to("chat.startStream", "assistant.threads.setStatus")
    first = slack.calls_to("chat.postMessage")[0]
    assert "Thinking" in first["text"]  # the placeholder...
    [reply] = replies(slack)
    assert reply.edits >= 2  # ...replaced by the text as it grew
    assert reply.text == "Here is *bold*, a <https://example.com|link> and `code`."  # mrkdwn


async def test_updates_are_throttled_per_message(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    fake_openai.reply_with("x " * 200)
    fake_openai.chunk_size = 2
    fake_openai.delay = 0.002  # ~200 deltas in ~0.5 s
    started = time.monotonic()
    await bot.say("go", channel="D0ALICE")
    elapsed = time.monotonic() - started
    updates = len(slack.calls_to("chat.update"))
    assert updates <= elapsed / 0.05 + 2  # at most one per interval (+ final)


async def test_without_native_streaming_the_reply_is_posted_and_updated(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.fail("chat.startStream", "unknown_method")
    root = await bot.mention("first")
    await bot.say("second", thread_ts=root)

    assert len(slack.calls_to("chat.startStream")) == 1  # learned once per process
    texts = [p.text for p in replies(slack)]
    assert texts == ["You said: first", "You said: second"]
    assert all(p.kind == "message" and p.thread_ts == root for p in replies(slack))


async def test_without_the_status_api_a_placeholder_is_replaced(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.fail("assistant.threads.setStatus", "missing_scope")
    fake_openai.delay = 0.01
    root = await bot.mention("hello")

    [reply] = replies(slack)
    assert reply.thread_ts == root and reply.text == "You said: hello" and reply.edits >= 1
    assert slack.calls_to("chat.postMessage")[0]["text"] == "_Thinking…_"


async def test_a_long_reply_continues_in_more_messages_without_breaking_code(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    code = "\n".join(f"    total += item_{i}  # keep adding" for i in range(150))
    answer = ("Intro paragraph. " * 40 + "\n\n") + f"{FENCE}python\n{code}\n{FENCE}\n\n" + "Outro. " * 300
    fake_openai.reply_with(answer)
    fake_openai.chunk_size = 200
    root = await bot.mention("long please")

    parts = [p.text for p in replies(slack)]
    assert len(parts) >= 3 and all(p.thread_ts == root for p in replies(slack))
    assert all(len(p) <= 3_500 for p in parts)
    assert all(p.count(FENCE) % 2 == 0 for p in parts)  # every message's code block closes
    assert all(line in "\n".join(parts) for line in code.splitlines())
    reopened = [p for p in parts[1:] if p.startswith(f"{FENCE}python")]
    assert reopened  # the block continues, as Python, in the next message


async def test_a_long_dm_reply_is_split_too(bot: Any, slack: FakeSlack, fake_openai: Any) -> None:
    fake_openai.reply_with("Sentence number one. " * 400)
    await bot.say("long", channel="D0ALICE")
    parts = [p.text for p in replies(slack)]
    assert len(parts) == 3 and all(len(p) <= 3_500 for p in parts)


async def test_a_provider_failure_is_a_short_message_in_the_thread(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.fail_next(429, times=5)
    root = await bot.mention("hello?")

    [reply] = replies(slack)
    assert reply.thread_ts == root
    assert reply.text == f"_{USER_MESSAGES[ErrorKind.RATE_LIMITED]}_"
    assert "Error" not in reply.text and "Traceback" not in reply.text


async def test_slack_rate_limits_are_retried_after_retry_after(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.rate_limit("chat.startStream", times=1, retry_after=0)
    await bot.mention("hello")

    assert len(slack.calls_to("chat.startStream")) == 2
    assert [p.text for p in replies(slack)] == ["You said: hello"]


async def test_forged_and_unsigned_requests_are_refused_and_nothing_is_stored(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    body = json.dumps(event_callback(message_event(f"<@{BOT_USER_ID}> hi", ts=slack.next_ts())))
    assert (await bot.post(body, secret="not-the-secret"))[0] == 401
    assert (await bot.post(body, headers={"X-Slack-Signature": "v0=" + "0" * 64}))[0] == 401
    stale = {"X-Slack-Request-Timestamp": str(int(time.time()) - 600)}
    assert (await bot.post(body, headers=stale))[0] == 401
    async with bot.http.post(bot.url + "/slack/events", data=body) as resp:  # unsigned
        assert resp.status == 401
    await bot.bot.drain()

    assert not slack.calls and not fake_openai.requests
    async with open_engine(bot.settings) as engine:  # the same database file
        ts = json.loads(body)["event"]["ts"]
        assert not await engine.follows(ThreadKey("slack", "T0TEAM", "C0GENERAL", ts))


async def test_health_check(bot: Any) -> None:
    async with bot.http.get(bot.url + "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["ok"] is True


async def test_url_verification_handshake(bot: Any) -> None:
    body = json.dumps({"token": "t", "challenge": "abc123", "type": "url_verification"})
    status, text = await bot.post(body)
    assert status == 200 and "abc123" in text


async def test_tokens_never_reach_the_logs(
    bot: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fail("chat.startStream", "invalid_auth")
    await bot.mention("hello")
    assert replies(slack)
    assert slack.bot_token not in caplog.text and SECRET not in caplog.text


async def test_socket_mode_envelope_in_ack_out_reply_posted(
    settings: Settings, fake_openai: Any, slack: FakeSlack
) -> None:
    config = slack_settings(slack, app_token=slack.app_token)
    async with open_engine(settings) as engine:
        bot = SlackBot(config, engine, caps=SlackCaps(interval=0.05))
        handler = bot.socket_handler()
        await handler.connect_async()
        try:
            ts = slack.next_ts()
            event = event_callback(message_event(f"<@{BOT_USER_ID}> via socket", ts=ts, kind="app_mention"))
            ack = await slack.socket_send("events_api", event)
            assert "envelope_id" in ack
            again = await slack.socket_send("events_api", event, retry_attempt=1)  # redelivery
            assert again["envelope_id"] != ack["envelope_id"]
            await bot.drain()
            command = await slack.socket_send("slash_commands", slash_command("/reset", channel="C0GENERAL"))
            assert "!reset" in json.dumps(command.get("payload"))
        finally:
            await handler.close_async()
            await bot.aclose()
    assert [c.method for c in slack.calls][:1] == ["apps.connections.open"]
    [reply] = replies(slack)
    assert reply.thread_ts == ts and reply.text == "You said: via socket"
    assert len(fake_openai.requests) == 1


async def test_ai_app_thread_greets_suggests_titles_and_answers(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    thread_ts = slack.next_ts()
    started = {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": "U0ALICE",
            "channel_id": "D0ALICE",
            "thread_ts": thread_ts,
            "context": {},
        },
        "event_ts": thread_ts,
    }
    await bot.event(started)
    greeting = replies(slack)[0]
    assert (greeting.channel, greeting.thread_ts) == ("D0ALICE", thread_ts)
    [suggest] = slack.calls_to("assistant.threads.setSuggestedPrompts")
    assert [p["message"] for p in suggest["prompts"]] == ["Summarize this channel", "What can you do?"]

    await bot.say("How do I rotate the API keys safely?", channel="D0ALICE", thread_ts=thread_ts)
    [title] = slack.calls_to("assistant.threads.setTitle")
    assert title["title"] == "How do I rotate the API keys safely?"
    assert replies(slack)[-1].text == "You said: How do I rotate the API keys safely?"
    assert replies(slack)[-1].kind == "stream"
    await bot.say("And then?", channel="D0ALICE", thread_ts=thread_ts)
    assert len(slack.calls_to("assistant.threads.setTitle")) == 1  # titled once


async def test_events_and_commands_are_acknowledged_within_three_seconds_while_busy(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.hang_next()
    root = slack.next_ts()
    started = time.monotonic()
    assert await bot.event(message_event(f"<@{BOT_USER_ID}> hang", ts=root), settle=False) == 200
    assert time.monotonic() - started < 3  # the event is acked while the model still works
    await asyncio.sleep(0.05)
    started = time.monotonic()
    status, _ = await bot.form(slash_command("/summarize", channel="C0GENERAL"), settle=False)
    assert status == 200 and time.monotonic() - started < 3
    await bot.bot.aclose()  # stop the hung reply


async def test_a_stream_that_breaks_mid_reply_continues_without_repeating_text(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    words = " ".join(f"w{i}" for i in range(120))
    fake_openai.reply_with(words)
    fake_openai.chunk_size = 10
    fake_openai.delay = 0.01
    slack.fail("chat.appendStream", "message_not_in_streaming_state")
    root = await bot.mention("go")

    parts = replies(slack)
    assert [p.kind for p in parts] == ["stream", "message"]  # the rest went on in a new message
    assert all(p.thread_ts == root for p in parts)
    shown = " ".join(p.text.strip() for p in parts).split()
    assert shown == words.split()  # every word exactly once, in order
    assert bot.bot.caps.native_stream  # a one-off failure does not switch streaming off


async def test_run_slack_serves_http_until_cancelled(
    settings: Settings, slack: FakeSlack
) -> None:
    import socket

    with socket.socket() as probe:  # a free loopback port for the real entry point
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = slack_settings(slack, http_host="127.0.0.1", http_port=port)
    async with open_engine(settings) as engine:
        running = asyncio.create_task(run_slack(engine, config))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        assert resp.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            else:
                raise AssertionError("HTTP mode never started")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_run_slack_uses_socket_mode_when_an_app_token_is_set(
    settings: Settings, slack: FakeSlack
) -> None:
    config = slack_settings(slack, app_token=slack.app_token)
    async with open_engine(settings) as engine:
        running = asyncio.create_task(run_slack(engine, config))
        ts = slack.next_ts()
        await slack.socket_send(
            "events_api", event_callback(message_event("hi there", ts=ts, channel="D0ALICE"))
        )
        while not any(p.text == "You said: hi there" for p in slack.posts):
            await asyncio.sleep(0.02)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert slack.calls_to("apps.connections.open")[0].token == slack.app_token


async def test_without_app_token_or_signing_secret_slack_refuses_to_start(
    settings: Settings, slack: FakeSlack
) -> None:
    config = slack_settings(slack, signing_secret=None)
    async with open_engine(settings) as engine:
        with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
            await run_slack(engine, config)
