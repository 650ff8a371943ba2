"""`threadbot migrate-store`: copy every conversation, the spending ledger and the settings
changed from chat from one store to another (SQLite to PostgreSQL when a team moves to
replicas, or back), whichever two backends.

What a conversation is made of goes across whole — every message of every epoch with its
ending, usage, response id, time, running total, pending state and open reply refs; the
thread's strategy, epoch and chain anchor; and the commands and hints already handled, so a
redelivery after the move is still not answered twice. Leases do not: they belong to
processes that are not running against the new store.

Each thread is copied in one transaction of the target, and a thread the target already has
is skipped (counted, not merged): a run that stopped half-way is simply run again, and a
second run copies nothing twice. Running totals are copied as they are: they depend only on
the order of a thread's messages, which the copy keeps.

The spending ledger goes across too, so quotas and usage reports carry on: every charge with
its values, in one transaction. Charges have no natural key to tell a copied one from a new
one, so the copy goes by time: only charges that started after the target's newest one are
copied. A second run copies none; a final run after the bot went on writing to the old store
copies what it wrote since; a target the bot already runs on gets nothing older than its own
(nothing is ever counted twice). A charge copied while still open keeps its reservation in
the target until it is stale (then it counts as done), like one of a process that died.
Settings changed from chat are copied where the target has none for that place and name (its
own win, like handled events).

The SQL stays with each backend (storage/sqlite_copy.py, storage/postgres_copy.py); this
module holds the rows they exchange and the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.admin.ledger import PlaceSetting
from bot.errors import ConfigError
from bot.types import ThreadKey
from storage import open_store, redacted
from storage.copy_rows import ChargeCopy, HandledCopy, ThreadCopy


class Copier(Protocol):
    """A backend's side of a copy, on an open (migrated) store."""

    async def thread_keys(self) -> list[ThreadKey]:
        """Every thread, oldest first."""
        ...

    async def read_thread(self, key: ThreadKey) -> ThreadCopy: ...

    async def write_thread(self, thread: ThreadCopy) -> bool:
        """Store the thread and its messages in one transaction: False (and nothing
        written) when the target already has a thread with that key."""
        ...

    async def read_handled(self) -> list[HandledCopy]: ...

    async def write_handled(self, rows: list[HandledCopy]) -> int:
        """Record those not recorded yet: how many were new."""
        ...

    async def read_charges(self) -> list[ChargeCopy]:
        """Every charge, oldest first."""
        ...

    async def write_charges(self, rows: list[ChargeCopy]) -> int:
        """Store, in one transaction, those that started after the target's newest charge:
        how many."""
        ...

    async def read_place_settings(self) -> list[PlaceSetting]: ...

    async def write_place_settings(self, rows: list[PlaceSetting]) -> int:
        """Store those whose place and name the target has no setting for: how many."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CopyReport:
    threads: int  # copied
    messages: int  # in the threads copied
    skipped: int  # threads the target already had
    handled: int  # handled events new to the target
    charges: int  # newer than the target's newest
    settings: int  # place settings new to the target

    def summary(self) -> str:
        return (f"copied {self.threads} thread(s) with {self.messages} message(s); "
                f"{self.skipped} already in the target were skipped; "
                f"{self.handled} handled command(s)/hint(s) recorded; "
                f"{self.charges} charge(s) and {self.settings} place setting(s) copied.")


async def copy_store(
    source_url: str, target_url: str, *, started: Callable[[int], None] | None = None,
    advanced: Callable[[], None] | None = None,
) -> CopyReport:
    """Copy everything from ``source_url`` to ``target_url`` (any two THREADBOT_DB values);
    ``started(total)`` once, ``advanced()`` after each thread, for a progress bar."""
    if source_url.strip() == target_url.strip():
        raise ConfigError(f"--from and --to are the same store ({redacted(source_url)}).")
    source = await open_copier(source_url)
    try:
        target = await open_copier(target_url)
        try:
            return await _copy(source, target, started, advanced)
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(
    source: Copier, target: Copier, started: Callable[[int], None] | None,
    advanced: Callable[[], None] | None,
) -> CopyReport:
    keys = await source.thread_keys()
    if started:
        started(len(keys))
    copied = messages = skipped = 0
    for key in keys:
        thread = await source.read_thread(key)
        if await target.write_thread(thread):
            copied += 1
            messages += len(thread.messages)
        else:
            skipped += 1
        if advanced:
            advanced()
    handled = await target.write_handled(await source.read_handled())
    charges = await target.write_charges(await source.read_charges())
    settings = await target.write_place_settings(await source.read_place_settings())
    return CopyReport(copied, messages, skipped, handled, charges, settings)


async def open_copier(url: str) -> Copier:
    """The store ``url`` names (opened and migrated as the bot would), seen as a Copier."""
    store = await open_store(url)
    from storage.postgres import PostgresStore
    from storage.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        from storage.sqlite_copy import SqliteCopier

        return SqliteCopier(store)
    if isinstance(store, PostgresStore):
        from storage.postgres_copy import PostgresCopier

        return PostgresCopier(store)
    await store.close()
    raise ConfigError(f"{redacted(url)}: this store cannot be copied yet.")
