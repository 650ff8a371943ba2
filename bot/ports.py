"""The ports the core owns: what it needs from a store, a platform's reply and a model
provider (a platform itself is ``bot.platform.Platform``; what the engine asks of a
platform's reply, restart and files is in ``bot/ports_platform.py``, re-exported here).

The engine and the history strategies are written against these Protocols only; the
composition root (``bot/app.py``, ``bot/cli.py``) plugs in the concrete SQLite store, the
platform adapters and the SDK-backed providers. A second store or a third platform
implements a Protocol here and passes the shared test suite for it (``tests/contract/``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from datetime import datetime
from typing import Protocol

from bot.admin.ledger import (
    Charge,
    Limit,
    PlaceSetting,
    Rule,
    Spender,
    Spending,
    Subject,
    UsageBy,
    UsageRow,
    Verdict,
)
from bot.ports_platform import ImageSource, ReplySink, Resumer, ShowsThinking
from bot.types import (
    Completion,
    ContextMessage,
    NewMessage,
    PlatformStats,
    Purge,
    Purged,
    Request,
    RollingSummary,
    StoredMessage,
    Thinking,
    ThreadKey,
    ThreadListing,
    ThreadState,
    Unfinished,
    Usage,
)

__all__ = ["ImageSource", "Provider", "ReplySink", "Resumer", "ShowsThinking", "Store"]


class Store(Protocol):
    """Where every conversation is kept. Contracts every backend keeps (tested by
    ``tests/contract/test_store.py`` against each backend):

    - **Durable on return.** A message is stored once ``add`` returns; a crash after that
      loses nothing.
    - **A platform message id is unique per thread.** Storing the same id in the same thread
      again is a no-op that says so (``add`` returns None), across restarts; the same id in
      another thread is another message.
    - **Row ids grow in insertion order** within a thread, and the engine compares them to
      decide which messages a running reply has already covered.
    - **Writes to one thread are serialised.** Each message carries the running token total
      of its thread and epoch, which is only right if no two writes to a thread interleave.
    - **``context()`` is bounded by the budget, not by the thread's length**: it reads only
      the rows that fit, so turn 100,000 of a thread costs what turn 100 does.
    - A reply's row is reserved (``begin_reply``) before its context is read, and its
      context ends at that row (``before=``); messages stored after it are ordered after the
      reply, and ``finish_reply`` shifts their running totals.
    - **Every user message the bot was asked to answer is pending until a reply covers it**
      (``awaits_answer``): ``finish_reply`` marks every message stored before the reply's row
      as answered in the same atomic write that stores the reply, whatever its ending — so a
      crash leaves either the reply and its answered messages, or neither. A reply row with
      no ending is one a process was writing when it ended (``unfinished``).
    - **One writer per thread across processes**: the thread's lease (``claim``) says which
      process answers it; the others only store messages, and the holder answers what
      waits after its reply. Writes stay serialised per thread across processes too.
    - ``reset`` starts a new epoch: older messages stay (export) but leave the context, and
      the chain anchor is cleared; ``set_anchor`` never re-attaches an older epoch.
    """

    # --- threads ---
    async def ensure_thread(self, key: ThreadKey, strategy: str) -> ThreadState:
        """The thread's state, created with ``strategy`` if new."""
        ...

    async def get_thread(self, key: ThreadKey) -> ThreadState | None:
        """The thread's state, or None if the bot has never stored anything there."""
        ...

    async def reset(self, thread_id: int) -> None:
        """Start a new epoch (see the class docstring)."""
        ...

    async def set_anchor(self, thread: ThreadState, response_id: str | None, model: str) -> None:
        """Point the thread's chain at ``response_id`` (None: the next turn replays), only
        while the thread is still in ``thread.epoch``."""
        ...

    # --- messages ---
    async def add(self, thread: ThreadState, message: NewMessage) -> int | None:
        """Store one message in the thread's current epoch: its row id, or None for a
        platform message id already stored in this thread (a redelivery)."""
        ...

    async def add_to(
        self, key: ThreadKey, strategy: str, message: NewMessage
    ) -> tuple[ThreadState, int | None]:
        """``ensure_thread`` then ``add``, in one round trip where the backend can (a turn's
        first write): the thread's state and the new row's id (None: a redelivery)."""
        ...

    async def add_many(self, thread: ThreadState, messages: Sequence[NewMessage]) -> None:
        """Store several messages at once; already-stored platform ids are skipped."""
        ...

    async def begin_reply(self, thread: ThreadState) -> int:
        """Reserve an empty assistant row for the reply about to be generated: its id."""
        ...

    async def finish_reply(self, thread: ThreadState, row_id: int, reply: NewMessage) -> None:
        """Fill the reserved row with the reply and its ending (the text may be empty),
        shift the running totals of later rows, and mark every message stored before the
        row as answered — one atomic write."""
        ...

    async def discard_reply(self, row_id: int) -> None:
        """Drop a reserved row that was never shown (a round with nothing to answer)."""
        ...

    async def set_refs(self, row_id: int, refs: Sequence[str]) -> None:
        """Record the platform messages showing the open reply ``row_id`` (to tidy them up
        if the process dies before the reply ends)."""
        ...

    async def waiting(self, thread: ThreadState) -> Unfinished | None:
        """What waits for an answer in the thread's current epoch (how many messages, who
        asked last; no refs), or None when nothing does."""
        ...

    async def settle(self, thread: ThreadState) -> None:
        """Nothing in the thread waits for an answer any more (after a stop or a reset)."""
        ...

    async def context(
        self, thread: ThreadState, budget: int, *, before: int | None = None, after: int = 0
    ) -> list[ContextMessage]:
        """The newest user/assistant messages of the current epoch within ``budget`` tokens
        (stored before row ``before`` when given, past the running total ``after``), oldest
        first; the newest always, even when it alone is over budget. Summaries and empty
        reply rows are never part of it."""
        ...

    # --- rolling summaries (bot/history/compaction.py) ---
    async def rolling_summary(self, thread: ThreadState) -> RollingSummary | None:
        """The newest rolling summary of the thread's current epoch, if any."""
        ...

    async def add_rolling_summary(self, thread: ThreadState, summary: RollingSummary) -> None:
        """Store a rolling summary in the current epoch (a 'summary' row: never context)."""
        ...

    async def running_total(self, thread: ThreadState) -> int:
        """Context tokens stored in the current epoch so far (the newest running total)."""
        ...

    async def oldest(
        self, thread: ThreadState, tokens: int, *, after: int, before: int | None = None
    ) -> tuple[list[ContextMessage], int]:
        """The oldest context messages past the running total ``after`` (before row
        ``before``) until at least ``tokens`` are covered, oldest first: the next block to
        summarise; and the running total through the last of them (``after`` if none).
        Bounded by ``tokens``, not by the thread's length."""
        ...

    async def since_response(
        self, thread: ThreadState, response_id: str, *, before: int | None = None
    ) -> list[ContextMessage]:
        """User messages stored after the reply with ``response_id`` (and before row
        ``before``) in the current epoch: a chained turn's new input; [] when that reply is
        not in this epoch."""
        ...

    async def reply_usage(self, thread: ThreadState, response_id: str) -> Usage | None:
        """The tokens the provider reported for the reply ``response_id`` (None if unknown)."""
        ...

    # --- who answers a thread: leases (several processes on one store) ---
    async def claim(self, thread_id: int, holder: str, seconds: float) -> bool:
        """Take or renew the thread's lease for ``seconds`` (the store's clock): True when
        ``holder`` holds it now — it was free, expired, or already ``holder``'s. At most one
        holder has a live lease on a thread; only the holder answers it."""
        ...

    async def renew(self, holder: str, thread_ids: Collection[int], seconds: float) -> set[int]:
        """Extend ``holder``'s leases on ``thread_ids`` by ``seconds`` from now: those it
        still holds (a lease that expired and was taken by another holder is not). Its
        leases on other threads are left to expire: an answer that ended without giving
        its lease up (the release failed) must not keep the thread from everyone."""
        ...

    async def release(self, thread: ThreadState, holder: str) -> Unfinished | None:
        """Give the lease up (only ``holder``'s own; any stop asked for it goes with it),
        then say what waits in the thread's current epoch (as ``waiting``), read after the
        lease is gone: a message another process stored while this one held the lease —
        that process could not take it — is this one's to answer."""
        ...

    async def request_stop(self, thread_id: int) -> bool:
        """Ask whoever holds the thread's live lease to stop its reply: True if one does."""
        ...

    async def stops_requested(self, holder: str) -> set[int]:
        """The threads among ``holder``'s leases where a stop was asked, each reported
        once."""
        ...

    # --- commands and hints ---
    async def first_time(self, key: ThreadKey, event_id: str, kind: str) -> bool:
        """Record that platform event ``event_id`` was handled in ``key``; False if it
        already was. Creates no conversation."""
        ...

    # --- after a restart ---
    async def expire_waiting(self, older_than: datetime) -> int:
        """Mark messages waiting since before ``older_than`` as left unanswered: how many."""
        ...

    async def unfinished(self) -> list[Unfinished]:
        """Threads with messages waiting for an answer or a reply that was being written,
        and no live lease: what no process is answering. A holder that died leaves its
        lease to expire (a server store), or the store sees at once that it died (SQLite,
        whose processes share one machine)."""
        ...

    async def tidied(self, key: ThreadKey) -> None:
        """What ``unfinished`` reported for ``key`` was dealt with on screen (called by the
        lease's holder only: it forgets the open reply rows of the thread)."""
        ...

    # --- spending and settings changed from chat (bot/admin/) ---
    async def admit(
        self, charge: Charge, limits: Sequence[Limit], rule: Rule, *, stale_after: float
    ) -> tuple[Verdict, int | None]:
        """Decide and reserve in one step that no concurrent ``admit`` for the same subjects
        interleaves with (across processes): sum what each limit's subject spent of its metric
        since ``limit.since`` (``Spent``, done and in flight; open charges older than
        ``stale_after`` seconds count as done), ask ``rule`` with one ``Spent`` per limit in
        order, and if it admits, store ``charge`` as in flight. The verdict and the charge's
        id (None unless admitted)."""
        ...

    async def spend(self, charge_id: int | None, spending: Spending) -> None:
        """Record what a model call cost: it replaces the in-flight charge ``charge_id``
        (from ``admit``), or is a new row when there was none (no limit applied)."""
        ...

    async def usage(
        self, since: datetime, by: UsageBy, *, within: tuple[Subject, Spender] | None = None,
        top: int | None = None,
    ) -> list[UsageRow]:
        """What the calls that ended since ``since`` cost, one row per ``by`` key: the most
        tokens first (by day: oldest day first), at most ``top`` rows; only the calls of
        ``within``'s subject (e.g. this user, this workspace) when given."""
        ...

    async def place_settings(self, places: Sequence[str]) -> list[PlaceSetting]:
        """The settings changed from chat for these places (``PlaceSetting.place``)."""
        ...

    async def set_place_setting(self, place: str, name: str, value: str | None, by: str) -> None:
        """Set (or with None clear) one setting of a place, replacing what was there."""
        ...

    async def places_with(self, names: Collection[str]) -> set[str]:
        """The places that have at least one of the settings ``names`` (read every few
        seconds: indexed by name, so rows of other names cost nothing)."""
        ...

    # --- reading back (export, stats) ---
    async def history(self, key: ThreadKey) -> list[tuple[int, StoredMessage]]:
        """Every stored message of the thread with its epoch, all epochs, oldest first."""
        ...

    async def stats(self) -> list[PlatformStats]:
        """Threads, messages and tokens per platform."""
        ...

    async def list_threads(self) -> list[ThreadListing]:
        """Every thread, most recently active first."""
        ...

    # --- deleting (retention, `threadbot purge`, /forget) ---
    async def purge(self, what: Purge, *, dry_run: bool = False) -> Purged:
        """Delete the messages ``what`` names (``dry_run``: count them) and leave each thread
        continuable: a thread with a live lease is skipped and named; running totals are
        recomputed; a summary covering a deleted message goes too; an epoch that lost
        messages loses its chain anchor (the next turn replays what remains); open reply
        rows stay unless the whole thread goes; ``charges`` is untouched (what was spent)."""
        ...

    async def close(self) -> None: ...


class Provider(Protocol):
    """A model behind one SDK client, reused across turns.

    Every provider maps its SDK's exceptions (and in-stream error events) to
    ``bot.errors.ProviderError`` with an ``ErrorKind``; nothing else escapes ``stream``.
    """

    name: str
    supports_chain: bool  # True only where previous_response_id exists (OpenAI Responses)

    def stream(self, request: Request) -> AsyncGenerator[str | Thinking | Completion, None]:
        """Yield text deltas (str) as they arrive, then exactly one Completion. Between them
        ``Thinking`` items say the model is thinking, one per chunk of it (reasoning is never
        shown: it is not in any delta nor in the Completion's text).

        Raises ProviderError. With ``request.previous_response_id`` set and the id unknown
        or expired, raises ProviderError(ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND) before
        yielding any text, so the caller can fall back to replay invisibly.
        """
        ...

    async def aclose(self) -> None:
        """Close the SDK client."""
        ...

