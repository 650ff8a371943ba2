"""Two Slack replicas on one database — HTTP mode behind a load balancer, or each with its
own Socket Mode connection: what one process remembers in memory never decides what the
user sees — the store does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.slack.app import SlackBot
from adapters.slack.sink import SlackCaps
from bot.app import open_engine
from bot.config import Settings
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack, event_callback, message_event
from tests.slack.conftest import INTERVAL, Served, serve, slack_settings
from tests.slack.test_slack_conversations import replies


@asynccontextmanager
async def replicas(settings: Settings, slack: FakeSlack) -> AsyncIterator[tuple[Served, Served]]:
    async with _served(settings, slack) as a, _served(settings, slack) as b:
        yield a, b


@asynccontextmanager
async def _served(settings: Settings, slack: FakeSlack) -> AsyncIterator[Served]:
    serving = serve(settings, slack)
    served = await anext(serving)
    await served.bot.resume()  # as `threadbot run` does: its platform can answer handed-over work
    try:
        yield served
    finally:
        await serving.aclose()


def started(thread_ts: str) -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {"user_id": "U0ALICE", "channel_id": "D0ALICE",
                             "thread_ts": thread_ts, "context": {}},
        "event_ts": thread_ts,
    }


async def test_an_ai_thread_is_greeted_once_and_titled_by_any_replica(
    settings: Settings, slack: FakeSlack, fake_openai: Any
) -> None:
    async with replicas(settings, slack) as (a, b):
        thread_ts = slack.next_ts()
        await a.event(started(thread_ts))
        await b.event(started(thread_ts), retry=1)  # Slack retried it; the balancer chose b
        await b.say("How do I rotate the API keys?", channel="D0ALICE", thread_ts=thread_ts)
    greetings = [p for p in replies(slack) if p.text == a.bot.handlers.greeting]
    assert len(greetings) == 1
    [title] = slack.calls_to("assistant.threads.setTitle")
    assert title["title"] == "How do I rotate the API keys?"


async def test_a_follow_up_on_another_replica_is_answered_after_the_running_reply(
    settings: Settings, slack: FakeSlack, fake_openai: Any
) -> None:
    # long enough that A is still writing when B stores the follow-up
    fake_openai.reply_with(lambda messages: f"on: {messages[-1]['content']} " + "." * 100)
    fake_openai.delay = 0.02
    async with replicas(settings, slack) as (a, b):
        root = slack.next_ts()
        first = asyncio.create_task(a.event(message_event(f"<@{BOT_USER_ID}> first", ts=root)))
        async with asyncio.timeout(5):
            while not any(p.thread_ts == root and p.text for p in replies(slack)):
                await asyncio.sleep(0.01)
        await b.say("second", thread_ts=root)  # b stores it; a holds the thread
        await first
        async with asyncio.timeout(5):
            while len([p for p in replies(slack) if p.thread_ts == root and not p.open]) < 2:
                await asyncio.sleep(0.01)
    shown = [p.text for p in replies(slack) if p.thread_ts == root]
    assert len(shown) == 2 and shown[0].startswith("on: first") and shown[1].startswith("on: second")
    assert len(fake_openai.requests) == 2


async def test_two_socket_mode_replicas_answer_once_whichever_connection_gets_the_event(
    settings: Settings, slack: FakeSlack, fake_openai: Any
) -> None:
    """Two replicas, each with its own Socket Mode connection: Slack sends the mention to
    one and its retry to the other at once, and a follow-up to the one not answering."""
    fake_openai.reply_with(lambda messages: f"on: {messages[-1]['content']} " + "." * 100)
    fake_openai.delay = 0.02
    config = slack_settings(slack, app_token=slack.app_token)
    async with open_engine(settings) as first, open_engine(settings) as second:
        bots = [SlackBot(config, first, caps=SlackCaps(interval=INTERVAL)),
                SlackBot(config, second, caps=SlackCaps(interval=INTERVAL))]
        handlers = [bot.socket_handler() for bot in bots]
        for bot, handler in zip(bots, handlers, strict=True):
            await bot.resume()
            await handler.connect_async()
        try:
            root = slack.next_ts()
            event = event_callback(message_event(f"<@{BOT_USER_ID}> first", ts=root))
            await asyncio.gather(
                slack.socket_send("events_api", event, connection=0),
                slack.socket_send("events_api", event, retry_attempt=1, connection=1),
            )
            async with asyncio.timeout(5):
                while not any(p.thread_ts == root and p.text for p in replies(slack)):
                    await asyncio.sleep(0.01)
            follow = event_callback(message_event("second", ts=slack.next_ts(), thread_ts=root))
            for connection in (0, 1):  # the follow-up reaches both, as a retry would
                await slack.socket_send("events_api", follow, connection=connection)
            async with asyncio.timeout(10):
                while len([p for p in replies(slack) if p.thread_ts == root and not p.open]) < 2:
                    await asyncio.sleep(0.01)
            for bot in bots:
                await bot.drain()
        finally:
            for bot, handler in zip(bots, handlers, strict=True):
                await handler.close_async()
                await bot.aclose()
    shown = [p.text for p in replies(slack) if p.thread_ts == root]
    assert len(shown) == 2 and shown[0].startswith("on: first") and shown[1].startswith("on: second")
    assert len(fake_openai.requests) == 2
