"""Tokens → an estimated cost in US dollars, from a price table per model.

Defaults are the list prices (per million tokens) of the OpenAI and Anthropic models the
README names and their siblings, as of late 2025; ``[prices."<model>"]`` in threadbot.toml
overrides or adds. A model name a provider reports with a date suffix
(``gpt-4.1-mini-2025-04-14``) takes the price of the longest listed name it starts with.
A model without a price costs 0 (said once in the log): cost quotas cannot see it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.admin.config import Price
from bot.types import Usage

log = logging.getLogger(__name__)

PER = 1_000_000
DEFAULT_PRICES: dict[str, Price] = {
    name: Price(input=i, cached_input=c, output=o)
    for name, (i, c, o) in {
        "gpt-4.1": (2.00, 0.50, 8.00),
        "gpt-4.1-mini": (0.40, 0.10, 1.60),
        "gpt-4.1-nano": (0.10, 0.025, 0.40),
        "gpt-4o": (2.50, 1.25, 10.00),
        "gpt-4o-mini": (0.15, 0.075, 0.60),
        "gpt-5": (1.25, 0.125, 10.00),
        "gpt-5-mini": (0.25, 0.025, 2.00),
        "gpt-5-nano": (0.05, 0.005, 0.40),
        "o3": (2.00, 0.50, 8.00),
        "o4-mini": (1.10, 0.275, 4.40),
        "claude-opus-4-5": (5.00, 0.50, 25.00),
        "claude-opus-4-1": (15.00, 1.50, 75.00),
        "claude-sonnet-4-6": (3.00, 0.30, 15.00),
        "claude-sonnet-4-5": (3.00, 0.30, 15.00),
        "claude-sonnet-4-0": (3.00, 0.30, 15.00),
        "claude-haiku-4-5": (1.00, 0.10, 5.00),
    }.items()
}


@dataclass(frozen=True, slots=True)
class Prices:
    table: Mapping[str, Price]

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Price]) -> Prices:
        return cls({**DEFAULT_PRICES, **overrides})

    def of(self, model: str) -> Price | None:
        if model in self.table:
            return self.table[model]
        prefixes = [name for name in self.table if model.startswith(name + "-")]
        return self.table[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, usage: Usage) -> float:
        """What ``usage`` cost on ``model``: cached input at its own price."""
        price = self.of(model)
        if price is None:
            _unpriced(model)
            return 0.0
        cached = price.input if price.cached_input is None else price.cached_input
        fresh = max(0, usage.input_tokens - usage.cached_input_tokens)
        return (fresh * price.input + usage.cached_input_tokens * cached
                + usage.output_tokens * price.output) / PER

    def family(self, provider: str) -> list[str]:
        """The priced models a provider serves (what ``model`` offers by default)."""
        claude = provider == "anthropic"
        return sorted(name for name in self.table if name.startswith("claude-") == claude)


_warned: set[str] = set()


def _unpriced(model: str) -> None:
    if model not in _warned:
        _warned.add(model)
        log.warning("no price for model %s: its cost counts as 0 (add [prices.\"%s\"] to "
                    "threadbot.toml with input and output in US dollars per million tokens)",
                    model, model)
