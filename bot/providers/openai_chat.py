"""OpenAI Chat Completions: OpenAI itself and any OpenAI-compatible server (Ollama, vLLM...).

Also home of ``map_openai_error``, shared with the Responses provider: both sit on the
same SDK, so one table decides what every OpenAI failure means to the user.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal

import httpx2
import openai
from openai import AsyncOpenAI, AsyncStream, omit
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from bot.errors import ErrorKind, ProviderError
from bot.images import data_url
from bot.providers.errors import cannot_chain, overflow_window, short
from bot.providers.reasoning import Effort, Reasoning, openai_reasoning_model
from bot.providers.thinking import Relay
from bot.types import ChatMessage, Completion, Request, Thinking, Usage

# The output cap's name differs by server. OpenAI deprecated ``max_tokens`` and its
# reasoning models (o-series, gpt-5) reject it, so api.openai.com gets
# ``max_completion_tokens``; Ollama, llama.cpp, LM Studio and older vLLM only know
# ``max_tokens``, which every compatible server accepts. The factory picks by base URL;
# a reasoning model's name (o-series, gpt-5) picks ``max_completion_tokens`` on any server.
TokenParam = Literal["max_tokens", "max_completion_tokens"]

# Error codes (HTTP body or in-stream events) that mean something specific to the user.
_CODE_KINDS = {
    "context_length_exceeded": ErrorKind.CONTEXT_TOO_LONG,
    "string_above_max_length": ErrorKind.CONTEXT_TOO_LONG,
    "rate_limit_exceeded": ErrorKind.RATE_LIMITED,
    "insufficient_quota": ErrorKind.RATE_LIMITED,
    "server_is_overloaded": ErrorKind.OVERLOADED,
    "slow_down": ErrorKind.OVERLOADED,
}
_STATUS_KINDS = {
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    429: ErrorKind.RATE_LIMITED,
    503: ErrorKind.OVERLOADED,
    529: ErrorKind.OVERLOADED,
}


def code_kind(code: str | None, *, chained: bool) -> ErrorKind:
    """The kind for an OpenAI error code; OTHER when the code says nothing specific."""
    if code == "previous_response_not_found" and chained:
        return ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND
    return _CODE_KINDS.get(code or "", ErrorKind.OTHER)


def map_openai_error(exc: Exception, *, chained: bool = False) -> ProviderError:
    """Translate anything the OpenAI SDK (or its transport) raised into a ProviderError.

    ``chained``: the request carried ``previous_response_id``, so a 404 means the stored
    response is gone (some compatible servers answer 404 instead of the 400 code).
    ``detail`` holds class, status, code and request id only: OpenAI's 401 message
    echoes part of the key.
    """
    name = type(exc).__name__
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and not _refused(exc):
        return ProviderError(ErrorKind.TIMEOUT, name)
    if isinstance(exc, openai.APIConnectionError | httpx2.RequestError):
        return ProviderError(ErrorKind.UNAVAILABLE, name)
    if isinstance(exc, openai.APIStatusError):
        detail = (f"{name} status={exc.status_code} code={short(exc.code)} "
                  f"request_id={short(exc.request_id)}")
        return ProviderError(_status_kind(exc, chained), detail,
                             window=overflow_window(exc.code, _error_type(exc), exc.message)[1])
    if isinstance(exc, openai.APIError):  # an error reported inside a 200 stream
        return ProviderError(code_kind(exc.code, chained=chained), f"{name} code={short(exc.code)}")
    return ProviderError(ErrorKind.OTHER, name)


def _refused(exc: BaseException) -> bool:
    """Whether the connection could not be made at all. The SDK's aiohttp transport
    (bot/providers/factory.py) reports a refused connection as a connect *timeout* (its
    exception map takes aiohttp's ClientConnectionError before ClientConnectorError); the
    cause it keeps says which: an OS error (connection refused, unreachable) that is not a
    timeout. (aiohttp is not imported here: the platform SDKs stay in adapters/.)"""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False


def _status_kind(exc: openai.APIStatusError, chained: bool) -> ErrorKind:
    if chained and cannot_chain(exc.status_code, exc.code, exc.message):
        return ErrorKind.CHAIN_UNSUPPORTED
    kind = code_kind(exc.code, chained=chained)
    if kind is ErrorKind.OTHER:
        kind = _STATUS_KINDS.get(exc.status_code, ErrorKind.OTHER)
    if kind is ErrorKind.OTHER and exc.status_code == 404 and chained:
        kind = ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND
    if kind is ErrorKind.OTHER and exc.status_code in (400, 413, 422):
        # vLLM, llama.cpp, Ollama, LiteLLM: prose and no OpenAI code (bot/providers/errors.py)
        if overflow_window(exc.code, _error_type(exc), exc.message)[0]:
            kind = ErrorKind.CONTEXT_TOO_LONG
    return kind


def _error_type(exc: openai.APIStatusError) -> str:
    """The body's ``error.type`` (llama.cpp: ``exceed_context_size_error``)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return str(error.get("type") or "") if isinstance(error, dict) else ""


class OpenAIChatProvider:
    """Streams ``/chat/completions``; history is replayed every call (no chaining)."""

    name = "openai"
    supports_chain = False

    def __init__(
        self, client: AsyncOpenAI, *, token_param: TokenParam = "max_tokens",
        reasoning: Reasoning | None = None, cache_keys: bool = False,
    ) -> None:
        self._client = client
        self._token_param = token_param
        self._reasoning = reasoning or Reasoning()
        # prompt_cache_key only where the server takes it (OpenAI): local servers may
        # reject a field they do not know
        self._cache_keys = cache_keys

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        messages: list[ChatCompletionMessageParam] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [_message(m) for m in request.messages]
        relay = Relay(request.model)
        model, usage = request.model, None
        try:
            chunks = await self._open(request, messages)
            async with chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for item in _items(chunk, relay):
                        yield item
            for item in relay.end():
                yield item
        except Exception as exc:
            raise map_openai_error(exc) from kept_cause(exc)
        yield Completion(text=relay.text, model=model, usage=usage)

    async def _open(
        self, request: Request, messages: list[ChatCompletionMessageParam]
    ) -> AsyncStream[ChatCompletionChunk]:
        """Start the stream; a server refusing ``reasoning_effort`` gets the request again
        without it (and the model never gets it again in this process)."""
        effort = self._reasoning.effort(request.model)
        try:
            return await self._create(request, messages, effort)
        except openai.APIStatusError as exc:
            if effort is None or not self._reasoning.refused(
                request.model, exc.status_code, exc.code, exc.param, exc.message
            ):
                raise
        return await self._create(request, messages, None)

    async def _create(
        self, request: Request, messages: list[ChatCompletionMessageParam], effort: Effort | None
    ) -> AsyncStream[ChatCompletionChunk]:
        # Thinking counts against the output cap: the answer keeps its own.
        limit = request.max_output_tokens + self._reasoning.budget(effort)
        name = "max_completion_tokens" if openai_reasoning_model(request.model) else self._token_param
        # No temperature, ever: the o-series and gpt-5 reject any but the default.
        return await self._client.chat.completions.create(
            model=request.model,
            # The messages go in ``extra_body`` (documented: sent as given, and taking
            # precedence over the method's arguments); ``messages`` is required, so it gets
            # an empty list that the body's copy replaces. The SDK otherwise walks every
            # message through its type-directed transform (``_async_transform_recursive``):
            # ~70 % of a 500-message turn's CPU, for nothing, as no message field has an
            # alias or a format to apply (tests/providers/test_request_bodies.py: same JSON sent).
            messages=[],
            extra_body={"messages": messages},
            stream=True,
            # Without this the stream carries no token counts; the usage arrives in a
            # last chunk with no choices, which a dropped stream never delivers.
            stream_options={"include_usage": True},
            max_tokens=limit if name == "max_tokens" else omit,
            max_completion_tokens=limit if name != "max_tokens" else omit,
            reasoning_effort=effort or omit,
            prompt_cache_key=request.cache_key if self._cache_keys and request.cache_key else omit,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _message(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "user" and message.images:
        parts: list[Any] = [{"type": "image_url", "image_url": {"url": data_url(im)}}
                            for im in message.images]
        return {"role": "user", "content": [*parts, {"type": "text", "text": message.content}]}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    return {"role": "assistant", "content": message.content}


def _items(chunk: ChatCompletionChunk, relay: Relay) -> list[str | Thinking]:
    """What one chunk adds: answer text, or word that the model is thinking. vLLM's
    reasoning parser and DeepSeek send the thinking as ``reasoning_content``, Ollama as
    ``reasoning`` (fields the SDK keeps as extras); other servers leave ``<think>`` in the
    content, which the relay takes out."""
    if not chunk.choices or chunk.choices[0].delta is None:
        return []
    delta: Any = chunk.choices[0].delta
    items = relay.thought() if (getattr(delta, "reasoning_content", None)
                                or getattr(delta, "reasoning", None)) else []
    return items + relay.delta(delta.content or "")


def _usage(usage: CompletionUsage) -> Usage:
    """Compatible servers (Ollama, llama.cpp) send no ``prompt_tokens_details``: 0 cached
    (nor ``completion_tokens_details``: 0 reasoning)."""
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    out = usage.completion_tokens_details
    reasoning = (out.reasoning_tokens or 0) if out is not None else 0
    return Usage(usage.prompt_tokens, usage.completion_tokens, cached, reasoning)


def kept_cause(exc: Exception) -> Exception | None:
    """Keep transport causes for debugging; drop API errors, whose text may quote the key."""
    return None if isinstance(exc, openai.APIStatusError) else exc
