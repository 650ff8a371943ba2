"""`threadbot run` as a real child process serving Slack over HTTP, for tests and benchmarks
that stop it the ways production does (SIGTERM, kill -9) and start it again."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.slack_server import FakeSlack, event_callback, message_event, signed_headers
from tests.process import ROOT, child_env, command

SECRET = "restart-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Bot:
    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    async def post_event(self, text: str, ts: str, *, retry: int = 0, **kw: Any) -> int:
        """Deliver a message event as Slack does (signed; a retry says so); the status."""
        return await post_event(self.url, text, ts, retry=retry, **kw)


async def post_event(url: str, text: str, ts: str, *, retry: int = 0, **kw: Any) -> int:
    body = json.dumps(event_callback(message_event(text, ts=ts, **kw)))
    headers = signed_headers(SECRET, body)
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"})
    async with aiohttp.ClientSession() as http, http.post(
        url + "/slack/events", data=body, headers=headers
    ) as resp:
        return resp.status


@asynccontextmanager
async def running(env: dict[str, str], port: int, *, quiet: bool = False) -> AsyncIterator[Bot]:
    """``threadbot run`` with ``env`` on ``port`` until the block ends (then killed if alive).
    Its log goes to a file beside the database (a pipe nobody reads would fill up and stall
    it) and is printed at the end — pytest shows it for a failing test — unless ``quiet``."""
    clean = child_env({**env, "THREADBOT_HTTP_HOST": "127.0.0.1",
                       "THREADBOT_HTTP_PORT": str(port)})
    db = env["THREADBOT_DB"]  # the log beside a SQLite file; a server database: a temp dir
    folder = Path(tempfile.mkdtemp(prefix="threadbot-log-")) if "://" in db else Path(db).parent
    log_path = folder / f"threadbot.{port}.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *command("run"), env=clean, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _until_serving(url)
        yield Bot(proc, url)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        if not quiet:
            print(log_path.read_text(errors="replace"))


async def _until_serving(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("threadbot never served /healthz")


def bot_env(tmp_path: Path, slack: FakeSlack, fake_openai: Any, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "k",
        "THREADBOT_PROVIDER_RETRIES": "0", "THREADBOT_DB": str(tmp_path / "bot.db"),
        "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.base_url, **extra,
    }
