"""THREADBOT_RETENTION_DAYS: the upkeep of every running process deletes messages older than
that, each message once however many replicas run it, and says how many in the log. Off by
default. Two engines on one database stand for two replicas, on each store."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import upkeep
from bot.app import open_engine
from bot.types import NewMessage, ThreadKey, utcnow
from storage import open_store
from tests.conftest import make_settings
from tests.test_engine_trust import Resumed

KEYS = [ThreadKey("slack", "T1", "C1", f"{i}.0") for i in range(3)]


async def populate(db: str) -> None:
    store = await open_store(db)
    try:
        for i, key in enumerate(KEYS):
            thread = await store.ensure_thread(key, "replay")
            await store.add(thread, NewMessage(role="user", content="old", tokens=1,
                                               platform_message_id=f"o{i}",
                                               at=utcnow() - timedelta(days=100)))
            await store.add(thread, NewMessage(role="user", content="new", tokens=1,
                                               platform_message_id=f"n{i}"))
    finally:
        await store.close()


async def contents(db: str) -> list[str]:
    store = await open_store(db)
    try:
        return [m.content for key in KEYS for _, m in await store.history(key)]
    finally:
        await store.close()


async def test_replicas_delete_old_messages_once_and_log_how_many(
    tmp_path: Path, fake_openai: Any, database: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(upkeep, "RETAIN_EVERY_S", 0.05)
    await populate(database)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database,
                             retention_days=90)
    caplog.set_level(logging.INFO, logger="bot.upkeep")
    async with open_engine(settings) as a, open_engine(settings) as b:
        await a.resume("slack", Resumed())
        await b.resume("slack", Resumed())
        async with asyncio.timeout(10):
            while "old" in await contents(database):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a few more runs: nothing left to delete, nothing logged
    assert await contents(database) == ["new"] * 3
    counts = [int(m.group(1)) for r in caplog.records
              if (m := re.match(r"retention: deleted (\d+) message", r.getMessage()))]
    assert sum(counts) == 3 and all(counts)


async def test_retention_is_off_by_default(
    tmp_path: Path, fake_openai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upkeep, "RETAIN_EVERY_S", 0.05)
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url)
    assert settings.retention_days is None
    await populate(settings.db)
    async with open_engine(settings) as engine:
        await engine.resume("slack", Resumed())
        await asyncio.sleep(0.3)
    assert await contents(settings.db) == ["old", "new"] * 3


async def test_a_started_bot_deletes_old_messages_without_waiting_an_hour(
    tmp_path: Path, fake_openai: Any
) -> None:
    """`threadbot run` with retention on: what is already too old goes at start, not only an
    hour later (a process restarted more often than hourly would never delete anything)."""
    from tests.fakes.slack_server import FakeSlack
    from tests.harness import bot_env, free_port, running

    async with FakeSlack() as slack:
        env = bot_env(tmp_path, slack, fake_openai, THREADBOT_RETENTION_DAYS="90")
        await populate(env["THREADBOT_DB"])
        async with running(env, free_port(), quiet=True), asyncio.timeout(10):
            while "old" in await contents(env["THREADBOT_DB"]):
                await asyncio.sleep(0.1)
    assert await contents(env["THREADBOT_DB"]) == ["new"] * 3
