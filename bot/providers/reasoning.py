"""Reasoning models: which parameters each model family takes, and servers that refuse them.

``THREADBOT_REASONING`` (off | low | medium | high) becomes OpenAI's ``reasoning_effort``
(Chat Completions) or ``reasoning={"effort": …}`` (Responses), and Anthropic's extended
thinking ``thinking={"type": "enabled", "budget_tokens": …}``. Thinking tokens count
against the output cap on every API, so the cap grows by the level's budget: a reply keeps
``THREADBOT_MAX_OUTPUT_TOKENS`` for the answer itself (Anthropic also requires the budget
to be below ``max_tokens``).

A parameter a model rejects is not sent. The families whose answers are known decide up
front (OpenAI's o-series and gpt-5 reject ``temperature`` — which threadbot never sends — and
``max_tokens``; gpt-4* and older Claude models reject the reasoning field). Any other model
(local servers, proxies, new names) gets the field, and a 400 saying it is unsupported is
retried once without it and remembered for that model for the rest of the process, the way
the chain strategy remembers a server that cannot chain.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

log = logging.getLogger(__name__)

ReasoningLevel = Literal["off", "low", "medium", "high"]
Effort = Literal["low", "medium", "high"]
_EFFORTS: dict[str, Effort] = {"low": "low", "medium": "medium", "high": "high"}

# Thinking tokens allowed per level, on top of the answer's own cap. Anthropic's minimum
# budget is 1,024; OpenAI does not take a budget, but counts reasoning in the output cap.
BUDGETS: dict[str, int] = {"low": 1_024, "medium": 4_096, "high": 16_384}

# "openai/o3-mini", "azure/gpt-5": proxies (LiteLLM, OpenRouter) prefix the provider.
_OPENAI_REASONING = re.compile(r"^(?:o\d+(?:-.*)?|gpt-5(?!-chat).*)$", re.IGNORECASE)
# Known not to take the reasoning field: answers "Unsupported parameter: 'reasoning_effort'".
_OPENAI_CLASSIC = re.compile(r"^(?:gpt-3\.5|gpt-4|chatgpt-|gpt-5-chat|o1-mini|o1-preview)",
                             re.IGNORECASE)
# Claude models from before extended thinking (3.7 was the first with it).
_CLAUDE_CLASSIC = re.compile(r"^claude-(?:instant|2|3-(?!7)|3-5)", re.IGNORECASE)
# A 400 about the reasoning field itself: OpenAI's "Unsupported parameter: 'reasoning_effort'
# is not supported with this model." (code unsupported_parameter / unsupported_value),
# Anthropic's "thinking: Extra inputs are not permitted" or "… does not support thinking",
# Ollama's "… does not support thinking", vLLM/pydantic's "extra_forbidden".
_REFUSED = re.compile(
    r"(?:reasoning|thinking).*(?:unsupported|not supported|does not support|unknown|"
    r"unrecogni[sz]ed|extra|not permitted|not allowed)"
    r"|(?:unsupported|not supported|does not support|unknown|unrecogni[sz]ed|extra|"
    r"not permitted|not allowed).*(?:reasoning|thinking)",
    re.IGNORECASE | re.DOTALL,
)


def _bare(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def openai_reasoning_model(model: str) -> bool:
    """An o-series or gpt-5 model: takes ``max_completion_tokens`` only, never
    ``temperature``, whatever server is in front of it (Azure, a proxy)."""
    return bool(_OPENAI_REASONING.match(_bare(model)))


def thinking_tokens(level: ReasoningLevel, model: str, *, claude: bool) -> int:
    """The output tokens the provider adds to a request's cap for ``model``'s thinking at
    ``level`` (Anthropic's ``budget_tokens``, OpenAI's share of the output cap), 0 where
    nothing is sent: the history leaves this room, so the request stays in the window."""
    reasoning = Reasoning(level)
    return reasoning.budget(reasoning.effort(model, claude=claude))


class Reasoning:
    """The configured level, and the models that refused the reasoning field (per process:
    one instance lives in the one provider)."""

    def __init__(self, level: ReasoningLevel = "off") -> None:
        self.level = level
        self._refused: set[str] = set()

    def effort(self, model: str, *, claude: bool = False) -> Effort | None:
        """The level to send for ``model``, or None when nothing is to be sent."""
        effort = _EFFORTS.get(self.level)
        if effort is None or model in self._refused:
            return None
        classic = _CLAUDE_CLASSIC if claude else _OPENAI_CLASSIC
        return None if classic.match(_bare(model)) else effort

    def budget(self, effort: str | None) -> int:
        """The output tokens to add for thinking at ``effort`` (0 when not reasoning)."""
        return BUDGETS.get(effort or "", 0)

    def refused(self, model: str, status: int, *texts: object) -> bool:
        """Whether an error says the server does not take the reasoning field; if so the
        model is remembered as not taking it (logged once per model)."""
        joined = " ".join(str(t) for t in texts if t)
        if status not in (400, 404, 422) or not _REFUSED.search(joined):
            return False
        if model not in self._refused:
            log.warning("the model %s does not take the reasoning setting; sending requests "
                        "without it from now on", model)
            self._refused.add(model)
        return True
