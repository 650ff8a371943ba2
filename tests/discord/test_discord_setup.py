"""Set-up as an admin meets it: the invite URL, a refused intent, a wrong token."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import discord
import pytest
from pydantic import SecretStr

from adapters.discord.connection import run_discord
from adapters.discord.settings import DiscordSettings
from adapters.discord.setup import discord_endpoints, fetch_application_id, invite_url, print_invite
from bot.engine import Engine
from bot.errors import ConfigError
from tests.fakes.discord_server import FakeDiscord
from tests.process import llm_env, threadbot


def test_invite_url_asks_for_the_scopes_and_permissions_the_bot_uses() -> None:
    url = urlsplit(invite_url(1234))
    query = parse_qs(url.query)
    assert url.netloc == "discord.com" and url.path == "/oauth2/authorize"
    assert query["client_id"] == ["1234"]
    assert query["scope"][0].split() == ["bot", "applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted.view_channel and granted.send_messages and granted.read_message_history
    assert granted.create_public_threads and granted.send_messages_in_threads
    assert not granted.administrator and not granted.mention_everyone


async def test_discord_invite_prints_the_url_for_the_tokens_application(
    discord_settings: DiscordSettings, fake_discord: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await fetch_application_id(discord_settings) == fake_discord.app_id
    await print_invite(discord_settings)
    assert capsys.readouterr().out.strip() == invite_url(fake_discord.app_id)


async def test_a_wrong_token_is_one_clear_line(
    discord_settings: DiscordSettings, engine: Engine, fake_discord: FakeDiscord
) -> None:
    wrong = discord_settings.model_copy(update={"bot_token": SecretStr("nope")})
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
        await fetch_application_id(wrong)
    with pytest.raises(ConfigError, match="rejected DISCORD_BOT_TOKEN"):
        await run_discord(engine, wrong)


async def test_discord_invite_without_discord_is_one_clear_line(
    discord_settings: DiscordSettings, fake_discord: FakeDiscord
) -> None:
    await fake_discord.__aexit__(None, None, None)  # Discord is unreachable
    with pytest.raises(ConfigError, match="Could not reach Discord"):
        await fetch_application_id(discord_settings)


async def test_refused_message_content_intent_exits_with_one_clear_line(
    discord_settings: DiscordSettings, engine: Engine
) -> None:
    async with FakeDiscord(refuse_privileged=True) as fake:
        configured = discord_settings.model_copy(update={
            "bot_token": SecretStr(fake.token), "api_url": fake.api_url,
            "gateway_url": fake.gateway_url})
        with pytest.raises(ConfigError) as refused:
            await run_discord(engine, configured)
    line = str(refused.value)
    assert "\n" not in line and "Message Content Intent" in line
    assert "discord.com/developers/applications" in line
    assert fake.identifies[0]["intents"] & (1 << 15)  # it did ask for message content


def test_endpoints_are_restored_after_use() -> None:
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with discord_endpoints("http://127.0.0.1:9/api/v10/", "ws://127.0.0.1:9/gateway"):
        assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/gateway"
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before
    assert before[0] == "https://discord.com/api/v10"




async def test_an_api_url_that_is_not_discord_is_one_line_not_a_restart_loop(
    tmp_path: Path, fake_openai: Any
) -> None:
    """DISCORD_API_URL pointing at another server (it answers 404 to GET /users/@me)."""
    wrong = f"{fake_openai.base_url}/api/v10"
    env = {**llm_env(fake_openai, tmp_path), "DISCORD_BOT_TOKEN": "a.b.c", "DISCORD_API_URL": wrong}
    code, out, err = await threadbot("run", cwd=tmp_path, env=env, deadline=20)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err == (f"threadbot: Discord at {wrong} answered HTTP 404 to GET /users/@me: check "
                   "DISCORD_API_URL (it is the REST API's base, e.g. https://discord.com/api/v10).\n")
