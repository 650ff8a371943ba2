"""Build the configured provider with one SDK client, reused for every turn.

Retries are the SDK's (``max_retries``: 408/409/429/5xx and connection errors, honouring
``retry-after-ms`` / ``retry-after``); nothing here loops. Credentials and URLs come only
from Settings and are passed explicitly, so the SDKs' own environment lookups (and
Anthropic's profile files) never pick something else up.

Each client talks through its SDK's aiohttp transport (``DefaultAioHttpClient``, the SDKs'
documented alternative to httpx), with one keep-alive pool of ``THREADBOT_PROVIDER_CONNECTIONS``.
httpx's pool re-scans every connection and every queued request whenever one request starts
or ends (httpcore ``_assign_requests_to_connections``): with a thousand replies streaming
that scan was most of the process's CPU and stalled the event loop for seconds
(bench/engine_scale.py); aiohttp's connector hands a free connection to the next waiter
directly. Its keep-alive pool also keeps every connection (httpx's default closed all but
100 after a burst, to open them again on the next).

Only the configured provider's SDK is imported (inside ``make_provider``): the anthropic
package alone costs ~1.7 s and ~28 MB to import, wasted on a bot that talks to OpenAI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

import httpx2

from bot.config import Settings
from bot.errors import ConfigError
from bot.ports import Provider
from bot.providers.reasoning import Reasoning

if TYPE_CHECKING:
    from bot.providers.openai_chat import TokenParam

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
# Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK
# refuses to start without one.
PLACEHOLDER_KEY = "no-key-needed"


def make_provider(settings: Settings) -> Provider:
    """The provider named by ``settings.provider``; ConfigError when credentials are missing."""
    problem = settings.llm_problem()
    if problem is not None:
        raise ConfigError(problem)
    reasoning = Reasoning(settings.reasoning)
    n = settings.provider_connections
    limits = httpx2.Limits(max_connections=n, max_keepalive_connections=n)
    if settings.provider == "anthropic":
        from anthropic import AsyncAnthropic, DefaultAioHttpClient

        from bot.providers.anthropic import AnthropicProvider

        assert settings.anthropic_api_key is not None  # llm_problem() checked it
        return AnthropicProvider(
            AsyncAnthropic(
                api_key=settings.anthropic_api_key.get_secret_value(),
                base_url=settings.anthropic_base_url or ANTHROPIC_URL,
                timeout=settings.provider_timeout,
                max_retries=settings.provider_retries,
                http_client=DefaultAioHttpClient(limits=limits),
            ),
            reasoning=reasoning,
        )
    from openai import AsyncOpenAI
    from openai import DefaultAioHttpClient as OpenAIAioHttpClient

    from bot.providers.openai_chat import OpenAIChatProvider
    from bot.providers.openai_responses import OpenAIResponsesProvider

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    client = AsyncOpenAI(
        api_key=key or PLACEHOLDER_KEY,
        base_url=settings.openai_base_url or OPENAI_URL,
        timeout=settings.provider_timeout,
        max_retries=settings.provider_retries,
        http_client=OpenAIAioHttpClient(limits=limits),
    )
    cache_keys = is_openai(settings.openai_base_url)
    if settings.provider == "openai-responses":
        return OpenAIResponsesProvider(client, reasoning=reasoning, cache_keys=cache_keys)
    return OpenAIChatProvider(
        client, token_param=token_param_for(settings.openai_base_url), reasoning=reasoning,
        cache_keys=cache_keys,
    )


def is_openai(base_url: str | None) -> bool:
    """OpenAI itself (the default URL): the server for OpenAI-only fields."""
    return base_url is None or urlparse(base_url).hostname == "api.openai.com"


def token_param_for(base_url: str | None) -> TokenParam:
    """OpenAI itself wants ``max_completion_tokens``; compatible servers know ``max_tokens``."""
    return "max_completion_tokens" if is_openai(base_url) else "max_tokens"
