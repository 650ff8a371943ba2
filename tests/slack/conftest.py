"""Slack fixtures: the real adapter (slack-bolt + slack_sdk) served over real HTTP on
127.0.0.1, a fake Slack Web API for everything the bot calls, the real engine on a SQLite
file and the real OpenAI SDK against FakeOpenAI.

Requests to the bot are signed with slack_sdk's SignatureVerifier, like Slack signs them.
The message edit/append interval is shortened (0.05 s instead of 1 s): same logic, faster.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.slack.app import SlackBot
from adapters.slack.settings import SlackSettings
from adapters.slack.sink import SlackCaps
from bot.app import open_engine
from bot.config import FileSettings, Settings
from tests.fakes.slack_server import (
    FakeSlack,
    event_callback,
    form_body,
    message_event,
    signed_headers,
)

SECRET = "test-signing-secret"
INTERVAL = 0.05


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        fake.add_user("U0BOB", "Bob")
        yield fake


def slack_settings(slack: FakeSlack, **extra: Any) -> SlackSettings:
    """The adapter's settings for the fake Slack (HTTP mode with a signing secret)."""
    values: dict[str, Any] = {
        "bot_token": slack.bot_token,
        "signing_secret": SECRET,
        "api_url": slack.base_url,
    }
    return SlackSettings(_env_file=None, **(values | extra))  # type: ignore[call-arg]


class Served:
    """The bot's HTTP endpoint plus helpers that post to it as Slack would."""

    def __init__(self, bot: SlackBot, slack: FakeSlack, url: str, http: aiohttp.ClientSession,
                 settings: Settings):
        self.bot = bot
        self.settings = settings  # the core settings: the same database file
        self.slack = slack
        self.url = url
        self.http = http

    async def post(
        self,
        body: str,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        secret: str = SECRET,
    ) -> tuple[int, str]:
        sent = signed_headers(secret, body, content_type=content_type)
        sent.update(headers or {})
        async with self.http.post(self.url + "/slack/events", data=body, headers=sent) as resp:
            return resp.status, await resp.text()

    async def event(self, event: dict[str, Any], *, retry: int = 0, settle: bool = True) -> int:
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        status, _ = await self.post(json.dumps(event_callback(event)), headers=headers if retry else None)
        if settle:
            await self.bot.drain()
        return status

    async def say(self, text: str, **kw: Any) -> str:
        """A user message event (a fresh ts unless given); returns its ts."""
        ts = kw.pop("ts", None) or self.slack.next_ts()
        await self.event(message_event(text, ts=ts, **kw))
        return ts

    async def mention(self, text: str, **kw: Any) -> str:
        """A mention as Slack delivers it: ``app_mention`` and ``message`` for the same ts."""
        ts = kw.pop("ts", None) or self.slack.next_ts()
        full = f"<@{self.slack.bot_user_id}> {text}"
        await self.event(message_event(full, ts=ts, kind="app_mention", **kw), settle=False)
        await self.event(message_event(full, ts=ts, **kw))
        return ts

    async def form(self, payload: dict[str, Any], *, settle: bool = True) -> tuple[int, str]:
        result = await self.post(form_body(payload), content_type="application/x-www-form-urlencoded")
        if settle:
            await self.bot.drain()
        return result


async def serve(settings: Settings, slack: FakeSlack, *, files: FileSettings | None = None,
                **overrides: Any) -> AsyncGenerator[Served]:
    """The adapter in HTTP mode on the core ``settings``, Slack settings ``overrides``."""
    async with open_engine(settings) as engine:
        bot = SlackBot(slack_settings(slack, **overrides), engine, caps=SlackCaps(interval=INTERVAL),
                       files=files or FileSettings(_env_file=None))  # type: ignore[call-arg]
        runner = web.AppRunner(bot.web_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as http:
                yield Served(bot, slack, f"http://127.0.0.1:{port}", http, settings)
            await bot.drain()
        finally:
            await bot.aclose()
            await runner.cleanup()


@pytest.fixture
async def bot(settings: Settings, slack: FakeSlack) -> AsyncIterator[Served]:
    async for served in serve(settings, slack):
        yield served


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Any:
    """Exceptions in bolt listeners and our tasks are logged, not raised: fail on them."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
