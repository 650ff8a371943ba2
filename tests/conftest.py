"""Shared fixtures: loopback fakes, settings on a real SQLite file, an opened engine.

Everything talks over 127.0.0.1; proxies are cleared because slack_sdk (and httpx2 with
trust_env) would otherwise send loopback traffic to a proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin.config import CAP_ENV, ENV_KEYS
from bot.app import open_engine
from bot.config import Settings
from bot.engine import Engine

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Tests must not depend on the developer's environment or .env file.
_APP_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
             "THREADBOT_CONFIG", *ENV_KEYS, CAP_ENV)


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache-home")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, _cache_home: Path) -> None:
    for name in _PROXY_VARS + _APP_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    # The parsed-encoding cache (bot/encodings.py) goes here, not into the developer's home.
    monkeypatch.setenv("XDG_CACHE_HOME", str(_cache_home))
    # The console's line history (adapters/console_editing.py) too.
    monkeypatch.setenv("XDG_STATE_HOME", str(_cache_home / "state"))


@pytest.fixture
async def fake_openai() -> AsyncIterator[Any]:
    from tests.fakes.openai_server import FakeOpenAI

    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[Any]:
    from tests.fakes.anthropic_server import FakeAnthropic

    async with FakeAnthropic() as fake:
        yield fake


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for tests: no .env, a fresh SQLite file, fast failure."""
    values: dict[str, Any] = {
        "provider": "openai",
        "openai_api_key": "test-key",
        "chain_untrusted": True,  # the fakes keep responses, like api.openai.com
        "db": tmp_path / "threadbot.db",
        "provider_retries": 0,
        "provider_timeout": 5.0,
        "model": "gpt-4o-mini",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path, fake_openai: Any) -> Settings:
    return make_settings(tmp_path, openai_base_url=fake_openai.base_url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with open_engine(settings) as engine:
        yield engine


# --- PostgreSQL (tests/postgres_server.py): a real server, or a skip saying how to get one ---


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """The tests' PostgreSQL server (tests/postgres_server.py), stopped after the session.
    Without one the tests that need it skip — or fail under THREADBOT_TEST_POSTGRES=required."""
    from tests import postgres_server as pg

    try:
        server = pg.shared()
    except pg.Unavailable as exc:
        if pg.required():
            pytest.fail(f"{pg.ENV_REQUIRED}=required, but {exc}", pytrace=False)
        _skipped_postgres.append(pg.skipped_line(str(exc)))
        pytest.skip(_skipped_postgres[0])
    yield server
    pg.stop_shared()


@pytest.fixture
async def postgres_url(postgres_server: Any) -> str:
    """A fresh, empty PostgreSQL database of this test's own."""
    url: str = await postgres_server.fresh_database()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A THREADBOT_DB for each store: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "threadbot.db")
    url: str = await request.getfixturevalue("postgres_server").fresh_database()
    return url


_skipped_postgres: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line, not one per test, when the PostgreSQL tests were skipped."""
    if _skipped_postgres:
        terminalreporter.write_line(_skipped_postgres[0])
