"""What every provider's errors have in common, whatever the server: a prompt over the
model's window, a server that cannot chain, and log lines kept short.

Context overflow is worded differently by every server — OpenAI's ``context_length_exceeded``
("maximum context length is 128000 tokens"), Anthropic's "prompt is too long", llama.cpp's
``exceed_context_size_error`` ("request (11972 tokens) exceeds the available context size
(2048 tokens)"), vLLM's "maximum context length is 2048 tokens", Ollama's "input length
exceeds the context length", LiteLLM's ``ContextWindowExceededError`` wrapping any of them —
so one matcher serves all providers, and it also reads the window the server states, which
lets the history learn it (``ReplayHistory.retry``).
"""

from __future__ import annotations

import re

_OVERFLOW = re.compile(
    r"context_length_exceeded|exceed_context_size|contextwindowexceeded|string_above_max_length"
    r"|context (?:length|window|size)|maximum context|prompt is too long|too many tokens"
    r"|input length|request_too_large",
    re.IGNORECASE,
)
# "(2048 tokens)" after "context size"; "maximum context length is 2048"; "n_ctx": 2048
_WINDOW = (
    re.compile(r"available context size \((\d+) tokens?\)", re.IGNORECASE),
    re.compile(r"maximum context length (?:is|of) (\d+)", re.IGNORECASE),
    re.compile(r"context (?:window|length|size) (?:is|of) (\d+)", re.IGNORECASE),
    re.compile(r"\"n_ctx\"\s*:\s*(\d+)"),
)
# A server that does not know previous_response_id says so in prose (llama.cpp: "llama.cpp
# does not support 'previous_response_id'."), or as an unknown/unsupported parameter.
_CANNOT_CHAIN = re.compile(
    r"previous_response_id.*(?:not|un)(?:\s|_)?(?:support|known|recogni[sz]ed|allowed|permitted)"
    r"|(?:not|un)(?:\s|_)?(?:support|known|recogni[sz]ed|allowed|permitted)\w*"
    r".*previous_response_id|extra (?:inputs|fields).*previous_response_id",
    re.IGNORECASE | re.DOTALL,
)


def overflow_window(*texts: object) -> tuple[bool, int | None]:
    """Whether an error's code, type or message say the prompt was over the model's window,
    and the window (tokens) if they state it."""
    joined = " ".join(str(t) for t in texts if t)
    if not _OVERFLOW.search(joined):
        return False, None
    for pattern in _WINDOW:
        match = pattern.search(joined)
        if match:
            return True, int(match.group(1))
    return True, None


def cannot_chain(status: int, *texts: object) -> bool:
    """A 400/404/422 saying the server does not take ``previous_response_id`` at all (not
    that one stored response is gone)."""
    joined = " ".join(str(t) for t in texts if t)
    return status in (400, 404, 422) and bool(_CANNOT_CHAIN.search(joined))


def short(value: object, limit: int = 40) -> str:
    """A foreign id or message for a log line: some proxies return ids of ~600 characters."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
