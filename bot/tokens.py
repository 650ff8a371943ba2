"""Token counting that works offline: exact with the model's tiktoken encoding (loaded by
``bot.encodings``), a logged estimate that errs high if it cannot load — never a crash."""

from __future__ import annotations

from bot.encodings import load_encoding


def encoding_name_for(model: str) -> str:
    """o200k for the gpt-4o / 4.1 / 5 / o-series families, cl100k for everything else.

    Claude and local models have tokenizers of their own that tiktoken cannot load; cl100k
    is a stated approximation for them (typically within ~10-20 % for English text).
    """
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4")):
        return "o200k_base"
    return "cl100k_base"


def is_openai_model(model: str) -> bool:
    """Whether tiktoken has this model's own tokenizer (counts are exact, not estimates)."""
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(("gpt-", "chatgpt-", "o1", "o3", "o4", "text-davinci", "davinci"))


class TokenCounter:
    """Counts tokens for one model; exact with tiktoken, estimated if it cannot load."""

    def __init__(self, model: str) -> None:
        self.encoding_name = encoding_name_for(model)
        self._encoder = load_encoding(self.encoding_name)

    @property
    def estimated(self) -> bool:
        return self._encoder is None

    def count(self, text: str) -> int:
        if self._encoder is None:
            return estimate(text)
        return len(self._encoder.encode_ordinary(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` within ``max_tokens`` (a char-based cut when
        estimating)."""
        if self._encoder is None:
            return _truncate_estimate(text, max_tokens)
        ids = self._encoder.encode_ordinary(text)
        return text if len(ids) <= max_tokens else self._encoder.decode(ids[:max_tokens])


def estimate(text: str) -> int:
    """A tokenizer-free estimate that leans towards over-counting.

    Plain chars/4 undercounts Japanese by ~74 % and emoji-heavy chat by ~29 %, and a budget
    that undercounts overflows the model's context. So: 4 ASCII chars per token, and other
    characters by their UTF-8 size — accented letters 1, CJK 1.5, emoji 3 tokens.
    """
    return round(sum(_char_weight(ch) for ch in text) + 0.49)


def _char_weight(ch: str) -> float:
    if ch < "\x80":
        return 0.25
    return _WEIGHT_BY_UTF8_SIZE[len(ch.encode("utf-8", "surrogatepass"))]


_WEIGHT_BY_UTF8_SIZE = {2: 1.0, 3: 1.5, 4: 3.0}


def _truncate_estimate(text: str, max_tokens: int) -> str:
    used = 0.0
    for i, ch in enumerate(text):
        used += _char_weight(ch)
        if used > max_tokens:
            return text[:i]
    return text
