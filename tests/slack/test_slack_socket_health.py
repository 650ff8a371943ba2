"""Socket Mode as /healthz sees it, and a connection that dies silently (the fake stops
answering pings without closing): noticed, replaced, and the next event is answered."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.app import run_slack
from bot.app import open_engine
from bot.config import Settings
from tests.fakes.slack_server import FakeSlack, event_callback, message_event
from tests.slack.conftest import slack_settings
from tests.slack.test_slack_conversations import replies


async def until(predicate: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_a_silently_dead_socket_is_reconnected_and_health_says_so(
    settings: Settings, slack: FakeSlack
) -> None:
    config = slack_settings(slack, app_token=slack.app_token, signing_secret=None)
    async with open_engine(settings.model_copy(update={"watchdog_s": 1.0})) as engine:
        running = asyncio.create_task(run_slack(engine, config))
        try:
            await until(lambda: "slack" in engine.health.links
                        and engine.health.links["slack"].connected)
            link = engine.health.links["slack"]
            assert link.mode == "socket"
            await slack.socket_send("events_api", event_callback(
                message_event("hi", ts=slack.next_ts(), channel="D0ALICE")))
            await until(lambda: len(replies(slack)) == 1)
            assert link.last_event > 0

            slack.silence_socket()  # pings go unanswered; the socket stays open
            assert len(slack.calls_to("apps.connections.open")) == 1
            await until(lambda: len(slack.calls_to("apps.connections.open")) == 2)
            await until(lambda: slack.sockets_opened == 2)  # the new socket, not the dead one
            await slack.socket_send("events_api", event_callback(
                message_event("still there?", ts=slack.next_ts(), channel="D0ALICE")))
            await until(lambda: len(replies(slack)) == 2)
            await until(lambda: link.connected)
            ok, report = await engine.health.report()
            assert ok and report["platforms"]["slack"]["mode"] == "socket"
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
