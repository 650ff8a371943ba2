"""Starting Slack with wrong or missing credentials: one line naming the variable to fix,
exit status 2, no traceback, no token in the output — in HTTP mode and in Socket Mode."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import run_slack
from bot.app import open_engine
from bot.config import Settings
from bot.errors import ConfigError
from tests.fakes.slack_server import FakeSlack, event_callback, message_event
from tests.process import llm_env, threadbot
from tests.slack.conftest import SECRET, slack_settings
from tests.slack.test_slack_conversations import replies

WRONG_BOT = "xoxb-1234-wrong-bot-token"
WRONG_APP = "xapp-1-wrong-app-token"


async def start(settings: Settings, config: Any) -> None:
    async with open_engine(settings) as engine:
        await asyncio.wait_for(run_slack(engine, config), 10)


async def test_a_refused_bot_token_stops_http_mode_at_start(settings: Settings, slack: FakeSlack) -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN") as refused:
        await start(settings, slack_settings(slack, bot_token=WRONG_BOT, http_port=0))
    assert WRONG_BOT not in str(refused.value) and "\n" not in str(refused.value)
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_a_refused_app_token_stops_socket_mode_before_it_connects(
    settings: Settings, slack: FakeSlack
) -> None:
    for app_token, code in ((WRONG_APP, "invalid_auth"), (slack.bot_token, "not_allowed_token_type")):
        with pytest.raises(ConfigError, match=f"SLACK_APP_TOKEN \\({code}\\)") as refused:
            await start(settings, slack_settings(slack, app_token=app_token, signing_secret=None))
        assert app_token not in str(refused.value)
    assert not slack.socket_connected.is_set()


async def test_socket_mode_asks_for_its_url_once(settings: Settings, slack: FakeSlack) -> None:
    config = slack_settings(slack, app_token=slack.app_token, signing_secret=None)
    async with open_engine(settings) as engine:
        running = asyncio.create_task(run_slack(engine, config))
        await slack.socket_send("events_api", event_callback(message_event("hi", ts=slack.next_ts(),
                                                                           channel="D0ALICE")))
        while not replies(slack):
            await asyncio.sleep(0.02)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert len(slack.calls_to("apps.connections.open")) == 1


async def test_a_bot_token_alone_names_both_ways_to_connect(settings: Settings, slack: FakeSlack) -> None:
    with pytest.raises(ConfigError) as missing:
        await start(settings, slack_settings(slack, signing_secret=None))
    assert "SLACK_APP_TOKEN" in str(missing.value) and "SLACK_SIGNING_SECRET" in str(missing.value)
    assert not slack.calls


@pytest.mark.parametrize(
    ("extra", "variables", "token"),
    [
        ({"SLACK_BOT_TOKEN": WRONG_BOT, "SLACK_SIGNING_SECRET": SECRET}, ["SLACK_BOT_TOKEN"], WRONG_BOT),
        ({"SLACK_APP_TOKEN": WRONG_APP}, ["SLACK_APP_TOKEN"], WRONG_APP),
        ({}, ["SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"], ""),  # the bot token alone
    ],
)
async def test_threadbot_run_with_bad_slack_credentials_is_one_line_and_exit_2(
    tmp_path: Path, fake_openai: Any, slack: FakeSlack, extra: dict[str, str], variables: list[str],
    token: str,
) -> None:
    env = llm_env(fake_openai, tmp_path) | {
        "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_API_URL": slack.base_url,
        "THREADBOT_HTTP_HOST": "127.0.0.1", "THREADBOT_HTTP_PORT": "0",
    } | extra
    code, out, err = await threadbot("run", cwd=tmp_path, env=env)
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and all(v in err for v in variables), err
    assert "Traceback" not in err
    assert not token or token not in err
    assert slack.bot_token not in err
