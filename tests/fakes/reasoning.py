"""Reasoning models as the fakes play them: what each API refuses, and thinking on the wire.

- OpenAI: o-series and gpt-5 models refuse ``max_tokens`` and ``temperature`` (400
  ``unsupported_parameter``, as api.openai.com words it); ``rejects_reasoning`` makes the
  server refuse ``reasoning_effort`` / ``reasoning.effort`` like a non-reasoning model does.
- Anthropic: ``thinking`` needs ``budget_tokens`` ≥ 1,024 and below ``max_tokens``, and no
  ``temperature``; ``rejects_reasoning`` is an older model's "does not support thinking".
- ``thinking`` text: where it goes is ``thinking_as`` — ``"tags"`` (``<think>…</think>`` in
  the content, as Ollama / vLLM without a reasoning parser), ``"open-in-prompt"`` (only the
  closing tag: DeepSeek-R1's template opens it in the prompt), ``"reasoning_content"`` (vLLM's
  reasoning parser: a separate delta field).
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.brain import Fail

_REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5(?!-chat))")


def openai_refusal(path: str, body: dict[str, Any], rejects_reasoning: bool) -> Fail | None:
    """The 400 api.openai.com answers for a parameter the model does not take, or None."""
    model = str(body.get("model", ""))
    if _REASONING_MODEL.match(model):
        for name in ("max_tokens", "temperature"):
            if name in body:
                return _unsupported(name)
    field = "reasoning_effort" if path.endswith("/chat/completions") else "reasoning"
    if rejects_reasoning and field in body:
        return _unsupported("reasoning_effort" if field == "reasoning_effort" else "reasoning.effort")
    return None


def _unsupported(param: str) -> Fail:
    message = f"Unsupported parameter: '{param}' is not supported with this model."
    return Fail(400, "unsupported_parameter", message, None, param=param)


def anthropic_refusal(body: dict[str, Any], rejects_reasoning: bool) -> str | None:
    """Anthropic's 400 message for a thinking request it refuses, or None."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    if rejects_reasoning:
        return f"'{body.get('model')}' does not support thinking."
    budget = int(thinking.get("budget_tokens", 0))
    if budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if int(body.get("max_tokens", 0)) <= budget:
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if "temperature" in body:
        return "`temperature` may only be set to 1 when thinking is enabled."
    return None


def in_content(text: str, thinking: str | None, thinking_as: str) -> str:
    """The reply's content with the thinking written into it, where the server does that."""
    if not thinking:
        return text
    if thinking_as == "tags":
        return f"<think>{thinking}</think>\n\n{text}"
    if thinking_as == "open-in-prompt":
        return f"{thinking}\n</think>\n\n{text}"
    return text
