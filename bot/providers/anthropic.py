"""Anthropic Messages API provider (``messages.stream``); history is replayed every call.

Two SDK habits shape the error handling: an ``event: error`` inside a 200 stream raises
``APIStatusError`` with status 200 (so the error *type* decides, not the status), and a
connection dropped mid-stream escapes as the raw ``httpx2`` transport error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import anthropic
import httpx2
from anthropic import AsyncAnthropic, omit
from anthropic.types import CacheControlEphemeralParam, Message, MessageParam, TextBlockParam

from bot.errors import ErrorKind, ProviderError
from bot.providers.errors import overflow_window, short
from bot.types import ChatMessage, Completion, Request, Usage

_TYPE_KINDS = {
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "overloaded_error": ErrorKind.OVERLOADED,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "timeout_error": ErrorKind.TIMEOUT,
    "request_too_large": ErrorKind.CONTEXT_TOO_LONG,
}
_STATUS_KINDS = {
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    413: ErrorKind.CONTEXT_TOO_LONG,
    429: ErrorKind.RATE_LIMITED,
    503: ErrorKind.OVERLOADED,
    529: ErrorKind.OVERLOADED,
}


def map_anthropic_error(exc: Exception) -> ProviderError:
    """Translate anything the Anthropic SDK (or its transport) raised into a ProviderError.

    ``detail`` has class, status, error type and request id, never the message text.
    """
    name = type(exc).__name__
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderError(ErrorKind.TIMEOUT, name)
    if isinstance(exc, anthropic.APIConnectionError | httpx2.RequestError):
        return ProviderError(ErrorKind.UNAVAILABLE, name)
    if isinstance(exc, anthropic.APIStatusError):
        detail = (f"{name} status={exc.status_code} type={short(exc.type)} "
                  f"request_id={short(exc.request_id)}")
        kind = _TYPE_KINDS.get(exc.type or "") or _STATUS_KINDS.get(exc.status_code)
        too_long, window = overflow_window(exc.type, exc.api_message)
        if kind is None and too_long and exc.status_code in (400, 413, 422):
            kind = ErrorKind.CONTEXT_TOO_LONG  # prompt is too long, llama.cpp, LiteLLM
        return ProviderError(kind or ErrorKind.OTHER, detail, window=window)
    return ProviderError(ErrorKind.OTHER, name)


class AnthropicProvider:
    """Streams ``/v1/messages``; ``Request.system`` goes to ``system=``."""

    name = "anthropic"
    supports_chain = False

    def __init__(self, client: AsyncAnthropic) -> None:
        self._client = client

    async def stream(self, request: Request) -> AsyncGenerator[str | Completion, None]:
        parts: list[str] = []
        messages = _messages(request.messages)
        try:
            async with self._client.messages.stream(
                model=request.model,
                max_tokens=request.max_output_tokens,
                system=_system(request) or omit,
                messages=messages,
            ) as stream:
                async for text in stream.text_stream:
                    if text:
                        parts.append(text)
                        yield text
                final = await stream.get_final_message()
        except Exception as exc:
            cause = None if isinstance(exc, anthropic.APIStatusError) else exc
            raise map_anthropic_error(exc) from cause
        yield Completion(text="".join(parts), model=final.model or request.model, usage=_usage(final))

    async def aclose(self) -> None:
        await self._client.close()


# Anthropic caches a prompt's prefix up to a ``cache_control`` breakpoint (at most 4 per
# request). Ours: the system prompt, the rolling summary, the previous turn's last user
# message (where the last request's cache was written: it hits however many blocks were
# added since) and the newest message (written for the next turn).
_BREAKPOINT: CacheControlEphemeralParam = {"type": "ephemeral"}


def _system(request: Request) -> list[TextBlockParam]:
    """The system prompt and the rolling summary as blocks, each ending at a breakpoint: a
    new summary then leaves the system prompt's cache intact."""
    prompt = request.system
    if request.summary and prompt.endswith(request.summary):
        prompt = prompt[: len(prompt) - len(request.summary)].rstrip("\n")
    parts = [prompt, request.summary] if request.summary else [prompt]
    return [{"type": "text", "text": part, "cache_control": _BREAKPOINT} for part in parts if part]


def _messages(messages: Sequence[ChatMessage]) -> list[MessageParam]:
    """Plain messages, with a breakpoint on the newest and on the previous turn's question."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    marked = {len(messages) - 1, *users[-2:-1]}
    return [_message(m, cache=i in marked) for i, m in enumerate(messages)]


def _message(message: ChatMessage, *, cache: bool) -> MessageParam:
    content: str | list[TextBlockParam] = message.content
    if cache:
        content = [{"type": "text", "text": message.content, "cache_control": _BREAKPOINT}]
    if message.role == "user":
        return {"role": "user", "content": content}
    return {"role": "assistant", "content": content}


def _usage(message: Message) -> Usage:
    """Input counts every prompt token: uncached plus cache writes plus cache reads (Anthropic's
    ``input_tokens`` is only the uncached part); the cache reads are the cached input."""
    u = message.usage
    cached = u.cache_read_input_tokens or 0
    prompt = u.input_tokens + (u.cache_creation_input_tokens or 0) + cached
    return Usage(prompt, u.output_tokens, cached)
