"""Display names for Slack user ids: looked up once with users.info, cached (bounded)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_events import display_name
from adapters.slack_sink import SLACK_ERRORS, error_code

log = logging.getLogger(__name__)


class NameCache:
    def __init__(self, client: AsyncWebClient, *, size: int = 2_000, ttl: float = 6 * 3600) -> None:
        self._client = client
        self._size = size
        self._ttl = ttl
        self._names: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str]] = {}

    def put(self, user_id: str, name: str) -> None:
        if user_id and name:
            self._store(user_id, name, self._ttl)

    async def get(self, user_id: str) -> str:
        """The user's display name; the id itself when Slack will not say (never raises)."""
        if not user_id:
            return ""
        cached = self._names.get(user_id)
        if cached is not None and cached[1] > time.monotonic():
            self._names.move_to_end(user_id)
            return cached[0]
        pending = self._pending.get(user_id)
        if pending is not None:  # one users.info per id, however many ask at once
            return await asyncio.shield(pending)
        future = self._pending[user_id] = asyncio.get_running_loop().create_future()
        try:
            name = await self._lookup(user_id)
            future.set_result(name)
            return name
        finally:
            del self._pending[user_id]
            if not future.done():
                future.set_result(user_id)

    async def many(self, user_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(u for u in user_ids if u))
        names = await asyncio.gather(*(self.get(u) for u in ids))
        return dict(zip(ids, names, strict=True))

    async def _lookup(self, user_id: str) -> str:
        try:
            response = await self._client.users_info(user=user_id)
        except SLACK_ERRORS as exc:
            log.info("users.info failed for %s: %s", user_id, error_code(exc))
            self._store(user_id, user_id, 300)  # retry in a few minutes, not on every message
            return user_id
        name = display_name(response.get("user") or {}) or user_id
        self._store(user_id, name, self._ttl)
        return name

    def _store(self, user_id: str, name: str, ttl: float) -> None:
        self._names[user_id] = (name, time.monotonic() + ttl)
        self._names.move_to_end(user_id)
        while len(self._names) > self._size:
            self._names.popitem(last=False)
