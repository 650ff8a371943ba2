"""How much history fits: the model's context window minus the reply and the system prompt,
with a margin where our token counts are only an estimate — and the window the server
turns out to have, once it says so.

``THREADBOT_CONTEXT_TOKENS`` is the model's window as threadbot should use it: the system
prompt, the history *and* the reply (``THREADBOT_MAX_OUTPUT_TOKENS``, plus the thinking a
reasoning model may do first: ``THREADBOT_REASONING``'s budget) must fit in it, or a server
with a 2,048-token window refuses a 2,048-token history. Token counts are exact for
OpenAI's models only; local and other models have tokenizers of their own, which count the
same text as more tokens (SmolLM2: 12,032 where cl100k counts 9,667), so for them the
history is kept to ``APPROXIMATE_SHARE`` of what is left.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

APPROXIMATE_SHARE = 0.75  # of the room left, for models whose tokenizer we only estimate
MINIMUM_BUDGET = 64


class Window:
    def __init__(self, tokens: int, max_output: int, system_tokens: int, *, exact: bool,
                 thinking: int = 0) -> None:
        self.tokens = tokens
        self._max_output = max_output
        self.thinking = thinking  # output tokens the provider adds for reasoning
        self._system = system_tokens
        self._share = 1.0 if exact else APPROXIMATE_SHARE

    @property
    def max_output(self) -> int:
        """The reply's cap: as configured, but never more than half the window."""
        return max(1, min(self._max_output, self.tokens // 2))

    @property
    def budget(self) -> int:
        """Tokens of history a request may carry."""
        room = self.tokens - self.max_output - self.thinking - self._system
        return max(MINIMUM_BUDGET, int(room * self._share))

    def shrunk(self, stated: int | None, used: int) -> int | None:
        """After the server refused a request of ``used`` history tokens as too long: the
        budget to try once more with, or None when there is nothing smaller to try. A window
        the server states is kept for every later request (it will not grow back)."""
        if stated is not None and stated < self.tokens:
            log.warning("the model's context window is %d tokens (the server said so), not "
                        "THREADBOT_CONTEXT_TOKENS=%d; using that from now on", stated, self.tokens)
            self.tokens = stated
        smaller = min(self.budget, used // 2) if stated is None else self.budget
        return smaller if MINIMUM_BUDGET <= smaller < used else None
