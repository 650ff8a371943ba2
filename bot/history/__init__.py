"""History strategies: how a thread's stored messages become the next request.

- ``ReplayHistory`` (replay.py): the system prompt plus the newest messages that fit the
  token budget, every time; works with every provider.
- ``ChainHistory`` (chain.py): only the new messages plus ``previous_response_id``; the
  provider keeps the rest. Falls back to replay whenever the chain breaks.

``make_histories`` is the one place that decides which strategies a provider can run.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from bot.config import Settings
from bot.history.base import Histories, HistoryStrategy
from bot.history.chain import ChainHistory
from bot.history.replay import ReplayHistory
from bot.history.window import MINIMUM_BUDGET
from bot.ports import Provider, Store
from bot.tokens import TokenCounter

__all__ = ["ChainHistory", "Histories", "HistoryStrategy", "ReplayHistory", "make_histories"]

log = logging.getLogger(__name__)


# Servers known to keep responses for previous_response_id. A proxy may accept the field and
# forget the conversation without an error (LiteLLM's translation to Chat Completions).
CHAIN_HOSTS = ("api.openai.com",)
CHAIN_HOST_SUFFIXES = (".openai.azure.com",)


def make_histories(settings: Settings, store: Store, provider: Provider) -> Histories:
    """The configured strategy for new threads, and every strategy a stored thread may name.
    Chaining needs a provider that can chain and a server that keeps responses; elsewhere
    chain threads replay (logged once)."""
    counter = TokenCounter(settings.model_name)
    if settings.context_tokens <= settings.max_output_tokens:
        log.warning("THREADBOT_CONTEXT_TOKENS (%d) leaves no room for history beside "
                    "THREADBOT_MAX_OUTPUT_TOKENS (%d): set it to the model's context window",
                    settings.context_tokens, settings.max_output_tokens)
    replay = ReplayHistory(store, counter, settings, provider)
    if replay.window.thinking and replay.budget <= MINIMUM_BUDGET:
        log.warning("THREADBOT_CONTEXT_TOKENS (%d) leaves no room for history beside the "
                    "reply and THREADBOT_REASONING=%s's thinking budget (%d tokens)",
                    settings.context_tokens, settings.reasoning, replay.window.thinking)
    chain: HistoryStrategy = replay
    problem = _why_not_chain(settings, provider)
    if problem is None:
        chain = ChainHistory(store, counter, settings, provider)
    elif settings.history == ChainHistory.name:
        log.warning("THREADBOT_HISTORY=chain %s; using replay", problem)
    by_name = {ReplayHistory.name: replay, ChainHistory.name: chain}
    return Histories(default=by_name.get(settings.history, replay), by_name=by_name)


def _why_not_chain(settings: Settings, provider: Provider) -> str | None:
    if not provider.supports_chain:
        return "needs THREADBOT_PROVIDER=openai-responses"
    host = urlparse(settings.openai_base_url or "https://api.openai.com/v1").hostname or ""
    if host in CHAIN_HOSTS or host.endswith(CHAIN_HOST_SUFFIXES) or settings.chain_untrusted:
        return None
    return (f"needs a server that keeps responses (OpenAI, Azure OpenAI); {host} may forget "
            "the conversation without an error. THREADBOT_CHAIN_UNTRUSTED=1 chains anyway")
