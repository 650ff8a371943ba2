"""A fake Discord on 127.0.0.1: REST API and gateway WebSocket in one aiohttp server.

Real discord.py connects to it (point ``discord.http.Route.BASE`` at ``api_url`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` at ``gateway_url``). It holds one guild with one text
channel (``add_guild`` adds more, on the shard a test needs), records every REST call
(``calls``), and behaves like Discord where the bot can tell: a server's events go only to
the shard that owns it (discord_gateway.py), the bot's own messages and edits come back as
MESSAGE_CREATE / MESSAGE_UPDATE, a thread can be started from a message only once
(160004), content over 2,000 characters is refused (50035), a deleted message is gone
(10008), and a RESUME replays the events the session missed. Failures are injected with
``fail_next`` (429 carries a ``Via`` header and a JSON ``retry_after``, as discord.py
requires to retry instead of raising). The gateway lives in discord_gateway.py, app
commands in discord_interactions.py, the JSON it all sends in discord_payloads.py.

Facts this relies on (discord.py 2.7): REST bodies need ``Content-Type: application/json``
exactly (more in discord_payloads.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_gateway import GUILD_ID_SHIFT, shard_of
from tests.fakes.discord_interactions import EPHEMERAL, FakeInteractions, refuse_too_long
from tests.fakes.discord_interactions import Interaction as Interaction  # re-exported for tests
from tests.fakes.discord_interactions import rest_json as _json

TOKEN = "fake-bot-token"


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/1/messages"
    json: Any
    query: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    times: int


class FakeDiscord(FakeInteractions):
    def __init__(self, *, token: str = TOKEN, refuse_privileged: bool = False) -> None:
        super().__init__(token, refuse_privileged=refuse_privileged)
        self.calls: list[Call] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" | guild id → synced
        self.messages: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.app_id = p.snowflake()
        self.bot = self.add_user("threadbot", bot=True, id=self.app_id)
        self.guilds: dict[int, str] = {}  # id → name
        self.roles: dict[int, list[dict[str, Any]]] = {}  # guild → its roles but @everyone
        self.member_roles: dict[str, list[str]] = {}  # user id → ids of the roles they hold
        self.recommended_shards = 1  # what GET /gateway/bot advises
        self.app_flags = 0  # the application's (1 << 18: the Message Content intent is on)
        self.guild_id = self.add_guild("Test Server")
        self.channel_id = self.add_channel("general")
        self._failures: list[_Failure] = []
        self.cdn: dict[str, bytes] = {}  # attachment id → content
        self.cdn_gets: list[dict[str, str]] = []  # each CDN request's headers
        self.cdn_epoch = 0  # bumped by expire_cdn_links: every URL signed before stops working
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---
    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/attachments/{channel}/{id}/{filename}", self._cdn)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close_gateway()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- the world ---
    def add_user(self, name: str, *, bot: bool = False, id: int | None = None) -> dict[str, Any]:
        """A person (or another bot); ``name`` is their display name."""
        return p.user(name, bot=bot, id=id)

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> int:
        """A server the bot is in (before it connects: it learns of it in its GUILD_CREATE);
        with ``shard=(id, count)`` one whose events go to that shard."""
        guild = p.snowflake()
        if shard is not None:
            while shard_of(guild, shard[1]) != shard[0]:
                guild += 1 << GUILD_ID_SHIFT  # one millisecond later
        self.guilds[guild] = name
        return guild

    async def add_role(self, name: str, *, permissions: int = 0, guild: int | None = None,
                       members: tuple[dict[str, Any], ...] = ()) -> int:
        """A role in ``guild`` (the test server by default) granting ``permissions``, held by
        ``members``. A bot already connected hears of it as Discord tells it
        (GUILD_ROLE_CREATE); a member's roles then come with each message and interaction."""
        gid = guild or self.guild_id
        role_id = p.snowflake()
        held = self.roles.setdefault(gid, [])
        held.append(p.role(role_id, name, permissions, position=len(held) + 1))
        for person in members:
            self.member_roles.setdefault(person["id"], []).append(str(role_id))
        await self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(gid), "role": held[-1]})
        return role_id

    def held_roles(self, user: dict[str, Any], guild: int) -> list[dict[str, Any]]:
        """The roles ``user`` has in ``guild``, @everyone's first."""
        mine = set(self.member_roles.get(user["id"], []))
        everyone = p.role(guild, "@everyone", int(p.EVERYONE), position=0)
        return [everyone, *(r for r in self.roles.get(guild, []) if r["id"] in mine)]

    def add_channel(self, name: str, *, guild: int | None = None) -> int:
        return self._add(p.text_channel(name, guild or self.guild_id))

    def open_dm(self, user: dict[str, Any]) -> int:
        return self._add(p.dm_channel(user))

    def _add(self, channel: dict[str, Any]) -> int:
        cid = int(channel["id"])
        self.channels[cid] = channel
        return cid

    def _welcome(self, session_id: str,
                 shard: tuple[int, int] | None) -> list[tuple[str, dict[str, Any]]]:
        mine = [g for g in self.guilds if shard is None or shard_of(g, shard[1]) == shard[0]]
        ready = p.ready(self.bot, mine, self.app_id, session_id, self.gateway_url, shard=shard)
        return [("READY", ready), *(("GUILD_CREATE", self._guild_create(g)) for g in mine)]

    def _guild_create(self, guild: int) -> dict[str, Any]:
        chans = [c for c in self.channels.values() if c.get("guild_id") == str(guild)]
        return p.guild(guild, chans, self.bot, name=self.guilds[guild],
                       roles=self.roles.get(guild, []))

    def _message(self, channel: int, author: dict[str, Any], content: str, *, type: int = 0,
                 mentions: list[dict[str, Any]] | None = None,
                 reply_to: int | None = None) -> dict[str, Any]:
        chan = self.channels[channel]
        replied = self.messages.get(reply_to) if reply_to is not None else None
        msg = p.message(chan, author, content, type=type, mentions=mentions, replied=replied,
                        reply_to=reply_to, roles=self.member_roles.get(author["id"]))
        self.messages[int(msg["id"])] = msg
        chan["last_message_id"] = msg["id"]
        return msg

    # --- acting as people ---
    def attachment(self, filename: str, data: bytes, *, content_type: str | None = None,
                   channel: int | None = None) -> dict[str, Any]:
        """An attachment object served by the fake CDN at a signed URL (``ex``/``is``/``hm``,
        as Discord's are: without a valid signature the CDN answers 404)."""
        att_id = str(p.snowflake())
        self.cdn[att_id] = data
        path = f"/attachments/{channel or self.channel_id}/{att_id}/{filename}"
        url = f"http://127.0.0.1:{self.port}{path}?{_signed(path, self.cdn_epoch)}"
        att = {"id": att_id, "filename": filename, "size": len(data), "url": url,
               "proxy_url": url.replace("127.0.0.1", "localhost")}
        return att | ({"content_type": content_type} if content_type else {})

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_gets.append(dict(request.headers))
        data = self.cdn.get(request.match_info["id"])
        if data is None or request.query_string != _signed(request.path, self.cdn_epoch):
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=data, content_type="application/octet-stream")

    def expire_cdn_links(self) -> None:
        """A day later: the CDN refuses every attachment URL handed out so far (404), and
        reading a message again gives its attachments freshly signed URLs, as Discord does."""
        self.cdn_epoch += 1

    def _resigned(self, message: dict[str, Any] | None) -> dict[str, Any] | None:
        if message is None or not message.get("attachments"):
            return message
        fresh = []
        for att in message["attachments"]:
            path = att["url"].split("?", 1)[0].removeprefix(f"http://127.0.0.1:{self.port}")
            url = f"http://127.0.0.1:{self.port}{path}?{_signed(path, self.cdn_epoch)}"
            fresh.append(att | {"url": url, "proxy_url": url.replace("127.0.0.1", "localhost")})
        return message | {"attachments": fresh}

    async def say(self, author: dict[str, Any], content: str, *, channel: int | None = None,
                  mention_bot: bool = False, reply_to: int | None = None, ping: bool = True,
                  type: int = 0, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A person posts ``content``; with ``mention_bot`` it starts with the bot's mention.
        A reply pings (lists in ``mentions``) the replied-to author unless ``ping=False``,
        like Discord's client does by default."""
        if mention_bot:
            content = f"<@{self.bot['id']}> {content}"
        mentions = [u for u in [self.bot] if f"<@{u['id']}>" in content]
        if reply_to is not None and ping:
            replied = self.messages[reply_to]["author"]
            mentions += [replied] if replied not in mentions else []
        msg = self._message(channel or self.channel_id, author, content, type=type,
                            mentions=mentions, reply_to=reply_to)
        msg["attachments"] = attachments or []
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def edit(self, message: dict[str, Any], content: str) -> None:
        message.update(content=content, edited_timestamp=p.now())
        await self.dispatch("MESSAGE_UPDATE", message)

    async def delete(self, message: dict[str, Any]) -> None:
        """Someone (a moderator, the author) deletes ``message``: later edits get 10008."""
        del self.messages[int(message["id"])]
        where = ("id", "channel_id", "guild_id")
        await self.dispatch("MESSAGE_DELETE", {k: message[k] for k in where if k in message})

    # --- failures ---
    def fail_next(self, method: str, path: str, status: int, *, code: int = 0,
                  retry_after: float = 0.2, times: int = 1) -> None:
        """Answer the next ``times`` calls whose path matches the regex ``path`` with an error.
        429 gets Discord's body (``retry_after``, ``global``) and a ``Via`` header."""
        if status == 429:
            body = p.rate_limited(retry_after)
        else:
            body = p.error({403: "Missing Permissions"}.get(status, "Error"), code)
        self._failures.append(_Failure(method, re.compile(path), status, body, times))

    # --- REST ---
    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        call = Call(request.method, path, body, dict(request.query))
        self.calls.append(call)
        try:
            webhook = path.startswith(("/interactions/", "/webhooks/"))  # token in the URL
            if not webhook and request.headers.get("Authorization") != f"Bot {self.token}":
                return _json(p.error("401: Unauthorized"), 401)
            for failure in self._failures:
                if failure.method == request.method and failure.pattern.search(path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    headers = {"Via": "1.1 google"} if failure.status == 429 else {}
                    return _json(failure.body, failure.status, headers)
            response = await self._route(request.method, path, body or {}, call.query)
            if response.status < 300:  # plenty left: discord.py never has to wait
                response.headers.update({
                    "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
                    "X-RateLimit-Reset-After": "1.0",
                    "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                    "X-RateLimit-Bucket": f"bucket-{request.method}-{'/'.join(path.split('/')[:3])}"})
            return response
        finally:
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _route(self, method: str, path: str, body: Any,
                     query: dict[str, str]) -> web.Response:
        parts = path.strip("/").split("/")
        if parts[0] == "channels":
            return await self._channel_route(method, parts, body, query)
        if parts[0] in ("interactions", "webhooks"):
            return self._interaction_route(method, parts, body)
        match method, parts:
            case "GET", ["users", "@me"]:
                return _json(self.bot)
            case "GET", ["gateway", "bot"]:
                return _json(p.gateway_bot(self.gateway_url, self.recommended_shards))
            case "GET", ["oauth2", "applications", "@me"]:
                return _json(p.application(self.app_id, self.bot, self.app_flags))
            case "PUT", ["applications", _, "commands"]:
                return _json(self._sync("global", body))
            case "PUT", ["applications", _, "guilds", gid, "commands"]:
                return _json(self._sync(gid, body))
        return _not_found()

    async def _channel_route(self, method: str, parts: list[str], body: Any,
                             query: dict[str, str]) -> web.Response:
        match method, parts:
            case "POST", ["channels", cid, "typing"]:
                return web.Response(status=204)
            case "GET", ["channels", cid]:
                return self._found(self.channels.get(int(cid)), 10003, "Unknown Channel")
            case "GET", ["channels", cid, "messages"]:
                msgs = [m for m in self.messages.values()
                        if m["channel_id"] == cid and not m["flags"] & EPHEMERAL]
                before = int(query.get("before", 0))
                msgs = [m for m in msgs if not before or int(m["id"]) < before]
                return _json([self._resigned(m) for m in reversed(msgs)][: int(query.get("limit", 50))])
            case "GET", ["channels", cid, "messages", mid]:
                found = self._resigned(self.messages.get(int(mid)))
                return self._found(found, 10008, "Unknown Message")
            case "POST", ["channels", cid, "messages"]:
                return await self._post_message(int(cid), body)
            case "PATCH", ["channels", cid, "messages", mid]:
                return await self._edit_message(int(mid), body)
            case "POST", ["channels", cid, "messages", mid, "threads"]:
                return await self._start_thread(int(cid), int(mid), body)
        return _not_found()

    def _found(self, obj: dict[str, Any] | None, code: int, message: str) -> web.Response:
        return _json(obj) if obj is not None else _json(p.error(message, code), 404)

    def _sync(self, where: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        synced = p.synced_commands(body, self.app_id)
        self.commands[where] = synced
        return synced

    async def _post_message(self, cid: int, body: dict[str, Any]) -> web.Response:
        if cid not in self.channels:
            return _json(p.error("Unknown Channel", 10003), 404)
        if too_long := refuse_too_long(body):
            return too_long
        ref = (body.get("message_reference") or {}).get("message_id")
        msg = self._message(cid, self.bot, body.get("content") or "",
                            reply_to=int(ref) if ref else None)
        msg["mentions"] = []
        msg["allowed_mentions"] = body.get("allowed_mentions")  # kept to assert on; not Discord's
        await self.dispatch("MESSAGE_CREATE", msg)  # real Discord echoes the bot's own messages
        return _json(msg)

    async def _edit_message(self, mid: int, body: dict[str, Any]) -> web.Response:
        msg = self.messages.get(mid)
        if msg is None:
            return _json(p.error("Unknown Message", 10008), 404)
        if too_long := refuse_too_long(body):
            return too_long
        msg.update(content=body.get("content", msg["content"]), edited_timestamp=p.now(),
                   allowed_mentions=body.get("allowed_mentions"))
        await self.dispatch("MESSAGE_UPDATE", msg)
        return _json(msg)

    async def _start_thread(self, cid: int, mid: int, body: dict[str, Any]) -> web.Response:
        if mid in self.channels:
            return _json(p.error("A thread has already been created for this message",
                                 160004), 400)
        return _json(await self.start_thread(self.messages[mid], self.bot, body["name"]))

    async def start_thread(self, starter: dict[str, Any], owner: dict[str, Any],
                           name: str) -> dict[str, Any]:
        """``owner`` starts a public thread from ``starter`` (its id is the message's)."""
        thread = p.thread(starter, owner, name, int(starter["guild_id"]))
        self.channels[int(starter["id"])] = thread
        starter["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    # --- observing ---
    def calls_to(self, method: str, path: str) -> list[Call]:
        """Recorded calls with this method whose path matches the regex ``path``."""
        return [c for c in self.calls if c.method == method and re.search(path, c.path)]

    def bot_messages(self, channel: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted (in ``channel``), oldest first, with their current text;
        not its answers to commands (see discord_interactions.py)."""
        return [m for m in self.messages.values() if m["author"]["id"] == self.bot["id"]
                and "interaction_token" not in m
                and (channel is None or m["channel_id"] == str(channel))]

    async def wait_for(self, predicate: Any, within: float = 5.0) -> None:
        """Wait until ``predicate()`` is true; re-checked after every REST call and every
        gateway frame from the bot."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)


def _signed(path: str, epoch: int = 0) -> str:
    """The query that signs a CDN path: expiry, issue time, and an HMAC of both with it
    (``epoch``: links signed in an earlier one have expired)."""
    ex, issued = "7fffffff", f"{0x65000000 + epoch * 86_400:x}"
    mac = hmac.new(b"fake-cdn-key", f"{path}{ex}{issued}".encode(), hashlib.sha256).hexdigest()
    return f"ex={ex}&is={issued}&hm={mac}"


def _not_found() -> web.Response:  # noqa: N802 - reads like the constant it stands for
    return _json(p.error("404: Not Found"), 404)
