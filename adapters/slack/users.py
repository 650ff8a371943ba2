"""Display names for Slack user ids: looked up once with users.info, cached (bounded)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.caches import BoundedCache
from adapters.slack.events import display_name
from adapters.slack.sink import SLACK_ERRORS, error_code

log = logging.getLogger(__name__)


class NameCache:
    def __init__(self, client: AsyncWebClient, *, size: int = 2_000, ttl: float = 6 * 3600) -> None:
        self._client = client
        self._names: BoundedCache[str, str] = BoundedCache(size, ttl=ttl)
        self._pending: dict[str, asyncio.Future[str]] = {}

    def put(self, user_id: str, name: str) -> None:
        if user_id and name:
            self._names.put(user_id, name)

    async def get(self, user_id: str) -> str:
        """The user's display name; the id itself when Slack will not say (never raises)."""
        if not user_id:
            return ""
        cached = self._names.get(user_id)
        if cached is not None:
            return cached
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
            self._names.put(user_id, user_id, ttl=300)  # retry in minutes, not every message
            return user_id
        name = display_name(response.get("user") or {}) or user_id
        self._names.put(user_id, name)
        return name
