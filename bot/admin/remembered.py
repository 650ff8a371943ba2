"""Settings changed from chat, read from the store only where there are some.

Most places have none, so a reply should not pay a query to learn that: every process keeps
the set of places that have chat-set settings (refreshed every ``reloads.POLL_S`` from the
store, and at once for its own changes) and reads a place's rows only when it is in the set.
Another replica's change therefore applies here within that poll. A Discord thread's parent
channel is recorded once per thread (so a restarted process or another replica applies the
channel's settings), and read back only for a conversation this process did not see start.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.admin.ledger import PlaceSetting
from bot.admin.places import CHAT_KEYS, channel_place, thread_place
from bot.ports import Store
from bot.types import ThreadKey

PARENT = "channel"  # a thread place's record of the channel it belongs to
REMEMBERED = 4096  # threads whose parent this process recorded or read


class ChatSettings:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._with: set[str] | None = None  # None: not read yet, so read every place
        self._parents: OrderedDict[ThreadKey, str] = OrderedDict()  # recorded or read

    async def refresh(self) -> None:
        """Learn again which places have chat-set settings (every replica's changes)."""
        self._with = await self._store.places_with(CHAT_KEYS)

    async def set(self, place: str, name: str, value: str | None, by: str) -> None:
        await self._store.set_place_setting(place, name, value, by)
        if self._with is not None:
            self._with.add(place)

    async def of(
        self, key: ThreadKey, parent: str, *, seen: bool
    ) -> tuple[str, list[PlaceSetting]]:
        """The channel ``key`` is in and the chat-set settings that apply there. ``parent``:
        the channel this process knows the thread belongs to ("" if none); ``seen``: this
        process saw the conversation's latest message arrive (else the stored parent is
        looked up)."""
        if parent and parent != key.channel:
            await self._record(key, parent)
        elif not seen and key not in self._parents:
            parent = await self._stored_parent(key)
        channel = parent or key.channel
        places = [p for p in (thread_place(key), channel_place(key.platform, channel))
                  if self._with is None or p in self._with]
        rows = await self._store.place_settings(places) if places else []
        return channel, [r for r in rows if r.name != PARENT]

    async def _record(self, key: ThreadKey, parent: str) -> None:
        if self._parents.get(key) == parent:
            return
        if await self._stored_parent(key) != parent:
            await self._store.set_place_setting(thread_place(key), PARENT, parent, "")
        self._remember(key, parent)

    async def _stored_parent(self, key: ThreadKey) -> str:
        rows = await self._store.place_settings([thread_place(key)])
        parent = next((r.value for r in rows if r.name == PARENT), "")
        self._remember(key, parent)
        return parent

    def _remember(self, key: ThreadKey, parent: str) -> None:
        self._parents[key] = parent
        self._parents.move_to_end(key)
        if len(self._parents) > REMEMBERED:
            self._parents.popitem(last=False)

    def known_parent(self, key: ThreadKey) -> str:
        return self._parents.get(key, "")
