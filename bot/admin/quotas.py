"""Quotas: which limits apply to a model call, the admission rule, and what the user is told.

Days and months are UTC calendar days and months (a quota resets at 00:00 UTC); "per
minute" is the last 60 seconds.

The rule lets calls run concurrently while they fit, and never lets several concurrent
calls jointly pass a limit by more than one reply: a call whose upper bound (its input plus
its maximum output) does not fit beside the calls in flight waits for them to end; one that
does not fit when nothing is in flight may go (the one reply a limit can be passed by);
once what ended reaches the limit, calls are refused until it resets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from bot.admin.ledger import Charge, Limit, Metric, Rule, Spent, Subject, Verdict
from bot.admin.places import Place

WINDOWS = {"daily": "day", "monthly": "month", "messages_per_minute": "minute"}
NAMES = {Subject.USER: "your", Subject.CHANNEL: "this channel's",
         Subject.WORKSPACE: "this workspace's", Subject.ALL: "the bot's"}


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def limits(place: Place, *, exempt: bool, cap: float | None, now: datetime) -> list[Limit]:
    """The limits a call at ``place`` is checked against (``exempt``: an admin who skips
    the quotas; the spend cap applies to every call)."""
    out = [] if exempt else list(_quotas(place, now))
    if cap is not None:
        out.append(Limit("monthly_spend_cap", Subject.ALL, Metric.COST, cap,
                         month_start(now), next_month(now)))
    return out


def _quotas(place: Place, now: datetime) -> Iterator[Limit]:
    day, month = day_start(now), month_start(now)
    spans = {"daily": (day, day + timedelta(days=1)), "monthly": (month, next_month(now))}
    for subject in (Subject.USER, Subject.CHANNEL, Subject.WORKSPACE):
        for span, (since, resets) in spans.items():
            for metric in (Metric.TOKENS, Metric.COST):
                name = f"{subject}_{span}_{metric}"
                if place[name] is not None:
                    yield Limit(name, subject, metric, float(place[name]), since, resets)
        name = f"{subject}_messages_per_minute"
        if place[name] is not None:
            yield Limit(name, subject, Metric.MESSAGES, float(place[name]),
                        now - timedelta(minutes=1), now + timedelta(minutes=1))


def rule(charge: Charge, limits: Sequence[Limit]) -> Rule:
    """The admission rule for ``charge`` (see the module docstring)."""

    def decide(spent: Sequence[Spent]) -> Verdict:
        wait: Limit | None = None
        for limit, used in zip(limits, spent, strict=True):
            need = {Metric.TOKENS: float(charge.tokens), Metric.COST: charge.cost,
                    Metric.MESSAGES: 1.0}[limit.metric]
            if used.done >= limit.amount:
                return Verdict(False, limit)
            if limit.metric is Metric.MESSAGES:
                if used.done + used.in_flight + need > limit.amount:
                    return Verdict(False, limit)
            elif used.done + used.in_flight + need > limit.amount and used.in_flight > 0:
                wait = wait or limit
        return Verdict(False, wait, wait=True) if wait else Verdict(True)

    return decide


def message(limit: Limit, now: datetime) -> str:
    """The one line a user gets when ``limit`` stops their message."""
    if limit.subject is Subject.ALL:
        return ("The bot has reached its monthly spending cap, so I can't answer right now. "
                "An admin has been told; it resets on " f"{limit.resets:%B} 1.")
    whose = NAMES[limit.subject]
    if limit.metric is Metric.MESSAGES:
        what = f"{whose} limit of {limit.amount:g} messages a minute"
        return f"You've reached {what}. Please try again in a minute."
    span = "daily" if "daily" in limit.name else "monthly"
    unit = "token" if limit.metric is Metric.TOKENS else "spending"
    amount = f"{limit.amount:,.0f} tokens" if limit.metric is Metric.TOKENS else f"${limit.amount:,.2f}"
    return (f"You've reached {whose} {span} {unit} limit ({amount}), so I can't answer this "
            f"one. It resets {_when(limit.resets, now)}.")


def _when(resets: datetime, now: datetime) -> str:
    if resets - now <= timedelta(days=1):
        return f"at {resets:%H:%M} UTC" + (" tomorrow" if resets.date() != now.date() else "")
    return f"on {resets:%B} {resets.day} (00:00 UTC)"

