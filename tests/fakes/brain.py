"""What the fake LLM servers share: the reply "brain", the request log and scripted faults.

The fakes speak the real wire formats so the real SDK clients (retries, SSE parsing, error
classes) are exercised; only the model is fake. The brain is deterministic but answers from
the whole conversation it received, so a test can tell whether history really reached the
"model" (ask "what is my name" after "My name is Ada").

Every fake sees the conversation as ``[{"role", "content"}]`` with the system prompt (Chat
``system`` message, Responses ``instructions``, Anthropic ``system``) as a leading
``{"role": "system"}`` item. That is what ``reply_with(fn)`` functions receive too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.connections import ConnectionCounter

Message = dict[str, str]
Replier = Callable[[list[Message]], str]

_NAME = re.compile(r"\bmy name is\s+([^\s.,!?;:]+)", re.IGNORECASE)


def default_reply(messages: list[Message]) -> str:
    """Answer from the conversation: name recall, summaries, or an echo."""
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    user_turns = [m for m in turns if m["role"] == "user"]
    latest = user_turns[-1]["content"].strip() if user_turns else ""
    lowered = latest.lower()
    if "what is my name" in lowered or "what's my name" in lowered:
        names = [n for m in user_turns for n in _NAME.findall(m["content"])]
        return f"Your name is {names[-1]}." if names else "I don't know your name."
    if "summar" in lowered:  # "Summarize ...", "a summary of ..."
        earlier = [m["content"] for m in turns[: len(turns) - 1]] if turns else []
        lines = earlier + latest.splitlines()[1:]
        pieces = [" ".join(line.split())[:60] for line in lines if line.strip()]
        digest = " | ".join(pieces)[:300]
        return "Summary: " + (digest or "nothing has been said yet.")
    return "You said: " + latest[:200]


def count_words(messages: Iterable[Message]) -> int:
    """A stand-in for tokens: words, at least 1 (real usage is never zero)."""
    return max(1, sum(len(m.get("content", "").split()) for m in messages))


def text_of(content: object) -> str:
    """Flatten a message's content: a string, or a list of text parts of any API."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


_MAGIC = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8",
          "image/webp": b"RIFF"}


def image_problem(messages: object) -> str | None:
    """What the real APIs answer 400 for in an image part, in any of the three formats
    (Chat ``image_url``, Responses ``input_image``, Anthropic ``image``): a type they do
    not take, base64 that does not decode, bytes that are not the declared type."""
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            declared = _declared_image(part) if isinstance(part, dict) else None
            if declared is None:
                continue
            media, data = declared
            try:
                raw = base64.b64decode(data, validate=True)
            except ValueError:
                return "Invalid base64 data in image."
            if media not in _MAGIC or not raw.startswith(_MAGIC[media]):
                return f"Image does not match the provided media type {media}."
    return None


def _declared_image(part: dict[str, Any]) -> tuple[str, str] | None:
    """(media type, base64) of an image part, None for any other part."""
    kind = part.get("type")
    if kind == "image":
        source = part.get("source") or {}
        return str(source.get("media_type")), str(source.get("data"))
    url = part.get("image_url")
    if kind == "image_url" and isinstance(url, dict):
        url = url.get("url")
    if kind not in ("image_url", "input_image") or not isinstance(url, str):
        return None
    head, _, data = url.partition(";base64,")
    return head.removeprefix("data:"), data


class PrefixCache:
    """OpenAI's automatic prompt cache, emulated: a prompt's longest prefix (in the fakes'
    word "tokens") shared with an earlier prompt of the same ``prompt_cache_key`` is served
    from the cache — from 1,024 tokens on, in steps of 128, as api.openai.com reports it."""

    MINIMUM, STEP = 1024, 128

    def __init__(self) -> None:
        self._seen: dict[str, list[list[str]]] = {}

    def cached(self, key: str, messages: list[Message]) -> int:
        words = [w for m in messages for w in (f"<{m.get('role')}>", *m.get("content", "").split())]
        earlier = self._seen.setdefault(key, [])
        shared = max((len(os.path.commonprefix([words, e])) for e in earlier), default=0)
        earlier.append(words)
        del earlier[:-8]  # a cache keeps recent prefixes
        return 0 if shared < self.MINIMUM else shared - shared % self.STEP


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    json: dict[str, Any]
    headers: Mapping[str, str]  # case-insensitive (aiohttp CIMultiDict)


@dataclass(frozen=True, slots=True)
class Fail:
    status: int
    code: str | None
    message: str
    retry_after: float | None
    param: str | None = None  # OpenAI's error.param (the parameter refused)


@dataclass(frozen=True, slots=True)
class Hang:
    pass


@dataclass(frozen=True, slots=True)
class Break:
    after_chars: int


@dataclass(frozen=True, slots=True)
class StreamFail:
    """An error reported inside a 200 stream (Chat error chunk, Responses event, Anthropic
    ``event: error``) after ``after_chars`` characters of text."""

    code: str
    message: str
    after_chars: int
    event: str | None  # Responses only: "error", "response.failed" or "response.incomplete"


Fault = Fail | Hang | Break | StreamFail


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event; ``text`` is how many characters of reply text it carries."""

    data: dict[str, Any] | str
    event: str | None = None
    text: int = 0


class FakeLLMServer:
    """aiohttp server on 127.0.0.1:0 with a request log and a FIFO queue of faults.

    Subclasses add routes (``_add_routes``) and the provider's error body (``_error_body``).
    """

    url_suffix = ""
    request_id_header = "x-request-id"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay: float = 0.0
        self.latency: float = 0.0  # seconds before a response starts (time to first token)
        self.chunk_size: int = 8
        self.connections = ConnectionCounter()  # TCP connections accepted (keep-alive proof)
        self.in_flight = 0  # requests being answered right now (a streamed one until its end)
        self.most_in_flight = 0
        # The model's context window, as a local server enforces it (None: unlimited). Its
        # tokenizer counts denser than tiktoken's cl100k, as local models' do (~3 chars).
        self.window: int | None = None
        self.request_id: str | None = None  # the id error responses carry (proxies: ~600 chars)
        # Input tokens to report as served from the prompt cache, in the provider's own usage
        # fields (capped at the prompt's size); None: the usage carries no cache details, as
        # from servers in front of local models.
        self.cached_tokens: int | None = None
        # Reasoning models (tests/fakes/reasoning.py): thinking tokens to report in the usage
        # (None: no details, as from local servers), thinking text and where it goes, and
        # whether the model refuses the reasoning parameter.
        self.reasoning_tokens: int | None = None
        self.thinking: str | None = None
        self.thinking_as = "tags"
        self.rejects_reasoning = False
        self.prefix_cache: PrefixCache | None = None  # emulate a prefix cache (OpenAI Chat)
        self.base_url = ""
        self._replier: Replier = default_reply
        self._faults: deque[Fault] = deque()
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        self._release = asyncio.Event()
        app = web.Application(middlewares=[self._counted])
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        self.connections.attach(self._runner)
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}{self.url_suffix}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._release is not None:
            self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _counted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    # --- scripting API -------------------------------------------------------------------

    def reply_with(self, text_or_fn: str | Replier) -> None:
        """Fixed text, or fn(messages) -> str, for every later call."""
        if isinstance(text_or_fn, str):
            fixed = text_or_fn
            self._replier = lambda _messages: fixed
        else:
            self._replier = text_or_fn

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str = "Injected failure.",
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests get an HTTP error in the provider's JSON shape."""
        self._faults.extend([Fail(status, code, message, retry_after)] * times)

    def hang_next(self, times: int = 1) -> None:
        """The next ``times`` requests are accepted and never answered."""
        self._faults.extend([Hang()] * times)

    def break_stream_next(self, after_chars: int = 10) -> None:
        """The next request, if it streams, drops the connection after ``after_chars`` chars
        (whole deltas, so possibly a few more)."""
        self._faults.append(Break(after_chars))

    def fail_stream_next(
        self,
        *,
        code: str = "server_error",
        message: str = "The server had an error while processing your request.",
        after_chars: int = 0,
        event: str | None = None,
    ) -> None:
        """The next streamed reply reports an error inside the 200 stream after
        ``after_chars`` characters. ``event`` picks the Responses event ("error",
        "response.failed" (default), "response.incomplete" with ``code`` as the reason)."""
        self._faults.append(StreamFail(code, message, after_chars, event))

    # --- for subclasses ----------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _error_body(self, fail: Fail) -> dict[str, Any]:
        raise NotImplementedError

    async def _begin(self, request: web.Request) -> tuple[dict[str, Any], Fault | None]:
        """Record the request and take the next fault, if any."""
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        self.requests.append(RecordedRequest(request.path, body, request.headers.copy()))
        if self.latency:
            await asyncio.sleep(self.latency)
        return body, (self._faults.popleft() if self._faults else None)

    def _reply(self, messages: list[Message]) -> str:
        return self._replier(messages)

    def _pieces(self, text: str, limit: int | None = None) -> list[str]:
        """The reply cut into ``chunk_size`` deltas; with ``limit``, only the first ones
        until at least ``limit`` characters (none for 0)."""
        size = max(1, self.chunk_size)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        if limit is None:
            return pieces
        out: list[str] = []
        while pieces and sum(map(len, out)) < limit:
            out.append(pieces.pop(0))
        return out

    def over_window(self, messages: list[Message]) -> web.Response | None:
        """llama.cpp's refusal of a prompt over its context size, or None when it fits."""
        if self.window is None:
            return None
        used = sum(math.ceil(len(m.get("content", "")) / 3) + 4 for m in messages)
        if used <= self.window:
            return None
        message = (f"request ({used} tokens) exceeds the available context size "
                   f"({self.window} tokens), try increasing it")
        error = {"code": 400, "message": message, "type": "exceed_context_size_error",
                 "n_prompt_tokens": used, "n_ctx": self.window}
        return web.json_response({"error": error}, status=400)

    def _error(self, fail: Fail) -> web.Response:
        headers = {self.request_id_header: self.request_id or new_id("req_")}
        if fail.retry_after is not None:
            headers["retry-after-ms"] = str(int(fail.retry_after * 1000))
            headers["retry-after"] = str(math.ceil(fail.retry_after))
        return web.json_response(self._error_body(fail), status=fail.status, headers=headers)

    async def _hang(self) -> web.Response:
        assert self._release is not None
        await self._release.wait()
        return web.Response(status=503)

    async def _sse(
        self, request: web.Request, frames: Iterable[Frame], fault: Fault | None
    ) -> web.StreamResponse:
        """Write frames as SSE; sleep ``delay`` before each text frame; honour a Break."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        sent = 0
        for frame in frames:
            if frame.text and self.delay:
                await asyncio.sleep(self.delay)
            await response.write(_encode(frame))
            sent += frame.text
            if isinstance(fault, Break) and frame.text and sent >= fault.after_chars:
                return await _drop(request, response)
        if isinstance(fault, Break):  # the reply was shorter than after_chars
            return await _drop(request, response)
        await response.write_eof()
        return response


def new_id(prefix: str, hex_chars: int = 32) -> str:
    return prefix + secrets.token_hex(hex_chars // 2 + 1)[:hex_chars]


def _encode(frame: Frame) -> bytes:
    data = frame.data if isinstance(frame.data, str) else json.dumps(frame.data)
    head = f"event: {frame.event}\n" if frame.event else ""
    return f"{head}data: {data}\n\n".encode()


async def _drop(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Close the socket mid-body: the client sees an incomplete chunked response."""
    response.force_close()
    if request.transport is not None:
        request.transport.close()
    return response
