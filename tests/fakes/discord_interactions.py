"""App commands in the fake Discord: INTERACTION_CREATE, the callback, the original response
and follow-ups, as discord.py sees them.

Like Discord, the original response is one message (created by the callback, a "thinking…"
placeholder when deferred, then edited in place) in the channel the command was used in;
follow-ups are further messages. Both are the bot's, of type 20 (chat input command), and
carry ``interaction_metadata`` (a follow-up's names its ``original_response_message_id``), so
people can reply to them. An interaction must be acknowledged once and within 3 s.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_gateway import FakeGateway

COMMAND_MESSAGE = 20  # MessageType.chat_input_command
EPHEMERAL = 1 << 6  # message flag: only the user who ran the command sees it
LOADING = 1 << 7  # message flag of a deferred ("thinking…") response


@dataclass
class Interaction:
    id: int
    token: str
    name: str
    created: float
    channel_id: int
    user: dict[str, Any]
    callbacks: list[tuple[int, float]] = field(default_factory=list)  # (type, monotonic time)
    content: str | None = None  # what the user sees as the response
    edits: list[str] = field(default_factory=list)
    followups: list[str] = field(default_factory=list)
    ephemeral: bool = False
    message_id: int | None = None  # the original response's message, once there is one


class FakeInteractions(FakeGateway):
    channel_id: int
    channels: dict[int, dict[str, Any]]
    messages: dict[int, dict[str, Any]]
    bot: dict[str, Any]
    app_id: int

    def __init__(self, token: str, *, refuse_privileged: bool) -> None:
        super().__init__(token, refuse_privileged=refuse_privileged)
        self.interactions: dict[int, Interaction] = {}

    @abc.abstractmethod
    def _message(self, channel: int, author: dict[str, Any], content: str, *, type: int = 0,
                 mentions: list[dict[str, Any]] | None = None,
                 reply_to: int | None = None) -> dict[str, Any]:
        """Create and keep a message (discord_server.py)."""

    @abc.abstractmethod
    def held_roles(self, user: dict[str, Any], guild: int) -> list[dict[str, Any]]:
        """The roles ``user`` has in ``guild``, @everyone's first (discord_server.py)."""

    async def invoke(self, command: str, user: dict[str, Any], /, *,
                     channel: int | None = None, **options: str) -> Interaction:
        """A person runs the app command ``/command`` in ``channel``, with string ``options``
        (``/model name:gpt-4.1`` → ``invoke("model", alice, name="gpt-4.1")``)."""
        chan = self.channels[channel or self.channel_id]
        inter = Interaction(id=p.snowflake(), token=f"itok{p.snowflake()}", name=command,
                            created=time.monotonic(), channel_id=int(chan["id"]), user=user)
        self.interactions[inter.id] = inter
        guild = chan.get("guild_id")
        roles = self.held_roles(user, int(guild)) if guild else None
        await self.dispatch("INTERACTION_CREATE",
                            p.interaction(inter.id, inter.token, command, self.app_id, chan,
                                          user, options=options, roles=roles))
        return inter

    def response_message(self, inter: Interaction) -> dict[str, Any]:
        """The message that shows the interaction's original response."""
        assert inter.message_id is not None, "the interaction has no response message yet"
        return self.messages[inter.message_id]

    def followup_messages(self, inter: Interaction) -> list[dict[str, Any]]:
        return [m for m in self.messages.values()
                if m.get("interaction_token") == inter.token and int(m["id"]) != inter.message_id]

    def _interaction_route(self, method: str, parts: list[str], body: Any) -> web.Response:
        match method, parts:
            case "POST", ["interactions", iid, _, "callback"]:
                return self._callback(int(iid), body)
            case "PATCH", ["webhooks", _, token, "messages", "@original"]:
                return self._edit_original(token, body)
            case "POST", ["webhooks", _, token]:
                return self._followup(token, body)
            case "PATCH", ["webhooks", _, token, "messages", mid]:
                return self._edit_followup(int(mid), body)
        return rest_json(p.error("404: Not Found"), 404)

    def _interaction(self, token: str) -> Interaction:
        return next(i for i in self.interactions.values() if i.token == token)

    def _command_message(self, inter: Interaction, content: str, *,
                         original: int | None = None) -> dict[str, Any]:
        msg = self._message(inter.channel_id, self.bot, content, type=COMMAND_MESSAGE)
        msg["webhook_id"] = str(self.app_id)
        msg["interaction_token"] = inter.token  # kept to find it again; not Discord's
        metadata: dict[str, Any] = {"id": str(inter.id), "type": 2, "user": inter.user,
                                    "authorizing_integration_owners": {}, "name": inter.name}
        if original is not None:
            metadata["original_response_message_id"] = str(original)
        msg["interaction_metadata"] = metadata
        return msg

    def _callback(self, iid: int, body: dict[str, Any]) -> web.Response:
        inter = self.interactions.get(iid)
        if inter is None or time.monotonic() - inter.created > 3.0:
            return rest_json(p.error("Unknown interaction", 10062), 404)
        if inter.callbacks:
            return rest_json(p.error("Interaction has already been acknowledged.", 40060), 400)
        kind = body["type"]
        inter.callbacks.append((kind, time.monotonic()))
        data = body.get("data") or {}
        inter.ephemeral = bool(data.get("flags", 0) & EPHEMERAL)
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            if kind == 4:
                inter.content = data.get("content")
            msg = self._command_message(inter, inter.content or "")
            msg["flags"] = (LOADING if kind == 5 else 0) | (EPHEMERAL if inter.ephemeral else 0)
            inter.message_id = int(msg["id"])
            resource["message"] = msg
        return rest_json(p.interaction_callback(iid, kind, resource))

    def _edit_original(self, token: str, body: dict[str, Any]) -> web.Response:
        if too_long := refuse_too_long(body):
            return too_long
        inter = self._interaction(token)
        if inter.message_id is None:
            return rest_json(p.error("Unknown Message", 10008), 404)
        inter.content = body.get("content")
        inter.edits.append(inter.content or "")
        msg = self.messages[inter.message_id]
        msg.update(content=inter.content or "", flags=msg["flags"] & ~LOADING,
                   edited_timestamp=p.now())
        return rest_json(msg)

    def _followup(self, token: str, body: dict[str, Any]) -> web.Response:
        if too_long := refuse_too_long(body):
            return too_long
        inter = self._interaction(token)
        inter.followups.append(body.get("content") or "")
        return rest_json(self._command_message(inter, body.get("content") or "",
                                           original=inter.message_id))

    def _edit_followup(self, mid: int, body: dict[str, Any]) -> web.Response:
        msg = self.messages.get(mid)
        if msg is None:
            return rest_json(p.error("Unknown Message", 10008), 404)
        inter = self._interaction(msg["interaction_token"])
        index = inter.followups.index(msg["content"])
        msg["content"] = inter.followups[index] = body.get("content") or ""
        return rest_json(msg)


def refuse_too_long(body: dict[str, Any]) -> web.Response | None:
    """Discord's 50035 for content over 2,000 characters; None when the length is fine."""
    return rest_json(p.too_long(), 400) if len(body.get("content") or "") > 2000 else None


def rest_json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json.
    return web.Response(body=json.dumps(obj).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})
