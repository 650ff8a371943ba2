"""The small /metrics + /healthz server (THREADBOT_METRICS_PORT), and /healthz's verdicts:
a store that fails or stops answering is a 503 with the reason, and a slow store never slows
the answer down past the first check."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.common.ops_http import ops_server
from adapters.slack.app import run_slack
from adapters.slack.settings import SlackSettings
from bot.app import open_engine
from bot.engine import Engine
from bot.health import Health
from bot.types import Turn
from tests.conftest import make_settings
from tests.fakes.slack_server import FakeSlack, event_callback, message_event, signed_headers
from tests.helpers import RecordingSink
from tests.process import child_env, command, llm_env
from tests.test_logs import KEY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def get(url: str) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body, await resp.text()


async def test_metrics_port_serves_metrics_and_health(tmp_path: Path, fake_openai: Any) -> None:
    port = free_port()
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, metrics_port=port,
                             metrics_host="127.0.0.1")
    async with open_engine(settings) as engine:
        await engine.handle(Turn(key=KEY, message_id="m1", author_id="U1", author_name="A",
                                 text="hello"), RecordingSink())
        status, report, _ = await get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and report["ok"] is True and report["store"]["ok"] is True
        status, _, text = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and 'threadbot_turns_total{platform="console"} 1.0' in text
    with pytest.raises(aiohttp.ClientConnectionError):  # closed with the engine
        await get(f"http://127.0.0.1:{port}/healthz")


async def test_the_same_port_as_slacks_http_mode_is_one_server_serving_both(
    tmp_path: Path, fake_openai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    async with FakeSlack() as slack:
        for name, value in {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": "s3cret",
                            "SLACK_API_URL": slack.base_url, "THREADBOT_HTTP_PORT": str(port),
                            "THREADBOT_HTTP_HOST": "127.0.0.1"}.items():
            monkeypatch.setenv(name, value)
        settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                                 metrics_port=port, metrics_host="127.0.0.1")
        async with open_engine(settings) as engine:
            running = asyncio.create_task(run_slack(engine, SlackSettings.load()))
            try:
                await _until_up(f"http://127.0.0.1:{port}/healthz", running)
                event = event_callback(message_event("hi", ts=slack.next_ts(), channel="D0ALICE"))
                body = json.dumps(event)
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body,
                                         headers=signed_headers("s3cret", body)) as resp:
                        assert resp.status == 200
                _, _, text = await get(f"http://127.0.0.1:{port}/metrics")
                assert 'threadbot_turns_total{platform="slack"} 1.0' in text
                _, report, _ = await get(f"http://127.0.0.1:{port}/healthz")
                assert report["platforms"]["slack"]["mode"] == "http"
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)


async def _until_up(url: str, running: asyncio.Task[None]) -> None:
    for _ in range(200):
        if running.done():
            running.result()
        try:
            if (await get(url))[0] == 200:
                return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.02)
    raise AssertionError("never served")


@pytest.fixture
async def served(engine: Engine) -> AsyncIterator[tuple[Engine, str]]:
    async with ops_server(engine, "127.0.0.1", 0) as port:
        yield engine, f"http://127.0.0.1:{port}/healthz"


async def test_a_failing_store_is_a_503_with_the_reason(served: tuple[Engine, str]) -> None:
    engine, url = served

    async def broken() -> None:
        raise OSError("disk I/O error")

    engine.health = Health(probe=broken)
    status, report, _ = await get(url)  # starts the first check
    assert status == 503 and report["reason"] == "store: not checked yet"
    await asyncio.sleep(0.05)
    status, report, _ = await get(url)
    assert status == 503 and report["ok"] is False
    assert report["reason"] == "store: the check failed (OSError)"


async def test_a_store_that_stops_answering_is_a_503_and_healthz_stays_fast(
    served: tuple[Engine, str],
) -> None:
    engine, url = served
    answer = asyncio.Event()
    answer.set()

    async def store() -> None:
        await answer.wait()

    engine.health = Health(probe=store, timeout=0.5)
    engine.health.store_answered()  # as at start-up
    assert (await get(url))[0] == 200
    answer.clear()  # the store hangs from now on
    await asyncio.sleep(1.1)  # the cached result is stale: the next request starts a check
    started = time.perf_counter()
    status, _, _ = await get(url)
    assert status == 200 and time.perf_counter() - started < 0.1  # answered from the cache
    await asyncio.sleep(0.6)  # the check has now been pending past the timeout
    started = time.perf_counter()
    status, report, _ = await get(url)
    assert time.perf_counter() - started < 0.1
    assert status == 503 and report["reason"] == "store: no answer within 0.5 s"
    answer.set()
    await asyncio.sleep(1.1)
    await get(url)  # starts a fresh check, which answers
    await asyncio.sleep(0.05)
    assert (await get(url))[0] == 200


async def test_a_platform_that_is_down_is_a_503(served: tuple[Engine, str]) -> None:
    engine, url = served
    engine.health.link("discord", "gateway").down("gateway not ready")
    status, report, _ = await get(url)
    assert status == 503 and report["reason"] == "discord: gateway not ready"
    engine.health.link("discord", "gateway").up()
    assert (await get(url))[0] == 200


async def test_healthz_is_503_while_slack_is_still_connecting(
    tmp_path: Path, fake_openai: Any
) -> None:
    """`threadbot run` in Socket Mode whose Slack answers slowly at start: /healthz must not
    say healthy before the connection is up (a readiness probe would route to it)."""
    port = free_port()
    async with FakeSlack() as slack:
        slack.delays["auth.test"] = 3.0
        env = {**llm_env(fake_openai, tmp_path), "SLACK_BOT_TOKEN": slack.bot_token,
               "SLACK_APP_TOKEN": slack.app_token, "SLACK_API_URL": slack.base_url,
               "THREADBOT_METRICS_PORT": str(port), "THREADBOT_METRICS_HOST": "127.0.0.1"}
        proc = await asyncio.create_subprocess_exec(
            *command("run"), cwd=tmp_path, env=child_env(env),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            status, report = None, None
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    status, report, _ = await get(url)
                    break
                await asyncio.sleep(0.05)
            assert status == 503 and report is not None, report
            assert report["platforms"]["slack"] == {"ok": False, "mode": "socket",
                                                   "last_event_seconds_ago": None,
                                                   "reason": "not connected yet"}
            await asyncio.wait_for(slack.socket_connected.wait(), 20)
            for _ in range(100):
                status, report, _ = await get(url)
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200 and report["platforms"]["slack"]["ok"] is True
        finally:
            proc.kill()
            await proc.wait()


async def test_a_metrics_port_in_use_is_one_line_and_exit_status_2(
    tmp_path: Path, fake_openai: Any
) -> None:
    from tests.process import threadbot

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**llm_env(fake_openai, tmp_path), "THREADBOT_METRICS_PORT": str(port),
               "THREADBOT_METRICS_HOST": "127.0.0.1"}
        code, out, err = await threadbot("console", cwd=tmp_path, env=env, stdin="hi\n")
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err == (f"threadbot: THREADBOT_METRICS_PORT={port}: cannot listen on 127.0.0.1:{port} "
                   "(address already in use): stop what uses it, or choose another port.\n")


async def test_slacks_http_port_in_use_is_one_line_not_a_restart_loop(
    tmp_path: Path, fake_openai: Any
) -> None:
    from tests.process import threadbot

    async with FakeSlack() as slack:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = {**llm_env(fake_openai, tmp_path), "SLACK_BOT_TOKEN": slack.bot_token,
                   "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL": slack.base_url,
                   "THREADBOT_HTTP_PORT": str(port), "THREADBOT_HTTP_HOST": "127.0.0.1"}
            code, _, err = await threadbot("run", cwd=tmp_path, env=env, deadline=20)
    assert code == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1] == (
        f"threadbot: THREADBOT_HTTP_PORT={port}: cannot listen on 127.0.0.1:{port} (address "
        "already in use): stop what uses it, or choose another port.")
