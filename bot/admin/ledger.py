"""What the admin controls hand the store: who a model call is charged to, the limits it is
checked against, what it cost, and settings an admin changed from chat.

The store counts (so quotas hold across restarts and replicas); the rules — which limits
apply, what counts as reached, what to tell the user — stay in the core (``bot/admin/``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Subject(StrEnum):
    """Whose spending a limit counts."""

    USER = "user"
    CHANNEL = "channel"
    WORKSPACE = "workspace"  # a Slack workspace or a Discord server
    ALL = "all"  # every call the bot makes (the monthly spend cap)


class Metric(StrEnum):
    TOKENS = "tokens"  # input + output tokens
    COST = "cost"  # estimated US dollars
    MESSAGES = "messages"  # model calls made for the subject


@dataclass(frozen=True, slots=True)
class Spender:
    """Who and where a model call is charged to. Ids are the platform's; ``scope`` is the
    workspace / server ("" in a Discord DM and the console), ``channel`` the channel the
    conversation is in (a Discord thread's parent channel)."""

    platform: str
    scope: str
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Limit:
    """One quota: at most ``amount`` of ``metric`` for ``subject`` since ``since`` (the start
    of the current minute window, day or month), resetting at ``resets``."""

    name: str  # the configuration key, e.g. "user_daily_tokens" (said to the user)
    subject: Subject
    metric: Metric
    amount: float
    since: datetime
    resets: datetime


@dataclass(frozen=True, slots=True)
class Spent:
    """What a subject has used of one limit's metric since the limit's window started:
    ``done`` by calls that ended, ``in_flight`` reserved by calls still running (their upper
    bound). Open charges older than the store's ``stale_after`` count as done."""

    done: float
    in_flight: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may go ahead: admitted, refused by ``limit``, or ``wait`` — nothing
    is reached yet but calls in flight may leave no room (ask again once they end)."""

    admitted: bool
    limit: Limit | None = None
    wait: bool = False


Rule = Callable[[Sequence[Spent]], Verdict]


@dataclass(frozen=True, slots=True)
class Charge:
    """A model call about to be made: its upper-bound cost, reserved while it runs."""

    spender: Spender
    thread_id: int | None
    model: str
    tokens: int  # the request's input tokens + its max output tokens
    cost: float  # those tokens at the model's prices (US dollars)


@dataclass(frozen=True, slots=True)
class Spending:
    """What a model call cost once it ended (the provider's usage, or an estimate when the
    provider reported none: a stopped or failed reply)."""

    spender: Spender
    thread_id: int | None
    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost: float
    estimated: bool = False
    reasoning_tokens: int = 0  # of output_tokens, spent thinking (0: none, or not reported)


class UsageBy(StrEnum):
    USER = "user"
    CHANNEL = "channel"
    WORKSPACE = "workspace"
    MODEL = "model"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One line of a usage report: ``key`` is the user / channel / workspace id (with its
    ``platform``), the model, or the UTC day (YYYY-MM-DD; platform "")."""

    platform: str
    key: str
    calls: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost: float
    reasoning_tokens: int = 0  # of output_tokens, spent thinking

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class PlaceSetting:
    """A setting changed from chat (an admin's ``!channel model …``, a user's ``!model …``)
    for one place: ``place`` is ``channel:<platform>:<channel id>`` or ``thread:<thread
    key>``. Stored, so it holds after a restart and on every replica."""

    place: str
    name: str
    value: str
    set_by: str
    set_at: datetime
