"""The Store contract suite runs once per backend: every test here takes ``store`` (an open
store on a fresh database) or ``backend`` (to open the same database again, as a restart
would). A new backend adds one entry to BACKENDS (a fresh database's URL, made with the
test's fixtures) and must pass the suite unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.ports import Store
from storage import open_store


@dataclass(frozen=True)
class Backend:
    name: str
    url: str

    async def open(self) -> Store:
        return await open_store(self.url)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Awaitable[str]]] = {}


async def _sqlite(request: pytest.FixtureRequest) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"sqlite:///{tmp_path / 'contract.db'}"


async def _postgresql(request: pytest.FixtureRequest) -> str:
    """A fresh database on the tests' server (tests/postgres_server.py); a skip without one."""
    url: str = await request.getfixturevalue("postgres_server").fresh_database()
    return url


BACKENDS["sqlite"] = _sqlite
BACKENDS["postgresql"] = _postgresql


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.param, await BACKENDS[request.param](request))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()
