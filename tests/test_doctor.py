"""`threadbot doctor` as an admin runs it: a child process against the fake OpenAI, Slack and
Discord (their real SDKs and wire formats), one ✓/✗ line per check, exit status 1 on any ✗."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.slack.doctor import MANIFEST_SCOPES
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack
from tests.process import ROOT, child_env, command, llm_env, threadbot

MESSAGE_CONTENT = 1 << 18  # Discord's ApplicationFlags.gateway_message_content


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.app_flags = MESSAGE_CONTENT
        yield fake


def platforms_env(slack: FakeSlack, discord: FakeDiscord) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_URL": slack.base_url, "DISCORD_BOT_TOKEN": discord.token,
            "DISCORD_API_URL": discord.api_url}


def lines(out: str) -> dict[str, str]:
    """Each line by the name of its check: {"provider": "✓ openai at …"}."""
    found = {}
    for line in out.splitlines():
        mark, name, detail = re.match(r"(\S+) ([^:]+): (.*)", line).groups()  # type: ignore[union-attr]
        found[name] = f"{mark} {detail}"
    return found


async def test_everything_configured_and_working(
    tmp_path: Path, fake_openai: Any, slack: FakeSlack, discord: FakeDiscord
) -> None:
    env = {**llm_env(fake_openai, tmp_path), **platforms_env(slack, discord)}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 0, out + err
    found = lines(out)
    assert list(found) == ["configuration", "database", "provider", "Slack bot token",
                           "Slack scopes", "Slack mode", "Discord token", "Discord intents",
                           "Discord invite"], out
    assert all(line.startswith("✓ ") for line in found.values()), out
    assert found["database"].startswith(f"✓ SQLite {tmp_path / 'bot.db'}: writable")
    assert f"openai at {fake_openai.base_url}, model gpt-4.1-mini: answered" in found["provider"]
    assert "Socket Mode" in found["Slack mode"]
    assert f"client_id={discord.app_id}" in found["Discord invite"]
    assert fake_openai.requests[-1].json["messages"][-1]["content"] == "ping"
    assert slack.posts == [] and err == ""
    for secret in ("test-key", slack.bot_token, slack.app_token, discord.token):
        assert secret not in out

    # Run again: the schema is current now.
    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert "schema current" in lines(out)["database"]


async def test_each_failure_is_its_own_line_and_the_status_is_1(
    tmp_path: Path, slack: FakeSlack, discord: FakeDiscord
) -> None:
    slack.scopes = "chat:write,commands"
    discord.app_flags = 0
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k",
           "THREADBOT_PROVIDER_RETRIES": "0", "THREADBOT_DB": str(tmp_path),  # a folder
           **platforms_env(slack, discord), "SLACK_APP_TOKEN": "xapp-revoked"}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1, out + err
    found = lines(out)
    assert found["configuration"].startswith("✓")
    assert found["database"].startswith(f"✗ THREADBOT_DB={tmp_path} is a directory")
    assert found["provider"].startswith("✗ openai at http://127.0.0.1:9/v1, model gpt-4.1-mini: "
                                        "unavailable")
    assert found["Slack bot token"].startswith("✓")
    assert found["Slack scopes"].startswith("✗ the token lacks app_mentions:read, assistant:write")
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in found["Slack mode"]
    assert found["Discord intents"].startswith("✗ the Message Content intent is off")
    assert "Traceback" not in err


async def test_refused_tokens_and_http_mode(
    tmp_path: Path, fake_openai: Any, slack: FakeSlack, discord: FakeDiscord
) -> None:
    env = {**llm_env(fake_openai, tmp_path), "SLACK_BOT_TOKEN": slack.bot_token,
           "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL": slack.base_url,
           "DISCORD_BOT_TOKEN": "wrong", "DISCORD_API_URL": discord.api_url}
    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1
    found = lines(out)
    assert found["Slack mode"].startswith("✓ HTTP (SLACK_SIGNING_SECRET set")
    assert found["Discord token"].startswith("✗ Discord rejected DISCORD_BOT_TOKEN")
    assert "Discord invite" not in found

    env["SLACK_BOT_TOKEN"] = "xoxb-revoked"
    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert lines(out)["Slack bot token"].startswith(
        f"✗ Slack at {slack.base_url} refused SLACK_BOT_TOKEN (invalid_auth): set it")


async def test_unconfigured_platforms_are_no_failure_and_ascii_without_utf8(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = {**llm_env(fake_openai, tmp_path), "PYTHONIOENCODING": "ascii"}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 0, out + err
    found = lines(out)
    assert found["Slack"] == "-- not configured (set SLACK_BOT_TOKEN with SLACK_APP_TOKEN " \
        "(Socket Mode) or SLACK_SIGNING_SECRET (HTTP))"
    assert found["Discord"] == "-- not configured (set DISCORD_BOT_TOKEN)"
    assert found["provider"].startswith("ok ")


async def test_a_bad_setting_is_a_line_and_the_rest_still_checked(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = {**llm_env(fake_openai, tmp_path), "THREADBOT_CONTEXT_TOKENS": "lots"}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1, err
    found = lines(out)
    assert found["configuration"].startswith("✗ Invalid setting THREADBOT_CONTEXT_TOKENS")
    assert found["Slack"].startswith("– not configured")

    code, out, _ = await threadbot("doctor", cwd=tmp_path, env={"THREADBOT_DB": "bot.db"})
    assert code == 1
    assert lines(out)["provider"].startswith("✗ No LLM credentials: set OPENAI_API_KEY")


async def test_a_database_from_a_newer_threadbot_is_refused(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = llm_env(fake_openai, tmp_path)
    await threadbot("doctor", cwd=tmp_path, env=env)  # creates and migrates it
    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute("INSERT INTO _migrations VALUES ('999_from_the_future', datetime('now'))")
    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1
    assert lines(out)["database"].startswith(
        f"✗ {tmp_path / 'bot.db'} was migrated by a newer threadbot (999_from_the_future)")


def test_the_scopes_checked_are_the_manifests() -> None:
    text = (ROOT / "slack-manifest.yaml").read_text()
    block = text.split("  scopes:\n    bot:\n", 1)[1]
    listed = re.findall(r"^      - ([\w:.]+)", block.split("\nsettings:", 1)[0], flags=re.M)
    assert set(listed) == MANIFEST_SCOPES


async def test_anthropic_is_called_and_a_refused_key_names_the_server(
    tmp_path: Path, fake_anthropic: Any
) -> None:
    env = {"THREADBOT_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "test-key",
           "ANTHROPIC_BASE_URL": fake_anthropic.base_url, "THREADBOT_DB": str(tmp_path / "bot.db"),
           "THREADBOT_PROVIDER_RETRIES": "0"}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 0, out + err
    assert lines(out)["provider"] == \
        f"✓ anthropic at {fake_anthropic.base_url}, model claude-sonnet-4-6: answered"

    fake_anthropic.fail_next(401)
    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1
    assert lines(out)["provider"].startswith(
        f"✗ anthropic at {fake_anthropic.base_url}, model claude-sonnet-4-6: auth")


async def test_postgresql_is_checked_without_showing_its_password(
    tmp_path: Path, fake_openai: Any, postgres_url: str
) -> None:
    env = {**llm_env(fake_openai, tmp_path), "THREADBOT_DB": postgres_url}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 0, out + err
    password = urlsplit(postgres_url).password
    assert password and password not in out + err
    database = lines(out)["database"]
    assert database.startswith("✓ PostgreSQL postgresql://postgres:***@"), database
    assert "connected" in database and "migration(s) applied" in database

    code, out, _ = await threadbot("doctor", cwd=tmp_path, env=env)
    assert "schema current" in lines(out)["database"]


async def test_a_slack_url_that_is_not_slack_is_a_line_not_a_traceback(
    tmp_path: Path, fake_openai: Any
) -> None:
    """A wrong SLACK_API_URL that answers HTTP 404 with a page, not Slack's JSON."""
    wrong = f"{fake_openai.base_url}/"
    env = {**llm_env(fake_openai, tmp_path), "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN":
           "xapp-1", "SLACK_API_URL": wrong}
    code, out, err = await threadbot("doctor", cwd=tmp_path, env=env)
    assert code == 1 and "Traceback" not in err, err
    assert lines(out)["Slack bot token"] == f"✗ Slack at {wrong} refused SLACK_BOT_TOKEN (HTTP 404)"
    log = tmp_path / "run.log"
    with log.open("wb") as sink:  # `run` keeps going (Slack may come back): read its log
        proc = await asyncio.create_subprocess_exec(*command("run"), cwd=tmp_path,
                                                    env=child_env(env), stderr=sink)
    try:
        for _ in range(300):
            text = log.read_text()
            if "apps.connections.open failed" in text or proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.kill()
        await proc.wait()
    assert proc.returncode == -9  # still up, retrying (as when Slack is down), not crashed
    assert "Slack auth.test failed at start-up: HTTP 404" in text, text
