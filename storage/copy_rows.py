"""The rows ``threadbot migrate-store`` moves between two stores (storage/copy.py): what a
conversation is made of, and the spending ledger, as each backend's copier reads and writes
them (place settings travel as ``bot.admin.ledger.PlaceSetting``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.admin.ledger import Spender
from bot.types import ThreadKey


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCopy:
    """One stored message with everything a store keeps about it (ids aside: the target
    gives its own, in the same order)."""

    epoch: int
    role: str
    author_id: str
    author_name: str
    content: str
    tokens: int
    running_tokens: int
    platform_msg_id: str | None
    response_id: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    ending: str | None
    awaits_answer: int
    refs: tuple[str, ...]
    created_at: datetime
    reasoning_tokens: int | None = None
    images: str | None = None  # shared images by reference, as stored (JSON)
    covers_tokens: int | None = None  # a rolling summary: what it covers
    covers_messages: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadCopy:
    key: ThreadKey
    strategy: str
    epoch: int
    last_response_id: str | None
    model: str | None
    created_at: datetime
    updated_at: datetime
    messages: tuple[MessageCopy, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandledCopy:
    """A command or hint already answered (``Store.first_time``)."""

    key: ThreadKey
    event_id: str
    kind: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeCopy:
    """One model call's charge, every column as it was (``open`` ones too: in the target they
    count as done once stale, like those of a process that died). Its thread goes by key:
    the target numbers threads its own way."""

    at: datetime
    spender: Spender
    thread: ThreadKey | None
    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    tokens: int
    cost: float
    open: bool
    estimated: bool
    reasoning_tokens: int = 0
