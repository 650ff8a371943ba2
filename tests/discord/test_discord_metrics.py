"""What an operator scrapes from /metrics while the Discord adapter talks to the fake
Discord: turns, replies, and the REST calls Discord refused or rate-limited, by route."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from adapters.common.ops_http import ops_server
from bot.engine import Engine
from tests.discord.conftest import Bot
from tests.fakes.discord_server import FakeDiscord

MESSAGE_PATH = r"/channels/\d+/messages/(\d+)$"


async def scrape(engine: Engine) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with ops_server(engine, "127.0.0.1", 0) as port, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            text = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_refused_and_rate_limited_calls_are_counted_by_route(
    bot: Bot, engine: Engine, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    fake_openai.reply_with("a fairly short answer that streams in a few pieces")
    fake_openai.chunk_size, fake_openai.delay = 10, 0.1
    fake_discord.fail_next("PATCH", MESSAGE_PATH, 429, retry_after=0.2)
    fake_discord.fail_next("POST", r"/threads$", 403, code=50013)
    await fake_discord.say(alice, "hi", mention_bot=True)
    await bot.settle()

    samples = await scrape(engine)
    limited = "PATCH /channels/{id}/messages/{id}"
    assert samples[("threadbot_platform_rate_limited_total",
                    frozenset({("platform", "discord"), ("method", limited)}))] == 1
    refused = "POST /channels/{id}/messages/{id}/threads"
    assert samples[("threadbot_platform_errors_total",
                    frozenset({("platform", "discord"), ("method", refused)}))] == 1
    assert samples[("threadbot_replies_total",
                    frozenset({("outcome", "answered"), ("error_kind", "")}))] == 1
    assert not any(str(alice["id"]) in str(key) for key in samples)
