"""A fake Anthropic Messages API: POST /v1/messages, JSON and named-event SSE.

``base_url`` has no ``/v1`` (the SDK adds it). Every SSE event carries an ``event:`` line:
the SDK silently skips events without one. Errors use Anthropic's shape
``{"type": "error", "error": {"type": ..., "message": ...}}``; ``fail_next``'s ``code`` is
the error type (derived from the status when omitted), and ``code="context_length_exceeded"``
produces Anthropic's real form of it: a 400 ``invalid_request_error`` "prompt is too long"
(whatever ``message`` says), so one test script works for both fakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web

from tests.fakes.brain import (
    Fail,
    FakeLLMServer,
    Fault,
    Frame,
    Hang,
    RecordedRequest,
    StreamFail,
    count_words,
    image_problem,
    new_id,
    text_of,
)
from tests.fakes.reasoning import anthropic_refusal

__all__ = ["FakeAnthropic", "RecordedRequest"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_TOO_LONG = "prompt is too long: 250000 tokens > 200000 maximum"
_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


class FakeAnthropic(FakeLLMServer):
    request_id_header = "request-id"

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    def _error_body(self, fail: Fail) -> dict[str, Any]:
        kind, message = _error_type(fail.status, fail.code), fail.message
        if fail.code == "context_length_exceeded":  # Anthropic says it in prose only
            kind, message = "invalid_request_error", _TOO_LONG
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": new_id("req_", 24),
        }

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._begin(request)
        if isinstance(fault, Fail):
            return self._error(fault)
        if isinstance(fault, Hang):
            return await self._hang()
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return self._error(Fail(400, None, f"{required}: Field required", None))
        if (refusal := anthropic_refusal(body, self.rejects_reasoning)) is not None:
            return self._error(Fail(400, None, refusal, None))
        if (problem := image_problem(body["messages"])) is not None:
            return self._error(Fail(400, None, problem, None))
        system = text_of(body.get("system") or "")
        messages = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": str(m.get("role")), "content": text_of(m.get("content"))}
            for m in body["messages"]
            if isinstance(m, dict)
        ]
        if (refused := self.over_window(messages)) is not None:
            return refused
        text = self._reply(messages)  # Claude's thinking is never in the text: its own block
        thought = (self.thinking or "Let me think.") if body.get("thinking") else None
        usage = {
            "input_tokens": count_words(messages),
            "output_tokens": count_words([{"content": text}]),
        }
        if self.cached_tokens is not None:
            # Anthropic's input_tokens is only what the cache did not serve
            cached = min(self.cached_tokens, usage["input_tokens"])
            usage["input_tokens"] -= cached
            usage |= {"cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}
        message = {
            "id": new_id("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": _thinking_blocks(thought) + [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return web.json_response(message)
        return await self._sse(request, self._frames(message, text, fault, thought), fault)

    def _frames(
        self, message: dict[str, Any], text: str, fault: Fault | None, thought: str | None
    ) -> Iterator[Frame]:
        def event(kind: str, chars: int = 0, **fields: Any) -> Frame:
            return Frame({"type": kind, **fields}, event=kind, text=chars)

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield event("message_start", message=start)
        index = 0
        if thought is not None:  # extended thinking: its own block, before the text
            block = {"type": "thinking", "thinking": "", "signature": ""}
            yield event("content_block_start", index=0, content_block=block)
            for piece in self._pieces(thought):
                yield event("content_block_delta", index=0,
                            delta={"type": "thinking_delta", "thinking": piece})
            yield event("content_block_delta", index=0,
                        delta={"type": "signature_delta", "signature": _SIGNATURE})
            yield event("content_block_stop", index=0)
            index = 1
        yield event("content_block_start", index=index, content_block={"type": "text", "text": ""})
        yield event("ping")
        limit = fault.after_chars if isinstance(fault, StreamFail) else None
        for piece in self._pieces(text, limit):
            delta = {"type": "text_delta", "text": piece}
            yield event("content_block_delta", len(piece), index=index, delta=delta)
        if isinstance(fault, StreamFail):
            kind = "api_error" if fault.code == "server_error" else fault.code
            yield event("error", error={"type": kind, "message": fault.message})
            return
        yield event("content_block_stop", index=index)
        yield event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": usage["output_tokens"]},
        )
        yield event("message_stop")


def _error_type(status: int, code: str | None) -> str:
    if code and code != "context_length_exceeded":
        return code
    if status in _TYPES:
        return _TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _thinking_blocks(thought: str | None) -> list[dict[str, Any]]:
    if thought is None:
        return []
    return [{"type": "thinking", "thinking": thought, "signature": _SIGNATURE}]
