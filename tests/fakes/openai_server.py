"""A fake OpenAI API: /v1/chat/completions and /v1/responses, JSON and SSE, as the SDK expects.

Responses are stored (``store`` defaults to true, like the real service) so a later
``previous_response_id`` resolves to the stored input + output; ``instructions`` are never
inherited. ``expire_responses()`` forgets them all, which turns the next chained call into
the real 400 ``previous_response_not_found``.

Usage::

    async with FakeOpenAI() as fake:
        settings = Settings(_env_file=None, openai_api_key="k", openai_base_url=fake.base_url)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from tests.fakes.brain import (
    Fail,
    FakeLLMServer,
    Fault,
    Frame,
    Hang,
    Message,
    RecordedRequest,
    StreamFail,
    count_words,
    image_problem,
    new_id,
    text_of,
)
from tests.fakes.reasoning import in_content, openai_refusal

__all__ = ["FakeOpenAI", "RecordedRequest"]

_TYPES = {401: "invalid_request_error", 429: "requests", 500: "server_error", 503: "server_error"}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


class FakeOpenAI(FakeLLMServer):
    url_suffix = "/v1"

    def __init__(self) -> None:
        super().__init__()
        self._stored: dict[str, list[Message]] = {}
        # How /v1/responses treats what it is sent, like the servers in front of local models:
        # "openai" (the service), "llama.cpp" (typed input items only, no previous_response_id),
        # "forgetful-proxy" (accepts previous_response_id and forgets the earlier turns, as
        # LiteLLM's translation to Chat Completions does without its database).
        self.mode = "openai"

    def expire_responses(self) -> None:
        """Forget every stored response (what the service does after its retention)."""
        self._stored.clear()

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)

    def _error_body(self, fail: Fail) -> dict[str, Any]:
        code = fail.code or _CODES.get(fail.status)
        param = "previous_response_id" if code == "previous_response_not_found" else fail.param
        fallback = "invalid_request_error" if fail.status < 500 else "server_error"
        kind = _TYPES.get(fail.status, fallback)
        return {"error": {"message": fail.message, "type": kind, "param": param, "code": code}}

    async def _early(self, fault: Fault | None, request: web.Request, body: dict[str, Any]
                     ) -> web.StreamResponse | None:
        if isinstance(fault, Fail):
            return self._error(fault)
        if isinstance(fault, Hang):
            return await self._hang()
        refused = openai_refusal(request.path, body, self.rejects_reasoning)
        return self._error(refused) if refused is not None else None

    def _output_usage(self, text: str) -> tuple[int, int]:
        """Output tokens (the answer's plus any thinking) and the thinking's part."""
        reasoning = self.reasoning_tokens or 0
        return count_words([{"content": text}]) + reasoning, reasoning

    # --- Chat Completions ----------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._begin(request)
        if (early := await self._early(fault, request, body)) is not None:
            return early
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return self._error(Fail(400, None, "'model' and 'messages' are required.", None))
        if (problem := image_problem(body["messages"])) is not None:
            return self._error(Fail(400, "invalid_image_format", problem, None))
        messages = [
            {
                "role": "system" if m.get("role") == "developer" else str(m.get("role")),
                "content": text_of(m.get("content")),
            }
            for m in body["messages"]
            if isinstance(m, dict)
        ]
        if (refused := self.over_window(messages)) is not None:
            return refused
        text = self._reply(messages)
        prompt, (completion, reasoning) = count_words(messages), self._output_usage(text)
        usage: dict[str, Any] = dict(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        if self.prefix_cache is not None:
            cached = self.prefix_cache.cached(str(body.get("prompt_cache_key", "")), messages)
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
        elif self.cached_tokens is not None:  # as api.openai.com reports it
            cached = min(self.cached_tokens, prompt)
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning, "audio_tokens": 0}
        text = in_content(text, self.thinking, self.thinking_as)
        head = {"id": new_id("chatcmpl-", 24), "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            reply = {"role": "assistant", "content": text}
            choice = dict(index=0, message=reply, finish_reason="stop", logprobs=None)
            return web.json_response(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = self._chat_frames(head, text, usage if include_usage else None, fault)
        return await self._sse(request, frames, fault)

    def _chat_frames(
        self, head: dict[str, Any], text: str, usage: dict[str, Any] | None, fault: Fault | None
    ) -> Iterator[Frame]:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {**head, "object": "chat.completion.chunk", "choices": choices, **extra}

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}

        yield Frame(chunk([choice({"role": "assistant", "content": ""})]))
        if self.thinking and self.thinking_as == "reasoning_content":
            for piece in self._pieces(self.thinking):
                yield Frame(chunk([choice({"reasoning_content": piece, "content": None})]),
                            text=len(piece))
        limit = fault.after_chars if isinstance(fault, StreamFail) else None
        for piece in self._pieces(text, limit):
            yield Frame(chunk([choice({"content": piece})]), text=len(piece))
        if isinstance(fault, StreamFail):
            error = dict(message=fault.message, type="server_error", param=None, code=fault.code)
            yield Frame({"error": error})
            return
        yield Frame(chunk([choice({}, "stop")]))
        if usage is not None:
            yield Frame(chunk([], usage=usage))
        yield Frame("[DONE]")

    # --- Responses -----------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._begin(request)
        if (early := await self._early(fault, request, body)) is not None:
            return early
        if not body.get("model"):
            return self._error(Fail(400, None, "'model' is required.", None))
        if (problem := image_problem(body.get("input"))) is not None:
            return self._error(Fail(400, "invalid_image_format", problem, None))
        if (refused := self._refused_like_llama_cpp(body)) is not None:
            return refused
        previous = body.get("previous_response_id")
        history: list[Message] = []
        if previous and self.mode != "forgetful-proxy":
            if previous not in self._stored:
                message = f"Previous response with id '{previous}' not found."
                return self._error(Fail(400, "previous_response_not_found", message, None))
            history = self._stored[previous]
        conversation = history + _input_messages(body.get("input"))
        instructions = body.get("instructions")
        system = [{"role": "system", "content": instructions}] if instructions else []
        seen = system + conversation
        if (refused := self.over_window(seen)) is not None:
            return refused
        text = self._reply(seen)
        rid = new_id("resp_", 48)
        inp, (out, reasoning) = count_words(seen), self._output_usage(text)
        usage = {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": min(self.cached_tokens or 0, inp)},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inp + out,
        }
        text = in_content(text, self.thinking, self.thinking_as)
        if body.get("store", True) and not isinstance(fault, StreamFail):
            self._stored[rid] = conversation + [{"role": "assistant", "content": text}]
        if not body.get("stream"):
            item = _message_item(new_id("msg_", 48), text, "completed")
            return web.json_response(_response(rid, body, "completed", [item], usage))
        return await self._sse(request, self._response_frames(rid, body, text, usage, fault), fault)

    def _refused_like_llama_cpp(self, body: dict[str, Any]) -> web.Response | None:
        """llama.cpp's answers to what it does not take (400s with no OpenAI error code)."""
        if self.mode != "llama.cpp":
            return None
        if body.get("previous_response_id"):
            return _llama_error("llama.cpp does not support 'previous_response_id'.")
        items = body.get("input")
        if isinstance(items, list) and not all(_typed_item(i) for i in items):
            return _llama_error("Cannot determine type of 'item'")
        return None

    def _response_frames(
        self, rid: str, body: dict[str, Any], text: str, usage: dict[str, Any], fault: Fault | None
    ) -> Iterator[Frame]:
        numbers = itertools.count()

        def event(kind: str, chars: int = 0, **fields: Any) -> Frame:
            data = {"type": kind, "sequence_number": next(numbers), **fields}
            return Frame(data, event=kind, text=chars)

        started = _response(rid, body, "in_progress", [], None)
        yield event("response.created", response=started)
        yield event("response.in_progress", response=started)
        if self.thinking and self.thinking_as == "reasoning_content":  # a reasoning summary
            at0: dict[str, Any] = {"item_id": new_id("rs_", 48), "output_index": 0, "summary_index": 0}
            for piece in self._pieces(self.thinking):
                yield event("response.reasoning_summary_text.delta", **at0, delta=piece)
        mid = new_id("msg_", 48)
        at: dict[str, Any] = {"item_id": mid, "output_index": 0, "content_index": 0}
        yield event(
            "response.output_item.added",
            output_index=0,
            item=_message_item(mid, None, "in_progress"),
        )
        yield event("response.content_part.added", **at, part=_text_part(""))
        limit = fault.after_chars if isinstance(fault, StreamFail) else None
        pieces = self._pieces(text, limit)
        for piece in pieces:
            yield event("response.output_text.delta", len(piece), **at, delta=piece, logprobs=[])
        if isinstance(fault, StreamFail):
            yield _stream_failure(event, fault, rid, body, mid, "".join(pieces), usage)
            return
        yield event("response.output_text.done", **at, text=text, logprobs=[])
        yield event("response.content_part.done", **at, part=_text_part(text))
        item = _message_item(mid, text, "completed")
        yield event("response.output_item.done", output_index=0, item=item)
        yield event("response.completed", response=_response(rid, body, "completed", [item], usage))


def _stream_failure(
    event: Callable[..., Frame],
    fault: StreamFail,
    rid: str,
    body: dict[str, Any],
    mid: str,
    partial: str,
    usage: dict[str, Any],
) -> Frame:
    kind = fault.event or "response.failed"
    if kind == "error":
        return event("error", code=fault.code, message=fault.message, param=None)
    if kind == "response.incomplete":
        item = _message_item(mid, partial, "incomplete")
        response = _response(rid, body, "incomplete", [item], usage)
        response["incomplete_details"] = {"reason": fault.code}
        return event(kind, response=response)
    response = _response(rid, body, "failed", [], None)
    response["error"] = {"code": fault.code, "message": fault.message}
    return event(kind, response=response)


def _input_messages(raw: object) -> list[Message]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        return []
    return [
        {"role": str(item["role"]), "content": text_of(item.get("content"))}
        for item in raw
        if isinstance(item, dict) and "role" in item and item.get("type", "message") == "message"
    ]


def _typed_item(item: object) -> bool:
    """An input item llama.cpp can read: a typed message with typed text parts (output_text
    for the assistant, input_text otherwise), or a user message with plain text."""
    if not isinstance(item, dict) or item.get("type") != "message":
        return False
    content = item.get("content")
    if isinstance(content, str):
        return item.get("role") != "assistant"
    part = "output_text" if item.get("role") == "assistant" else "input_text"
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == part and isinstance(p.get("text"), str)
        for p in content
    )


def _llama_error(message: str) -> web.Response:
    error = {"code": 400, "message": message, "type": "invalid_request_error"}
    return web.json_response({"error": error}, status=400)


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(mid: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [_text_part(text)]
    return {"id": mid, "type": "message", "status": status, "role": "assistant", "content": content}


_RESPONSE_FIXED: dict[str, Any] = {
    **dict(object="response", error=None, incomplete_details=None, parallel_tool_calls=True),
    **dict(temperature=1.0, top_p=1.0, tool_choice="auto", tools=[], truncation="disabled"),
    **dict(text={"format": {"type": "text"}}, metadata={}),
}
_ECHOED = ("instructions", "max_output_tokens", "model", "previous_response_id")


def _response(
    rid: str, body: dict[str, Any], status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    """A Response object: fixed defaults, the request's echoed fields, and this outcome."""
    echoed = {key: body.get(key) for key in _ECHOED}
    now = int(time.time())
    return {
        **_RESPONSE_FIXED,
        **echoed,
        **dict(id=rid, created_at=now, status=status, output=output, usage=usage),
        "store": body.get("store", True),
    }
