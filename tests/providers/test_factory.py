"""make_provider: which provider, which client settings, and one clear line when unset."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from bot.providers.anthropic import AnthropicProvider
from bot.providers.factory import PLACEHOLDER_KEY, make_provider, token_param_for
from bot.providers.openai_chat import OpenAIChatProvider
from bot.providers.openai_responses import OpenAIResponsesProvider
from tests.providers.conftest import Backend, collect, make_request


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, db=tmp_path / "t.db", **values)  # type: ignore[arg-type, call-arg]


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic"])
def test_missing_credentials_is_one_config_line(tmp_path: Path, provider: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_provider(settings(tmp_path, provider=provider))
    message = str(caught.value)
    assert "\n" not in message
    assert ("ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY") in message


@pytest.mark.parametrize(
    ("name", "cls", "chain"),
    [
        ("openai", OpenAIChatProvider, False),
        ("openai-responses", OpenAIResponsesProvider, True),
        ("anthropic", AnthropicProvider, False),
    ],
)
async def test_the_configured_provider_with_timeout_and_retries(
    tmp_path: Path, name: str, cls: type, chain: bool
) -> None:
    provider = make_provider(
        settings(
            tmp_path,
            provider=name,
            openai_api_key="k",
            anthropic_api_key="k",
            provider_timeout=7.5,
            provider_retries=3,
        )
    )
    try:
        assert isinstance(provider, cls)
        assert provider.name == name and provider.supports_chain is chain
        client = provider._client  # type: ignore[attr-defined]
        assert client.max_retries == 3 and client.timeout == 7.5
    finally:
        await provider.aclose()
    assert client.is_closed()


async def test_a_local_server_needs_no_key(chat: Backend) -> None:
    provider = make_provider(settings(chat.tmp_path, openai_base_url=chat.fake.base_url, provider_retries=0))
    try:
        _, completion = await collect(provider, make_request("hi"))
    finally:
        await provider.aclose()
    assert completion.text == "You said: hi"
    assert chat.fake.requests[0].headers["Authorization"] == f"Bearer {PLACEHOLDER_KEY}"


@pytest.mark.parametrize(
    ("base_url", "param"),
    [
        (None, "max_completion_tokens"),
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("http://localhost:11434/v1", "max_tokens"),
        ("http://vllm.internal:8000/v1", "max_tokens"),
    ],
)
def test_token_parameter_by_server(base_url: str | None, param: str) -> None:
    assert token_param_for(base_url) == param


async def test_the_client_keeps_its_connections_alive(backend: Backend) -> None:
    """One SDK client per provider, its connections reused turn after turn."""
    provider = backend.provider()
    for i in range(12):
        await collect(provider, make_request(f"turn {i}"))
    assert len(backend.fake.requests) == 12
    # reused (now and then the stream's end races the next request and a second one opens)
    assert backend.fake.connections.accepted <= 2


async def test_replies_beyond_the_pool_wait_for_a_connection(backend: Backend) -> None:
    """THREADBOT_PROVIDER_CONNECTIONS caps the connections; the replies beyond it wait for
    one and are all answered."""
    backend.fake.delay = 0.05  # replies overlap
    provider = backend.provider(provider_connections=3)
    done = await asyncio.gather(*(collect(provider, make_request(f"hi {i}")) for i in range(15)))
    assert sorted(completion.text for _, completion in done) == sorted(
        f"You said: hi {i}" for i in range(15))
    assert backend.fake.connections.accepted == 3
