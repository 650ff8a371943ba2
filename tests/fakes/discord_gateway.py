"""The fake Discord's gateway WebSocket, as discord.py sees it: HELLO and heartbeat ACKs,
IDENTIFY refused for a wrong token (4004), privileged intents when they are not granted
(4014), an impossible shard (4010) or more servers than one shard may have (4011, "sharding
required"); one session per shard whose events are numbered and kept, so a RESUME replays
what the bot missed (and ``redeliver_on_resume`` more, as Discord's at-least-once delivery
may).

Sharding as Discord does it: an IDENTIFY may carry ``shard: [id, count]`` (READY then says
it back); a server's events go to every session with ``(guild_id >> 22) % count == id``,
everything without a server (DMs) to shard 0. A connection without ``shard`` is shard 0 of
1 and gets everything.

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


GUILD_ID_SHIFT = 22  # below it a snowflake counts ids within a millisecond; shards use the time


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard Discord sends a server's events to (DMs: shard 0)."""
    return (guild_id >> GUILD_ID_SHIFT) % count if guild_id else 0


@dataclass
class _Session:
    id: str
    shard: tuple[int, int] = (0, 1)  # (id, count); (0, 1) for a connection without sharding
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None

    def gets(self, guild_id: int | None) -> bool:
        return shard_of(guild_id, self.shard[1]) == self.shard[0]


class FakeGateway(abc.ABC):
    def __init__(self, token: str, *, refuse_privileged: bool) -> None:
        self.token = token
        self.refuse_privileged = refuse_privileged  # close IDENTIFY with 4014, as Discord does
        self.redeliver_on_resume = 0  # at-least-once delivery: replay this many seen events too
        self.guilds_per_shard = 2500  # more on one connection: 4011, as Discord does
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeat_ms = 41250  # the heartbeat interval HELLO asks for
        self._silent: set[web.WebSocketResponse] = set()  # connections that went quiet
        self._sessions: dict[int, _Session] = {}  # by shard id
        self._gate = asyncio.Event()
        self._gate.set()

    @abc.abstractmethod
    def _welcome(self, session_id: str,
                 shard: tuple[int, int] | None) -> list[tuple[str, dict[str, Any]]]:
        """The events that open a session (READY, GUILD_CREATE for the shard's servers)."""

    @abc.abstractmethod
    async def _notify(self) -> None:
        """Something changed (here: a frame from the bot was handled)."""

    @property
    def seq(self) -> int:
        """Sequence number of shard 0's last event (the bot has it once it caught up)."""
        return self.seq_of(0)

    def seq_of(self, shard: int) -> int:
        session = self._sessions.get(shard)
        return session.seq if session else 0

    def sessions(self) -> dict[int, tuple[int, int]]:
        """Shard id → (id, count) of every session opened so far."""
        return {sid: s.shard for sid, s in self._sessions.items()}

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a DISPATCH to the sessions that get it (a server's events: its shard's; the
        rest: shard 0's); kept for RESUME, and buffered while the bot is away. ``data`` is
        whatever JSON the test wants, malformed included."""
        guild = _guild_of(event, data)
        for session in list(self._sessions.values()):
            if session.gets(guild):
                await self._send(session, event, data)

    async def _send(self, session: _Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if session.ws is not None and not session.ws.closed and session.ws not in self._silent:
            await session.ws.send_str(json.dumps(frame))

    async def send_frame(self, text: str, *, shard: int = 0) -> None:
        """Send ``text`` as one raw gateway frame, outside the event sequence (a broken
        frame: not JSON, not an object)."""
        session = self._sessions.get(shard)
        if session and session.ws is not None:
            await session.ws.send_str(text)

    async def drop_connection(self, *, hold: bool = False, code: int = 4000,
                              shard: int = 0) -> None:
        """Close the gateway socket with ``code``; for 4000 (unknown error) discord.py
        resumes, 4004 means the token is no longer valid. With ``hold`` the next
        connection waits until ``release()``, so events can be missed meanwhile."""
        if hold:
            self._gate.clear()
        session = self._sessions.get(shard)
        if session and session.ws is not None:
            ws, session.ws = session.ws, None
            await ws.close(code=code)

    def silence(self, *, shard: int = 0) -> None:
        """The shard's connection goes quiet without closing, as a dead network path looks:
        no heartbeat ACKs, no events (kept for a RESUME); later connections are fine."""
        session = self._sessions.get(shard)
        if session and session.ws is not None:
            self._silent.add(session.ws)

    def release(self) -> None:
        self._gate.set()

    async def _close_gateway(self) -> None:
        self._gate.set()
        for session in self._sessions.values():
            if session.ws is not None:
                await session.ws.close()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._gate.wait()
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            op, d = frame["op"], frame.get("d")
            if op == 1 and ws not in self._silent:
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
        shard = d.get("shard")
        if shard is not None and not _valid_shard(shard):
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        session = _Session(id=f"session{snowflake()}", ws=ws)
        if shard is not None:
            session.shard = (shard[0], shard[1])
        welcome = self._welcome(session.id, tuple(shard) if shard else None)
        if sum(event == "GUILD_CREATE" for event, _ in welcome) > self.guilds_per_shard:
            await ws.close(code=4011, message=b"Sharding required.")
            return
        self._sessions[session.shard[0]] = session
        for event, data in welcome:
            await self._send(session, event, data)

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        self.resumes.append({k: v for k, v in d.items() if k != "token"})
        session = next((s for s in self._sessions.values() if s.id == d.get("session_id")),
                       None)
        if session is None or d.get("token") != self.token:
            await ws.send_json({"op": 9, "d": False})
            return
        session.ws = ws
        seen = int(d.get("seq") or 0)
        first = max(0, seen - self.redeliver_on_resume)
        for frame in [f for f in session.events if f["s"] > first]:
            await ws.send_str(json.dumps(frame))
        await self._send(session, "RESUMED", {})


def _valid_shard(shard: Any) -> bool:
    """``[id, count]`` with 0 <= id < count, as Discord requires (else close code 4010)."""
    return (isinstance(shard, list) and len(shard) == 2
            and all(isinstance(n, int) for n in shard) and 0 <= shard[0] < shard[1])


def _guild_of(event: str, data: Any) -> int | None:
    """The server an event belongs to (None: a DM, or no server at all)."""
    if not isinstance(data, dict):
        return None
    guild = data.get("id") if event == "GUILD_CREATE" else data.get("guild_id")
    try:
        return int(guild) if guild else None
    except (TypeError, ValueError):
        return None
