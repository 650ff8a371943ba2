"""Anthropic Messages API provider (``messages.stream``); history is replayed every call.

Two SDK habits shape the error handling: an ``event: error`` inside a 200 stream raises
``APIStatusError`` with status 200 (so the error *type* decides, not the status), and a
connection dropped mid-stream escapes as the raw ``httpx2`` transport error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic, omit
from anthropic.types import (
    CacheControlEphemeralParam,
    Message,
    MessageParam,
    TextBlockParam,
    ThinkingConfigEnabledParam,
)

from bot.errors import ErrorKind, ProviderError
from bot.images import b64
from bot.providers.errors import overflow_window, short
from bot.providers.reasoning import Reasoning
from bot.types import THINKING, ChatMessage, Completion, Request, Thinking, Usage

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

    def __init__(self, client: AsyncAnthropic, *, reasoning: Reasoning | None = None) -> None:
        self._client = client
        self._reasoning = reasoning or Reasoning()

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        """Only text deltas are the answer: thinking blocks become THINKING items."""
        parts: list[str] = []
        finals: list[Message] = []  # the stream's final message (the provider is shared)
        thinking = self._thinking(request.model)
        try:
            for attempt in (thinking, None):
                try:
                    async with contextlib.aclosing(
                        self._events(request, attempt, parts, finals)
                    ) as events:
                        async for item in events:
                            yield item
                    break
                except anthropic.APIStatusError as exc:
                    if parts or attempt is None or not self._reasoning.refused(
                        request.model, exc.status_code, exc.type, exc.api_message
                    ):
                        raise
        except Exception as exc:
            cause = None if isinstance(exc, anthropic.APIStatusError) else exc
            raise map_anthropic_error(exc) from cause
        final = finals[-1]
        yield Completion(text="".join(parts), model=final.model or request.model, usage=_usage(final))

    def _thinking(self, model: str) -> ThinkingConfigEnabledParam | None:
        """Extended thinking at the level's budget; None when not thinking."""
        effort = self._reasoning.effort(model, claude=True)
        if effort is None:
            return None
        return {"type": "enabled", "budget_tokens": self._reasoning.budget(effort)}

    async def _events(
        self, request: Request, thinking: ThinkingConfigEnabledParam | None, parts: list[str],
        finals: list[Message],
    ) -> AsyncGenerator[str | Thinking, None]:
        budget = thinking["budget_tokens"] if thinking else 0
        # budget_tokens must stay below max_tokens: the answer keeps its own cap on top.
        # (No temperature: thinking rejects any but the default, and threadbot sends none.)
        async with self._client.messages.stream(
            model=request.model,
            max_tokens=request.max_output_tokens + budget,
            system=_system(request) or omit,
            messages=_messages(request.messages),
            thinking=thinking or omit,
        ) as stream:
            async for event in stream:
                if event.type in ("thinking", "signature") or (
                    event.type == "content_block_start"
                    and event.content_block.type == "redacted_thinking"
                ):
                    yield THINKING  # for every chunk: a long thinking is not a silent server
                elif event.type == "text" and event.text:
                    parts.append(event.text)
                    yield event.text
            finals.append(await stream.get_final_message())

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
    content: str | list[Any] = message.content
    if cache:
        content = [{"type": "text", "text": message.content, "cache_control": _BREAKPOINT}]
    if message.role == "user" and message.images:
        # images first, then the text that refers to them (Anthropic's advice)
        blocks: list[Any] = [
            {"type": "image", "source": {"type": "base64", "media_type": im.media_type,
                                         "data": b64(im.data)}}
            for im in message.images
        ]
        text: dict[str, Any] = {"type": "text", "text": message.content}
        if cache:
            text["cache_control"] = _BREAKPOINT
        content = [*blocks, text]
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
