"""The fake Discord's gateway WebSocket, as discord.py sees it: HELLO and heartbeat ACKs,
IDENTIFY refused for a wrong token (4004) or privileged intents when they are not granted
(4014), one session whose events are numbered and kept, so a RESUME replays what the bot
missed (and ``redeliver_on_resume`` more, as Discord's at-least-once delivery may).

FakeDiscord (discord_server.py) builds on it and provides the world: ``_welcome`` (READY and
GUILD_CREATE for a new session) and ``_notify`` (wake tests waiting for a change).
"""

from __future__ import annotations

import abc
import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_payloads import snowflake

MESSAGE_CONTENT = 1 << 15
PRIVILEGED = (1 << 1) | (1 << 8) | MESSAGE_CONTENT  # members, presences, message content


@dataclass
class _Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None


class FakeGateway(abc.ABC):
    def __init__(self, token: str, *, refuse_privileged: bool) -> None:
        self.token = token
        self.refuse_privileged = refuse_privileged  # close IDENTIFY with 4014, as Discord does
        self.redeliver_on_resume = 0  # at-least-once delivery: replay this many seen events too
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self._session: _Session | None = None
        self._gate = asyncio.Event()
        self._gate.set()

    @abc.abstractmethod
    def _welcome(self, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The events that open a session (READY, GUILD_CREATE)."""

    @abc.abstractmethod
    async def _notify(self) -> None:
        """Something changed (here: a frame from the bot was handled)."""

    @property
    def seq(self) -> int:
        """Sequence number of the last event dispatched (the bot has it once it caught up)."""
        return self._session.seq if self._session else 0

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a DISPATCH to the bot; kept for RESUME, and buffered while it is away.
        ``data`` is whatever JSON the test wants, malformed included."""
        session = self._session
        if session is None:
            return
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_str(json.dumps(frame))

    async def send_frame(self, text: str) -> None:
        """Send ``text`` as one raw gateway frame, outside the event sequence (a broken
        frame: not JSON, not an object)."""
        if self._session and self._session.ws is not None:
            await self._session.ws.send_str(text)

    async def drop_connection(self, *, hold: bool = False, code: int = 4000) -> None:
        """Close the gateway socket with ``code``; for 4000 (unknown error) discord.py
        resumes, 4004 means the token is no longer valid. With ``hold`` the next
        connection waits until ``release()``, so events can be missed meanwhile."""
        if hold:
            self._gate.clear()
        if self._session and self._session.ws is not None:
            ws, self._session.ws = self._session.ws, None
            await ws.close(code=code)

    def release(self) -> None:
        self._gate.set()

    async def _close_gateway(self) -> None:
        self._gate.set()
        if self._session and self._session.ws is not None:
            await self._session.ws.close()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._gate.wait()
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            op, d = frame["op"], frame.get("d")
            if op == 1:
                await ws.send_json({"op": 11})
            elif op == 2:
                await self._identify(ws, d)
            elif op == 6:
                await self._resume(ws, d)
            await self._notify()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        self.identifies.append({k: v for k, v in d.items() if k != "token"})
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if self.refuse_privileged and d.get("intents", 0) & PRIVILEGED:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self._session = _Session(id=f"session{snowflake()}", ws=ws)
        for event, data in self._welcome(self._session.id):
            await self.dispatch(event, data)

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        self.resumes.append({k: v for k, v in d.items() if k != "token"})
        session = self._session
        if session is None or d.get("session_id") != session.id or d.get("token") != self.token:
            await ws.send_json({"op": 9, "d": False})
            return
        session.ws = ws
        seen = int(d.get("seq") or 0)
        first = max(0, seen - self.redeliver_on_resume)
        for frame in [f for f in session.events if f["s"] > first]:
            await ws.send_str(json.dumps(frame))
        await self.dispatch("RESUMED", {})
