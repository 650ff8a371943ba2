"""What both backends' spending SQL shares (storage/sqlite_spending.py,
storage/postgres_spending.py): which columns a limit's subject or a usage report's key is,
and what a metric adds up. Only fixed column names come from here, never a value, so the
SQL built with them stays parameterised.
"""

from __future__ import annotations

from bot.admin.ledger import Metric, Spender, Subject, UsageBy

# The charge columns a subject matches on, compared with ``subject_values``: same platform and
# id. ALL matches every charge.
SUBJECT_COLUMNS: dict[Subject, tuple[str, ...]] = {
    Subject.USER: ("platform", "user_id"),
    Subject.CHANNEL: ("platform", "channel"),
    Subject.WORKSPACE: ("platform", "scope"),
    Subject.ALL: (),
}

# What one charge adds to a limit's sum (MESSAGES: one model call).
METRIC_VALUE: dict[Metric, str] = {
    Metric.TOKENS: "tokens",
    Metric.COST: "cost",
    Metric.MESSAGES: "1",
}

# A usage report's (platform, key) columns; by day the key is the backend's own expression
# for the UTC date, so it is not here.
USAGE_KEY: dict[UsageBy, tuple[str, str]] = {
    UsageBy.USER: ("platform", "user_id"),
    UsageBy.CHANNEL: ("platform", "channel"),
    UsageBy.WORKSPACE: ("platform", "scope"),
    UsageBy.MODEL: ("''", "model"),
}


def spender_values(spender: Spender) -> tuple[str, str, str, str]:
    """A charge's platform, scope, channel and user_id columns, in that order."""
    return (spender.platform, spender.scope, spender.channel, spender.user_id)


def subject_values(subject: Subject, spender: Spender) -> tuple[str, ...]:
    """The values ``SUBJECT_COLUMNS[subject]`` must have to be ``spender``'s subject."""
    ids = {
        Subject.USER: spender.user_id,
        Subject.CHANNEL: spender.channel,
        Subject.WORKSPACE: spender.scope,
    }
    return () if subject is Subject.ALL else (spender.platform, ids[subject])


def usage_order(by: UsageBy) -> str:
    """A usage report's ORDER BY: the most tokens first, by day the oldest day first; then
    by key (column 2) and platform (column 1), so that ties come out the same every time."""
    if by is UsageBy.DAY:
        return "2, 1"
    return "SUM(input_tokens + output_tokens) DESC, 2, 1"
