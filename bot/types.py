"""Values that cross a boundary (adapter ↔ engine ↔ provider ↔ store).

They are frozen so that no layer can change what another layer was handed: an adapter's
Turn is exactly what gets stored, a Request is exactly what gets sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, NamedTuple

Role = Literal["user", "assistant"]
StoredRole = Literal["user", "assistant", "summary"]


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """Where a conversation lives.

    Absent parts are "" rather than None because SQLite's UNIQUE treats NULLs as distinct,
    which would let one conversation split into many rows.
    """

    platform: str  # "slack" | "discord" | "console"
    scope: str = ""  # Slack team / Discord guild; "" for DMs and the console
    channel: str = ""
    thread: str = ""  # thread ts / thread channel id; "" for "no thread"

    def __str__(self) -> str:
        return ":".join((self.platform, self.scope, self.channel, self.thread))

    @classmethod
    def parse(cls, text: str) -> ThreadKey:
        """Inverse of ``str()``; the form users pass to ``threadbot export --thread``. The
        thread part keeps any further colons (a console thread may be named ``team:alpha``)."""
        parts = text.split(":", 3)
        if not parts[0]:
            raise ValueError(f"not a thread key: {text!r} (platform:scope:channel:thread)")
        return cls(*parts)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a message or command comes from beyond its ThreadKey: what the access rules and
    the per-channel settings need (``bot/admin/``). The defaults suit a platform that knows
    none of it (the console)."""

    roles: tuple[str, ...] = ()  # the author's role ids (Discord)
    manager: bool = False  # the author may manage the server (Discord "Manage Server")
    channel: str = ""  # the channel a Discord thread belongs to; "" when it is the key's
    direct: bool = False  # a direct message with the bot


@dataclass(frozen=True, slots=True)
class Image:
    """An image shared with a message. Stored by reference — the platform's file id and the
    hash of the bytes sent — never as bytes in the database; the bytes are kept in memory
    only while the image may still be re-sent (``bot/images.py``)."""

    name: str
    media_type: str  # image/png | image/jpeg | image/gif | image/webp
    sha256: str
    file_id: str = ""
    data: bytes = field(default=b"", repr=False, compare=False)  # b"" once only a reference
    # where the platform served it when shared: tried first when the bytes are fetched again
    url: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One incoming platform message, already translated by an adapter."""

    key: ThreadKey
    message_id: str  # the platform's id: the unit of de-duplication
    author_id: str
    author_name: str
    text: str
    addressed: bool = True  # mentioned, a DM, or a thread the bot follows
    at: datetime = field(default_factory=utcnow)
    origin: Origin = Origin()
    images: tuple[Image, ...] = ()  # images shared with it (the text names them too)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message the bot will not answer: the author may not use it here (``bot/admin/``).
    ``text`` is what to tell them, "" when they were already told in this conversation."""

    text: str


class CommandName(StrEnum):
    RESET = "reset"
    SUMMARIZE = "summarize"
    STOP = "stop"
    HELP = "help"
    USAGE = "usage"  # your usage against your limits (admins: the top users and channels)
    MODEL = "model"  # list the models allowed here, or switch this thread's model
    CONFIG = "config"  # this channel's settings; admins change them
    FORGET = "forget"  # delete your stored messages here; admins: "forget all", the thread


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    key: ThreadKey
    name: CommandName
    author_id: str = ""
    message_id: str = ""  # the platform's id of the message or interaction: answered once
    argument: str = ""  # what follows the command's name (``!model gpt-4.1``), stripped
    origin: Origin = Origin()


class ChatMessage(NamedTuple):
    """A message as a provider sees it, after history normalisation.

    A NamedTuple rather than a frozen dataclass: just as immutable, but a replayed request
    builds one per stored message (hundreds per turn) and a frozen dataclass costs ~3x more
    to construct — measurable in the per-turn overhead (bench/engine_bench.py).
    """

    role: Role
    content: str
    images: tuple[Image, ...] = ()  # with their bytes: sent before the text (user turns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Everything a provider needs for one call, and nothing platform-specific."""

    model: str
    system: str
    messages: tuple[ChatMessage, ...]
    max_output_tokens: int
    previous_response_id: str | None = None  # chain: the provider holds the earlier context
    store: bool = False  # Responses API: keep the response so a later call can chain on it
    budget: int = 0  # the history budget it was built within (a retry may try a smaller one)
    # The thread's rolling summary (bot/history/compaction.py), already the tail of ``system``:
    # Anthropic puts a prompt-cache breakpoint before it, so the prompt's own cache survives
    # a new summary.
    summary: str = ""
    # Groups a thread's requests for OpenAI's prompt cache (``prompt_cache_key``); "" for none.
    cache_key: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the provider reported for one reply. ``input_tokens`` counts ALL input;
    ``cached_input_tokens`` is the part of it served from the provider's prompt cache
    (billed at a discount), 0 when the provider did not say. ``reasoning_tokens`` is the part
    of ``output_tokens`` a reasoning model spent thinking (billed as output, never shown),
    0 when the provider did not say (Anthropic does not report it separately)."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """The last item of a provider stream: the whole text plus what the store records."""

    text: str
    model: str
    response_id: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a rolling summary stands for: the oldest messages of its epoch, up to the running
    token total ``tokens`` (copy-stable, unlike row ids) — ``messages`` of them."""

    tokens: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RollingSummary:
    """The newest rolling summary of a thread's epoch: sent in place of what it covers."""

    content: str
    tokens: int
    covers: Coverage
    model: str
    usage: Usage | None = None  # what the call that wrote it used (None: not reported)


class ContextMessage(NamedTuple):
    """A stored message as the history strategies need it: only the fields they read, and a
    NamedTuple for the same reason as ChatMessage (hundreds are built per replayed turn)."""

    role: Literal["user", "assistant"]
    author_id: str
    author_name: str
    content: str
    tokens: int
    images: tuple[Image, ...] = ()  # references only (no bytes)


class Ending(StrEnum):
    """How a reply ended, so a sink can show it (a note) without parsing the text, and the
    store can tell an answer from what was cut short. Every ending counts as answered: the
    user saw it end."""

    ANSWERED = "answered"
    STOPPED = "stopped"  # a user stopped it: the text is what was written before the stop
    FAILED = "failed"  # the provider failed; the text is what was shown before it did
    INTERRUPTED = "interrupted"  # the bot shut down before the reply was complete


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A message to store; the store adds the thread, epoch and running token total."""

    role: StoredRole
    content: str
    tokens: int
    author_id: str = ""
    author_name: str = ""
    platform_message_id: str | None = None
    response_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    ending: Ending | None = None  # replies: how it ended
    awaits_answer: bool = False  # user messages the bot was asked to answer (pending until it does)
    at: datetime | None = None
    images: tuple[Image, ...] = ()  # stored by reference (no bytes)
    covers: Coverage | None = None  # a rolling summary: what it replaces in the context


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """A row of the conversation with everything the store records (export)."""

    id: int
    role: StoredRole
    author_id: str
    author_name: str
    content: str
    tokens: int
    platform_message_id: str | None
    response_id: str | None
    created_at: datetime
    ending: Ending | None = None
    model: str | None = None  # replies: the model that wrote it
    usage: Usage | None = None  # replies: what the provider reported, when it did
    covers: Coverage | None = None  # a rolling summary: the messages it stands for

    @property
    def stopped(self) -> bool:
        return self.ending is Ending.STOPPED


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadState:
    """The per-thread row: what a history strategy needs to build the next request."""

    id: int
    key: ThreadKey
    strategy: str  # the name of the history strategy the thread started with
    epoch: int
    last_response_id: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class PlatformStats:
    """One line of `threadbot stats`."""

    platform: str
    threads: int
    messages: int
    tokens: int
    cached_input_tokens: int = 0  # of the replies' input, served from a prompt cache
    reasoning_tokens: int = 0  # of the replies' output, spent thinking (reasoning models)


@dataclass(frozen=True, slots=True)
class ThreadListing:
    """A thread as `threadbot stats` lists it: most recently active first."""

    key: ThreadKey
    messages: int
    updated_at: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A thread a stopped or crashed process left with work: messages still waiting for an
    answer, and/or the platform messages of a reply that was being written (to tidy up)."""

    key: ThreadKey
    waiting: int  # messages waiting for an answer
    last_author_id: str  # who asked last (Slack streams to a recipient)
    open_refs: tuple[str, ...]  # platform messages of the reply cut short, oldest first
    # a reply stored in full whose platform messages may not show its end yet, and its text
    shown_refs: tuple[str, ...] = ()
    shown_text: str = ""


@dataclass(frozen=True, slots=True)
class Thinking:
    """A provider stream item between the text deltas: the model is thinking (reasoning that
    is never shown), so the platform can say so while the user waits for the answer."""


THINKING = Thinking()


@dataclass(frozen=True, slots=True, kw_only=True)
class Purge:
    """Which stored messages to delete (``Store.purge``): every field given narrows it. A
    ``key`` alone is the whole thread (its row goes too); with ``author_id`` only that
    person's own messages (never the bot's replies to them); ``older_than`` alone is
    retention across every thread."""

    older_than: datetime | None = None
    key: ThreadKey | None = None
    author_id: str | None = None

    @property
    def whole_thread(self) -> bool:
        return self.key is not None and self.older_than is None and self.author_id is None


@dataclass(frozen=True, slots=True)
class Purged:
    """What a purge deleted, or with a dry run would delete: messages and the threads they
    were in; threads with a reply being written (a live lease) are left alone and named in
    ``skipped`` with the messages that stayed there (a later run takes them)."""

    messages: int
    threads: int
    skipped: tuple[ThreadKey, ...] = ()
    skipped_messages: int = 0
