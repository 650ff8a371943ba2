"""The Store contract suite runs once per backend: every test here takes ``store`` (an open
store on a fresh database) or ``backend`` (to open the same database again, as a restart
would). A new backend adds one entry to BACKENDS and must pass the suite unchanged."""

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


BACKENDS: dict[str, Callable[[Path], Awaitable[str]]] = {}


async def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'contract.db'}"


BACKENDS["sqlite"] = _sqlite


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(request.param, await BACKENDS[request.param](tmp_path))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()
