"""`threadbot run` keeps every platform serving: one that fails is started again with
backoff and never takes the others down; only a configuration error ends the process; a
signal lets replies finish first. Platforms here are small implementations of the
``Platform`` port (the real ones need network peers; tests/test_restarts.py drives those)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot import serving
from bot.app import open_engine
from bot.engine import Engine
from bot.errors import ConfigError
from bot.platform import Check, PlatformCommand
from tests.conftest import make_settings


@dataclass
class Flaky:
    """Fails ``failures`` times, then serves until cancelled."""

    name: str
    failures: int = 0
    error: Exception = field(default_factory=lambda: RuntimeError("gateway broke"))
    how_to_enable: str = "nothing"
    sdk_loggers: tuple[str, ...] = ()
    commands: Sequence[PlatformCommand[None]] = ()
    starts: int = 0
    serving: asyncio.Event = field(default_factory=asyncio.Event)

    def load_settings(self) -> None:
        return None

    def enabled(self, settings: None) -> bool:
        return True

    async def run(self, engine: Engine, settings: None) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise self.error
        self.serving.set()
        await asyncio.Event().wait()

    async def doctor(self, settings: None) -> Sequence[Check]:
        return ()


@pytest.fixture(autouse=True)
def _fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "RESTART_DELAYS", (0.01, 0.02))


async def test_a_failing_platform_is_restarted_and_the_others_keep_serving(
    tmp_path: Path, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url)
    steady, flaky = Flaky("steady"), Flaky("flaky", failures=3)
    async with open_engine(settings) as engine:
        running = asyncio.create_task(
            serving.serve(engine, [(steady, None), (flaky, None)], grace=1))
        await asyncio.wait_for(flaky.serving.wait(), 5)
        assert steady.starts == 1 and flaky.starts == 4  # three failures, started again
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, 5)


async def test_a_configuration_error_ends_serving_with_that_error(
    tmp_path: Path, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url)
    bad = Flaky("bad", failures=1, error=ConfigError("Set THE_TOKEN."))
    steady = Flaky("steady")
    async with open_engine(settings) as engine:
        with pytest.raises(ConfigError, match="THE_TOKEN"):
            await asyncio.wait_for(serving.serve(engine, [(steady, None), (bad, None)], grace=1), 5)
    assert bad.starts == 1
