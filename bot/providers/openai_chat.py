"""OpenAI Chat Completions: OpenAI itself and any OpenAI-compatible server (Ollama, vLLM...).

Also home of ``map_openai_error``, shared with the Responses provider: both sit on the
same SDK, so one table decides what every OpenAI failure means to the user.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal

import httpx2
import openai
from openai import AsyncOpenAI, omit
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionMessageParam

from bot.errors import ErrorKind, ProviderError
from bot.providers.errors import cannot_chain, overflow_window, short
from bot.types import ChatMessage, Completion, Request, Usage

# The output cap's name differs by server. OpenAI deprecated ``max_tokens`` and its
# reasoning models (o-series, gpt-5) reject it, so api.openai.com gets
# ``max_completion_tokens``; Ollama, llama.cpp, LM Studio and older vLLM only know
# ``max_tokens``, which every compatible server accepts. The factory picks by base URL.
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
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
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
        cache_keys: bool = False,
    ) -> None:
        self._client = client
        self._token_param = token_param
        # prompt_cache_key only where the server takes it (OpenAI): local servers may
        # reject a field they do not know
        self._cache_keys = cache_keys

    async def stream(self, request: Request) -> AsyncGenerator[str | Completion, None]:
        messages: list[ChatCompletionMessageParam] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [_message(m) for m in request.messages]
        limit = request.max_output_tokens
        parts: list[str] = []
        model, usage = request.model, None
        try:
            chunks = await self._client.chat.completions.create(
                model=request.model,
                messages=messages,
                stream=True,
                # Without this the stream carries no token counts; the usage arrives in a
                # last chunk with no choices, which a dropped stream never delivers.
                stream_options={"include_usage": True},
                max_tokens=limit if self._token_param == "max_tokens" else omit,
                max_completion_tokens=limit if self._token_param != "max_tokens" else omit,
                prompt_cache_key=request.cache_key if self._cache_keys and request.cache_key else omit,
            )
            async with chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    if chunk.choices and chunk.choices[0].delta is not None:
                        text = chunk.choices[0].delta.content
                        if text:
                            parts.append(text)
                            yield text
        except Exception as exc:
            raise map_openai_error(exc) from kept_cause(exc)
        yield Completion(text="".join(parts), model=model, usage=usage)

    async def aclose(self) -> None:
        await self._client.close()


def _message(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "user":
        return {"role": "user", "content": message.content}
    return {"role": "assistant", "content": message.content}


def _usage(usage: CompletionUsage) -> Usage:
    """Compatible servers (Ollama, llama.cpp) send no ``prompt_tokens_details``: 0 cached."""
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Usage(usage.prompt_tokens, usage.completion_tokens, cached)


def kept_cause(exc: Exception) -> Exception | None:
    """Keep transport causes for debugging; drop API errors, whose text may quote the key."""
    return None if isinstance(exc, openai.APIStatusError) else exc
