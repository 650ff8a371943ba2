"""The admin controls' chat commands: ``usage``, ``model`` and ``config``.

Each answers with one message; how a command is typed is the platform's (``!usage``,
``/usage``), so the texts name commands without a prefix.
"""

from __future__ import annotations

from datetime import datetime

from bot.admin.access import is_admin
from bot.admin.gate import Gate
from bot.admin.ledger import Spender, Subject, UsageBy, UsageRow
from bot.admin.places import CHAT_KEYS, Place, channel_place, chat_value, thread_place
from bot.admin.quotas import day_start, month_start
from bot.ports import Store
from bot.types import Command, CommandName, utcnow

COMMANDS = frozenset({CommandName.USAGE, CommandName.MODEL, CommandName.CONFIG})
TOP = 5
ADMINS_ONLY = "Only an admin of this bot can see or change this channel's settings."
ALIASES = {"prompt": "system_prompt", "persona": "system_prompt"}
SETTABLE = tuple(k for k in CHAT_KEYS if k != "history")  # a strategy is fixed per thread


async def answer(gate: Gate, store: Store, command: Command) -> str:
    place = await gate.place(command.key, command.origin)
    if command.name is CommandName.USAGE:
        return await _usage(gate, store, place, command)
    if command.name is CommandName.MODEL:
        return await _model(gate, place, command)
    return await _config(gate, place, command)


# --- usage ---
async def _usage(gate: Gate, store: Store, place: Place, command: Command) -> str:
    now = utcnow()
    spender = gate.spender(place, command.author_id)
    mine = (Subject.USER, spender)
    today = await store.usage(day_start(now), UsageBy.USER, within=mine)
    month = await store.usage(month_start(now), UsageBy.USER, within=mine)
    lines = [
        _line("Today", today, place["user_daily_tokens"], place["user_daily_cost"], "a day"),
        _line("This month", month, place["user_monthly_tokens"], place["user_monthly_cost"],
              "a month"),
    ]
    if place["user_messages_per_minute"] is not None:
        lines.append(f"Rate limit: {place['user_messages_per_minute']} messages a minute.")
    if is_admin(place, command.author_id, command.origin):
        lines += await _top(store, place, spender, month_start(now))
        lines.append(await _spend(store, gate, month_start(now)))
    return "\n".join(["*Your usage*", *lines])


async def _spend(store: Store, gate: Gate, since: datetime) -> str:
    """The bot's estimated spend this month, against the cap when there is one."""
    spent = sum(row.cost for row in await store.usage(since, UsageBy.MODEL))
    cap = gate.config.monthly_spend_cap
    return f"The bot this month: est. ${spent:.2f}" + (
        f" of its ${cap:.2f} monthly spend cap" if cap is not None else " (no spend cap)")


def _line(label: str, rows: list[UsageRow], tokens: int | None, cost: float | None,
          span: str) -> str:
    used = rows[0] if rows else None
    text = (f"{label}: {used.tokens:,} tokens in {_replies(used.calls)} (est. ${used.cost:.4f})"
            if used else f"{label}: nothing yet")
    limits = ([f"{tokens:,} tokens"] if tokens is not None else []) + (
        [f"${cost:.2f}"] if cost is not None else [])
    return text + (f" — your limit: {' and '.join(limits)} {span}" if limits else "")


async def _top(store: Store, place: Place, spender: Spender, since: datetime) -> list[str]:
    within = (Subject.WORKSPACE, spender) if place.key.scope else None
    lines: list[str] = []
    for by, title in ((UsageBy.USER, "Top users"), (UsageBy.CHANNEL, "Top channels")):
        rows = await store.usage(since, by, within=within, top=TOP)
        lines.append(f"*{title} this month*" + ("" if rows else ": none yet"))
        lines += [f"• {r.key or '(none)'}: {r.tokens:,} tokens, {_replies(r.calls)}, est. ${r.cost:.4f}"
                  for r in rows]
    return lines


def _replies(count: int) -> str:
    return f"{count} repl{'y' if count == 1 else 'ies'}"


# --- model ---
async def _model(gate: Gate, place: Place, command: Command) -> str:
    allowed = place.models(gate.prices.family(str(place["provider"])))
    listed = ", ".join(allowed)
    wanted = " ".join(command.argument.split())
    if not wanted:
        return (f"This conversation uses {place.model}. Models you can switch it to: "
                f"{listed}.")
    if wanted not in allowed:
        return f"{wanted[:80]} isn't available here. Models you can switch to: {listed}."
    if wanted == place.model:
        return f"This conversation already uses {wanted}."
    await gate.chat.set(thread_place(command.key), "model", wanted, command.author_id)
    return f"Switched this conversation to {wanted}."


# --- config ---
async def _config(gate: Gate, place: Place, command: Command) -> str:
    if not is_admin(place, command.author_id, command.origin):
        return ADMINS_ONLY
    name, _, value = command.argument.strip().partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    if not name:
        return _show(place)
    if name not in SETTABLE:
        return (f"{name[:40]} can't be set from chat. Settable here: {', '.join(SETTABLE)} "
                "(access rules and quotas live in threadbot.toml).")
    where = channel_place(place.key.platform, place.channel)
    value = value.strip()
    if not value:
        await gate.chat.set(where, name, None, command.author_id)
        return f"Cleared {name} for this channel: the configuration's value applies again."
    if chat_value(name, value) is None:
        return f"{value[:80]} isn't a valid value for {name}."
    await gate.chat.set(where, name, value, command.author_id)
    return f"Set {name} for this channel."


def _show(place: Place) -> str:
    lines = ["*Settings here* (change with `config KEY VALUE`, clear with `config KEY`)"]
    for name in (*CHAT_KEYS, *_quota_keys(place)):
        value = place[name]
        if value is None:
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        shown = shown if len(shown) <= 120 else shown[:117] + "…"
        lines.append(f"• {name} = {shown}  ({place.sources.get(name, '')})")
    return "\n".join(lines)


def _quota_keys(place: Place) -> list[str]:
    return [k for k in place.values if k.endswith(("_tokens", "_cost", "_per_minute"))
            and k not in ("context_tokens", "max_output_tokens") and place[k] is not None]

