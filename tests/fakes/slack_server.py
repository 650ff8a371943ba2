"""A fake Slack Web API (+ Socket Mode endpoint) on 127.0.0.1 for driving the real SDKs.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)

- Records every call (``slack.calls``: method, merged query/form/JSON args, token).
- Answers ``auth.test`` (with ``x-oauth-scopes``), chat.postMessage / update / postEphemeral /
  startStream / appendStream / stopStream (with fresh ``ts`` values), conversations.replies
  (from ``slack.threads``, paged by ``limit`` and ``next_cursor``) / .history (from
  ``slack.history``), users.info (``slack.add_user``),
  assistant.threads.*, views.*, and anything else with ``{"ok": true}``.
- ``slack.posts`` is what users would see: each bot message with its current text.
- ``rate_limit(method, times, retry_after)`` → HTTP 429 with Retry-After; ``fail(method,
  error, times)`` → ``{"ok": false, "error": ...}``.
- ``slack.response_url`` for command payloads: what the bot posts there is in ``responses``.
- ``apps.connections.open`` returns a loopback websocket; ``await slack.socket_send(type,
  payload)`` delivers an envelope to the connected client and returns its ack.
- Payload builders and ``signed_headers`` (tests/fakes/slack_payloads.py) are re-exported.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.connections import ConnectionCounter
from tests.fakes.slack_payloads import (  # re-exported: tests import them from here
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    event_callback,
    form_body,
    message_event,
    message_shortcut,
    signed_headers,
    slash_command,
)

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "FakeSlack",
    "event_callback",
    "form_body",
    "message_event",
    "message_shortcut",
    "signed_headers",
    "slash_command",
]
SCOPES = (
    "app_mentions:read,assistant:write,channels:history,groups:history,im:history,"
    "mpim:history,chat:write,commands,users:read,files:read"
)
SIGN_IN_PAGE = "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body></body></html>"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    json: bool
    started: float = 0.0  # monotonic, when the request arrived
    ended: float = 0.0  # monotonic, when it was answered
    ts: str = ""  # the message it acted on (chat.*: the ``ts`` sent or the one created)

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


@dataclass
class Post:
    """A message the bot made, as a user sees it now."""

    channel: str
    ts: str
    thread_ts: str
    text: str
    kind: str  # "message" | "stream" | "ephemeral"
    user: str = ""  # ephemeral recipient
    edits: int = 0
    open: bool = False  # a stream not stopped yet


@dataclass
class FakeSlack:
    bot_token: str = "xoxb-test-token"
    app_token: str = "xapp-test-token"
    team_id: str = TEAM_ID
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    calls: list[Call] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    limits: dict[str, list[int]] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    delays: dict[str, float] = field(default_factory=dict)  # method → seconds before answering
    files: dict[str, bytes] = field(default_factory=dict)  # file id → content (url_private)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (file id, token) per GET
    file_delay: float = 0.0  # seconds before a file download answers
    scopes: str = SCOPES  # the bot token's, as auth.test's x-oauth-scopes header lists them
    connections: ConnectionCounter = field(default_factory=ConnectionCounter)

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._by_ts: dict[tuple[str, str], Post] = {}  # (channel, ts) → post: O(1) edits at scale
        self._epoch = int(time.time())
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self.sockets_opened = 0  # Socket Mode connections the client has made so far
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self.socket_connected = asyncio.Event()
        self._silent: set[web.WebSocketResponse] = set()  # connections that went quiet

    # --- lifecycle ---
    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/hooks/{name}", self._hook)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file)
        app.router.add_get("/signin", self._sign_in)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.connections.attach(self._runner)
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/"

    @property
    def response_url(self) -> str:
        """A ``response_url`` for command/shortcut payloads; posts land in ``responses``."""
        return f"http://127.0.0.1:{self._port}/hooks/respond"

    # --- test controls ---
    def next_ts(self) -> str:
        """A fresh message ts near the current time, as Slack's are (one second apart)."""
        n = next(self._ts)
        return f"{self._epoch + n}.{n:06d}"

    def add_user(self, user_id: str, display_name: str, real_name: str = "") -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": display_name.lower().replace(" ", "."),
            "real_name": real_name or display_name,
            "profile": {"display_name": display_name, "real_name": real_name or display_name},
        }

    def add_file(self, name: str, data: bytes, *, mimetype: str = "text/plain",
                 filetype: str = "text") -> dict[str, Any]:
        """A file the fake serves at its ``url_private``: the file object an event carries."""
        file_id = f"F{len(self.files) + 1:08d}"
        self.files[file_id] = data
        url = f"http://127.0.0.1:{self._port}/files-pri/{self.team_id}-{file_id}/{name}"
        return {"id": file_id, "created": self._epoch, "timestamp": self._epoch, "name": name,
                "title": name, "mimetype": mimetype, "filetype": filetype, "user": "U0ALICE",
                "mode": "hosted", "is_external": False, "size": len(data),
                "url_private": url,
                "permalink": f"https://test.slack.com/files/U0ALICE/{file_id}/{name}"}

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self.errors.setdefault(method, []).extend([error] * times)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 0) -> None:
        self.limits.setdefault(method, []).extend([retry_after] * times)

    def calls_to(self, *methods: str) -> list[Call]:
        return [c for c in self.calls if c.method in methods]

    def visible(self, channel: str | None = None, thread_ts: str | None = None) -> list[Post]:
        """The bot's messages (optionally in one channel / thread), oldest first."""
        return [
            p
            for p in self.posts
            if (channel is None or p.channel == channel) and (thread_ts is None or p.thread_ts == thread_ts)
        ]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        """Wait until ``method`` has been called ``count`` times; returns those calls."""
        deadline = time.monotonic() + within
        while len(self.calls_to(method)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"{method} x{count} not called within {within}s: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return self.calls_to(method)

    # --- Web API ---
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        is_json = request.content_type == "application/json"
        if request.can_read_body:
            if is_json:
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(args.pop("token", ""))
        call = Call(method, args, token, is_json, started=time.monotonic(), ts=str(args.get("ts", "")))
        self.calls.append(call)
        self._changed.set()
        try:
            return await self._answer(method, args, token, call)
        finally:
            call.ended = time.monotonic()

    async def _answer(self, method: str, args: dict[str, Any], token: str, call: Call) -> web.Response:
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        if self.limits.get(method):
            retry_after = self.limits[method].pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        if token not in (self.bot_token, self.app_token):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "apps.connections.open" and token != self.app_token:
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        if self.errors.get(method):
            return web.json_response({"ok": False, "error": self.errors[method].pop(0)})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        body = handler(args) if handler else {}
        call.ts = call.ts or str(body.get("ts", ""))
        headers = {"x-oauth-scopes": self.scopes} if method == "auth.test" else None
        return web.json_response({"ok": "error" not in body, **body}, headers=headers)

    async def _file(self, request: web.Request) -> web.Response:
        """``url_private``: the bytes for the bot token in ``Authorization: Bearer``; without
        it, like Slack, a redirect to the sign-in page (an HTML page with status 200)."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        file_id = request.match_info["team_file"].rsplit("-", 1)[-1]
        self.downloads.append((file_id, token))
        if self.file_delay:
            await asyncio.sleep(self.file_delay)
        if token != self.bot_token:
            raise web.HTTPFound("/signin")
        if file_id not in self.files:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _sign_in(self, request: web.Request) -> web.Response:
        return web.Response(text=SIGN_IN_PAGE, content_type="text/html")

    async def _hook(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        self._changed.set()
        return web.Response(text="ok")

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://test.slack.com/",
            "team": "Test Team",
            "user": "threadbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post(self, args: dict[str, Any], kind: str, text: str) -> Post:
        post = Post(
            channel=str(args.get("channel", "")),
            ts=self.next_ts(),
            thread_ts=str(args.get("thread_ts") or ""),
            text=text,
            kind=kind,
            user=str(args.get("user", "")),
        )
        self.posts.append(post)
        self._by_ts[(post.channel, post.ts)] = post
        return post

    def _find(self, channel: str, ts: str) -> Post | None:
        return self._by_ts.get((channel, ts))

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        text = args.get("markdown_text") or args.get("text") or ""
        post = self._post(args, "message", str(text))
        return {"channel": post.channel, "ts": post.ts, "message": {"text": post.text}}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        post = self._post(args, "ephemeral", str(args.get("markdown_text") or args.get("text")))
        return {"message_ts": post.ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        post = self._find(str(args.get("channel")), str(args.get("ts")))
        if post is not None:
            post.text = str(args.get("markdown_text") or args.get("text") or "")
            post.edits += 1
        return {"channel": args.get("channel"), "ts": args.get("ts")}

    def _chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        post = self._post(args, "stream", _stream_text(args))
        post.open = True
        return {"channel": post.channel, "ts": post.ts}

    def _chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        post = self._find(str(args.get("channel")), str(args.get("ts")))
        if post is not None:
            post.text += _stream_text(args)
            post.edits += 1
        return {"channel": args.get("channel"), "ts": args.get("ts")}

    def _chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        out = self._chat_appendStream(args)
        post = self._find(str(args.get("channel")), str(args.get("ts")))
        if post is not None:
            post.open = False
        return out

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """Oldest first, ``limit`` (≤ 1000, default 1000) per page, then the next page from
        ``response_metadata.next_cursor`` (base64 of "next_ts:<ts>"), as Slack pages."""
        channel, root = str(args.get("channel")), str(args.get("ts"))
        messages = self.threads.get((channel, root), [])
        own = [{"type": "message", "ts": p.ts, "text": p.text, "bot_id": BOT_ID,
                "user": BOT_USER_ID, "thread_ts": root}
               for p in self.posts if p.channel == channel and p.thread_ts == root
               and p.kind in ("message", "stream")]
        if own:  # the bot's own posts are part of the thread, as in Slack
            messages = sorted([*messages, *own], key=_ts_order)
        if args.get("oldest"):
            oldest = _ts_order({"ts": args["oldest"]})
            messages = [m for m in messages if _ts_order(m) >= oldest]
        limit = min(int(args.get("limit") or 1000), 1000)
        start = 0
        if args.get("cursor"):
            next_ts = base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:")
            start = next((i for i, m in enumerate(messages) if m.get("ts") == next_ts), -1)
            if start < 0:
                return {"error": "invalid_cursor"}
        page, rest = messages[start : start + limit], messages[start + limit :]
        cursor = base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode() if rest else ""
        return {"messages": page, "has_more": bool(rest), "response_metadata": {"next_cursor": cursor}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        messages = self.history.get(str(args.get("channel")), [])
        limit = int(args.get("limit") or 100)
        return {"messages": messages[:limit], "has_more": len(messages) > limit}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"user": user} if user is not None else {"error": "user_not_found"}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self._port}/socket"}

    # --- Socket Mode ---
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pings answered below, unless silenced
        await ws.prepare(request)
        self._sockets.append(ws)
        self.sockets_opened += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING and ws not in self._silent:
                    await ws.pong(msg.data)
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                future = self._acks.get(data.get("envelope_id", ""))
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:  # the next send waits for the client to connect again
                self.socket_connected.clear()
        return ws

    def silence_socket(self) -> None:
        """The newest Socket Mode connection goes quiet without closing, as a dead network
        path looks: its pings are never answered."""
        self._silent.add(self._sockets[-1])

    async def socket_send(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, within: float = 5,
        connection: int = -1,
    ) -> dict[str, Any]:
        """Deliver an envelope ("events_api" | "slash_commands" | "interactive") on one of
        the open connections (Slack spreads an app's events over up to 10; default: the
        newest); its ack."""
        await asyncio.wait_for(self.socket_connected.wait(), within)
        envelope_id = str(uuid.uuid4())
        future = self._acks[envelope_id] = asyncio.get_running_loop().create_future()
        await self._sockets[connection].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        try:
            return await asyncio.wait_for(future, within)
        finally:
            del self._acks[envelope_id]


def _stream_text(args: dict[str, Any]) -> str:
    text = str(args.get("markdown_text") or "")
    for chunk in args.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    return text


def _ts_order(message: dict[str, Any]) -> float:
    try:
        return float(message.get("ts") or 0)
    except (TypeError, ValueError):
        return 0.0
