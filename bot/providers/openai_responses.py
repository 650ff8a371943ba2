"""OpenAI Responses API: the one provider that can chain on ``previous_response_id``.

With a chain the service holds the earlier turns, so the caller sends only the new ones.
``instructions`` are not inherited through the chain and are therefore sent on every call.
Failures inside the 200 stream arrive as events (``error``, ``response.failed``,
``response.incomplete``), not exceptions, and are translated here like HTTP errors.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import openai
from openai import AsyncOpenAI, AsyncStream, omit
from openai.types.responses import (
    Response,
    ResponseInputParam,
    ResponseStreamEvent,
    ResponseUsage,
)

from bot.errors import ErrorKind, ProviderError
from bot.images import data_url
from bot.providers.openai_chat import code_kind, kept_cause, map_openai_error
from bot.providers.reasoning import Effort, Reasoning
from bot.providers.thinking import Relay
from bot.types import ChatMessage, Completion, Request, Thinking, Usage


class OpenAIResponsesProvider:
    """Streams ``/responses``; ``store=request.store`` keeps a response chainable."""

    name = "openai-responses"
    supports_chain = True

    def __init__(
        self, client: AsyncOpenAI, *, reasoning: Reasoning | None = None, cache_keys: bool = False
    ) -> None:
        self._client = client
        self._reasoning = reasoning or Reasoning()
        self._cache_keys = cache_keys  # prompt_cache_key: only where the server takes it

    async def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        chained = request.previous_response_id is not None
        relay = Relay(request.model)
        final: Response | None = None
        try:
            events = await self._open(request)
            async with events:
                async for event in events:
                    items = _text_items(event, relay)
                    if items is None:
                        final = _final(event, chained=chained and not relay.received) or final
                    for item in items or ():
                        yield item
        except ProviderError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, chained=chained) from kept_cause(exc)
        if final is None:
            raise ProviderError(ErrorKind.UNAVAILABLE, "stream ended before response.completed")
        if not relay.received and final.output_text:  # a server that sends no deltas
            for item in relay.delta(final.output_text):
                yield item
        for item in relay.end():
            yield item
        yield Completion(
            text=relay.text,
            model=final.model or request.model,
            response_id=final.id,
            usage=_usage(final.usage),
        )

    async def _open(self, request: Request) -> AsyncStream[ResponseStreamEvent]:
        """Start the stream; a server refusing ``reasoning`` gets the request again without
        it (and the model never gets it again in this process)."""
        effort = self._reasoning.effort(request.model)
        try:
            return await self._create(request, effort)
        except openai.APIStatusError as exc:
            if effort is None or not self._reasoning.refused(
                request.model, exc.status_code, exc.code, exc.param, exc.message
            ):
                raise
        return await self._create(request, None)

    async def _create(self, request: Request, effort: Effort | None) -> AsyncStream[ResponseStreamEvent]:
        return await self._client.responses.create(
            model=request.model,
            # ``extra_body`` (sent as given) instead of ``input=``, which the SDK would walk
            # item by item through its type-directed transform: most of a long turn's CPU,
            # with nothing to transform (see OpenAIChatProvider._create).
            extra_body={"input": input_items(request.messages)},
            instructions=request.system or omit,
            previous_response_id=request.previous_response_id or omit,
            store=request.store,
            # thinking counts against the output cap: the answer keeps its own
            max_output_tokens=request.max_output_tokens + self._reasoning.budget(effort),
            reasoning={"effort": effort} if effort else omit,
            prompt_cache_key=request.cache_key if self._cache_keys and request.cache_key else omit,
            stream=True,
        )

    async def aclose(self) -> None:
        await self._client.close()


def input_items(messages: Sequence[ChatMessage]) -> ResponseInputParam:
    """Fully typed input items. OpenAI treats ``type`` as optional; llama.cpp, and proxies
    that forward to it, answer "Cannot determine type of 'item'" without it, and take an
    assistant turn only as an output message with ``output_text`` parts."""
    items: list[dict[str, Any]] = []
    for m in messages:
        part = "input_text" if m.role == "user" else "output_text"
        images = [{"type": "input_image", "image_url": data_url(im), "detail": "auto"}
                  for im in (m.images if m.role == "user" else ())]
        items.append({"type": "message", "role": m.role,
                      "content": [*images, {"type": part, "text": m.content}]})
    return cast("ResponseInputParam", items)


def _usage(usage: ResponseUsage | None) -> Usage | None:
    """Servers in front of local models may leave out ``input_tokens_details``: 0 cached.
    (The SDK builds its models without validation, so a missing required field is simply
    absent: ``getattr``.)"""
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    out = getattr(usage, "output_tokens_details", None)
    reasoning = getattr(out, "reasoning_tokens", None) or 0
    return Usage(usage.input_tokens, usage.output_tokens, cached, reasoning)


def _text_items(event: ResponseStreamEvent, relay: Relay) -> list[str | Thinking] | None:
    """What a text or reasoning event adds (reasoning summaries and text are never the
    answer); None for the other events."""
    if event.type == "response.output_text.delta":
        return relay.delta(event.delta or "")
    if event.type.startswith("response.reasoning"):
        return relay.thought()
    return None


def _final(event: ResponseStreamEvent, *, chained: bool) -> Response | None:
    """The finished response a stream event carries (None for events that say nothing
    about the end); raises ProviderError for the failure events. ``chained``: the request
    chained and no text has been shown, so an unknown anchor can still be replayed."""
    if event.type == "response.completed":
        return event.response
    if event.type == "response.incomplete" and _cut_short(event.response):
        # Kept, as Chat's finish_reason="length" and Anthropic's max_tokens are.
        return event.response
    if event.type == "error":
        raise ProviderError(code_kind(event.code, chained=chained), f"stream error event code={event.code}")
    if event.type in ("response.failed", "response.incomplete"):
        raise _ended_badly(event.type, event.response)
    return None


def _cut_short(response: Response) -> bool:
    """An incomplete response that only ran out of output tokens: its text is still good."""
    details = response.incomplete_details
    return details is not None and details.reason == "max_output_tokens"


def _ended_badly(kind: str, response: Response) -> ProviderError:
    """``response.failed`` carries ``error.code``; ``response.incomplete`` (other than
    running out of output tokens) a reason such as ``content_filter``: a failure."""
    error: Any = response.error
    code = error.code if error is not None else None
    reason = response.incomplete_details.reason if response.incomplete_details else None
    detail = f"{kind} id={response.id} code={code} reason={reason}"
    return ProviderError(code_kind(code, chained=False), detail)
