"""What `/healthz` answers: each platform's connection and the store, fast under any load.

Adapters report their connection as it changes (``Link``) and every event they receive
(``Link.event``); a request only reads those. The store is asked with one cheap query in the
background at most once per ``STORE_EVERY`` seconds: a request never waits, not even behind
thousands of queued store calls, yet a store that stops answering shows as unhealthy once
its check has been pending past the timeout. Until the first check ends, the store's last
answer is the one it gave at start-up (``store_answered``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

STORE_EVERY = 1.0  # seconds a store check's result is reused
STORE_TIMEOUT = 5.0  # a check pending longer than this makes the store unhealthy


@dataclass(slots=True)
class Link:
    """One platform connection as its adapter last reported it."""

    mode: str  # "socket", "gateway", "http"
    connected: bool = False
    reason: str = "not connected yet"
    last_event: float = 0.0  # time.time() of the last event or ping received; 0: none yet

    def up(self) -> None:
        self.connected, self.reason = True, ""

    def down(self, reason: str) -> None:
        self.connected, self.reason = False, reason

    def event(self) -> None:
        self.last_event = time.time()

    def report(self) -> dict[str, Any]:
        age = round(time.time() - self.last_event, 3) if self.last_event else None
        out: dict[str, Any] = {"ok": self.connected, "mode": self.mode,
                               "last_event_seconds_ago": age}
        return out | ({"reason": self.reason} if self.reason else {})


@dataclass(slots=True)
class _StoreCheck:
    ok: bool = False
    reason: str = "not checked yet"
    at: float = 0.0  # monotonic time of the result; 0: none yet
    running: asyncio.Task[None] | None = None
    since: float = 0.0  # monotonic time the running check started


@dataclass(slots=True)
class Health:
    """The process's health: links by platform name, and the store's check."""

    probe: Callable[[], Awaitable[object]] | None = None  # one cheap store query
    links: dict[str, Link] = field(default_factory=dict)
    timeout: float = STORE_TIMEOUT
    # a Socket Mode or gateway connection silent this long is dead: the adapter reconnects
    watchdog_s: float = 60.0
    _store: _StoreCheck = field(default_factory=_StoreCheck)

    def store_answered(self) -> None:
        """The store just answered (at start-up): healthy until a check says otherwise."""
        self._store.ok, self._store.reason, self._store.at = True, "", time.monotonic()

    def link(self, platform: str, mode: str) -> Link:
        """The platform's link (a new one when it starts again, or changes mode)."""
        link = self.links.get(platform)
        if link is None or link.mode != mode:
            link = self.links[platform] = Link(mode)
        return link

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Healthy or not, and the JSON to answer with (``reason`` says why not)."""
        store = self._store_report()
        platforms = {name: link.report() for name, link in self.links.items()}
        reasons = [f"{name}: {p['reason']}" for name, p in platforms.items() if not p["ok"]]
        if not store["ok"]:
            reasons.append(f"store: {store['reason']}")
        body: dict[str, Any] = {"ok": not reasons, "platforms": platforms, "store": store}
        return not reasons, body | ({"reason": "; ".join(reasons)} if reasons else {})

    def _store_report(self) -> dict[str, Any]:
        check, now = self._store, time.monotonic()
        if self.probe is None:
            return {"ok": True}
        if check.running is None and now - check.at >= STORE_EVERY:
            check.since, check.running = now, asyncio.create_task(self._check())
        pending = now - check.since if check.running is not None else 0.0
        if pending > self.timeout:
            return {"ok": False, "reason": f"no answer from the store for {pending:.1f} s"}
        age = round(max(0.0, time.monotonic() - check.at), 3)
        out: dict[str, Any] = {"ok": check.ok, "checked_seconds_ago": age}
        return out | ({"reason": check.reason} if not check.ok else {})

    async def _check(self) -> None:
        check = self._store
        assert self.probe is not None
        try:
            async with asyncio.timeout(self.timeout):
                await self.probe()
            check.ok, check.reason = True, ""
        except TimeoutError:
            check.ok, check.reason = False, f"no answer within {self.timeout:g} s"
        except Exception as exc:  # the reason names the kind; the text may hold a URL
            check.ok, check.reason = False, f"the check failed ({type(exc).__name__})"
        finally:
            check.at, check.running = time.monotonic(), None
