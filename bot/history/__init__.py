"""History strategies: how a thread's stored messages become the next request.

- ``ReplayHistory`` (replay.py): the system prompt plus the newest messages that fit the
  token budget, every time; works with every provider.
- ``ChainHistory`` (chain.py): only the new messages plus ``previous_response_id``; the
  provider keeps the rest. Falls back to replay whenever the chain breaks.

``make_histories`` is the one place that decides which strategies a provider can run.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.history.base import Histories, HistoryStrategy
from bot.history.chain import ChainHistory
from bot.history.replay import ReplayHistory
from bot.ports import Provider, Store
from bot.tokens import TokenCounter

__all__ = ["ChainHistory", "Histories", "HistoryStrategy", "ReplayHistory", "make_histories"]

log = logging.getLogger(__name__)


def make_histories(settings: Settings, store: Store, provider: Provider) -> Histories:
    """The configured strategy for new threads, and every strategy a stored thread may name.
    Chaining needs a provider that can chain; elsewhere chain threads replay (logged once)."""
    counter = TokenCounter(settings.model_name)
    replay = ReplayHistory(store, counter, settings)
    chain: HistoryStrategy = replay
    if provider.supports_chain:
        chain = ChainHistory(store, counter, settings)
    elif settings.history == ChainHistory.name:
        log.warning(
            "THREADBOT_HISTORY=chain needs THREADBOT_PROVIDER=openai-responses; using replay"
        )
    by_name = {ReplayHistory.name: replay, ChainHistory.name: chain}
    return Histories(default=by_name.get(settings.history, replay), by_name=by_name)
