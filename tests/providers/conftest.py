"""Provider fixtures: each provider built by make_provider with its real SDK client, pointed
at a loopback fake. ``backend`` runs a test once per provider; retries are off and timeouts
short unless a test asks otherwise, so the error tests stay fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.errors import ProviderError
from bot.ports import Provider
from bot.providers.factory import make_provider
from bot.types import ChatMessage, Completion, Request
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-secret-key"
PROVIDERS = ("openai", "openai-responses", "anthropic")


def make_request(*texts: str, system: str = "Be brief.", **fields: Any) -> Request:
    """A request whose messages alternate user/assistant, starting with the user."""
    messages = tuple(ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(texts))
    values: dict[str, Any] = {"model": "test-model", "max_output_tokens": 64}
    values.update(fields)
    return Request(system=system, messages=messages, **values)


async def collect(provider: Provider, request: Request) -> tuple[list[str], Completion]:
    """All deltas and the Completion, checking the stream's shape on the way."""
    items = [item async for item in provider.stream(request)]
    *deltas, last = items
    assert isinstance(last, Completion), items
    assert all(isinstance(d, str) and d for d in deltas), items
    return [str(d) for d in deltas], last


async def failure(provider: Provider, request: Request) -> tuple[list[str], ProviderError]:
    """The deltas received before the stream raised, and the ProviderError it raised."""
    deltas: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for item in provider.stream(request):
            assert isinstance(item, str), "a Completion arrived before the failure"
            deltas.append(item)
    return deltas, caught.value


@dataclass
class Backend:
    name: str
    fake: Any  # FakeOpenAI | FakeAnthropic: the same scripting API
    tmp_path: Path
    opened: list[Provider] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "provider": self.name,
            "db": self.tmp_path / "t.db",
            "provider_retries": 0,
            "provider_timeout": 5.0,
        }
        if self.name == "anthropic":
            values.update(anthropic_api_key=KEY, anthropic_base_url=self.fake.base_url)
        else:
            values.update(openai_api_key=KEY, openai_base_url=self.fake.base_url)
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def provider(self, **overrides: Any) -> Provider:
        provider = make_provider(self.settings(**overrides))
        self.opened.append(provider)
        return provider

    @property
    def path(self) -> str:
        return {"openai": "/v1/chat/completions", "openai-responses": "/v1/responses"}.get(
            self.name, "/v1/messages"
        )


async def _backend(name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    fake = FakeAnthropic() if name == "anthropic" else FakeOpenAI()
    async with fake:
        backend = Backend(name, fake, tmp_path)
        try:
            yield backend
        finally:
            for provider in backend.opened:
                await provider.aclose()


@pytest.fixture(params=PROVIDERS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for value in _backend(request.param, tmp_path):
        yield value


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Backend]:
    async for value in _backend("openai", tmp_path):
        yield value


@pytest.fixture
async def responses(tmp_path: Path) -> AsyncIterator[Backend]:
    async for value in _backend("openai-responses", tmp_path):
        yield value


@pytest.fixture
async def claude(tmp_path: Path) -> AsyncIterator[Backend]:
    async for value in _backend("anthropic", tmp_path):
        yield value
