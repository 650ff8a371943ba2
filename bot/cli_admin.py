"""The admin's CLI: `threadbot usage`, `threadbot config show`, `threadbot reload`.

Part of the composition root with ``bot/cli.py`` (it opens the store); the rules it shows
are ``bot/admin/``'s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.types import ThreadKey

if TYPE_CHECKING:
    from bot.admin.ledger import UsageRow
    from bot.config import Settings

_SPAN = re.compile(r"^\s*(\d+)\s*([dhm]|days?|hours?|mins?|minutes?)\s*$", re.IGNORECASE)
# reasoning_tokens: the part of output_tokens a reasoning model spent thinking
COLUMNS = ("calls", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
           "tokens", "cost")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    usage = sub.add_parser("usage", help="tokens and estimated cost, by user, channel, model or day")
    usage.add_argument("--since", default="30d",
                       help="how far back: 30d, 24h, 90m, or a date (2026-11-01); default 30d")
    usage.add_argument("--by", choices=("user", "channel", "workspace", "model", "day"),
                       default="user")
    usage.add_argument("--format", choices=("table", "csv", "json"), default="table")
    config = sub.add_parser("config", help="check and show the admin configuration")
    config_sub = config.add_subparsers(dest="action", required=True)
    show = config_sub.add_parser("show", help="the effective settings for a place, and where "
                                 "each came from")
    show.add_argument("--where", metavar="KEY", default="",
                      help="a thread key as `stats` prints it (platform:workspace:channel:"
                           "thread), or platform:workspace:channel for a channel")
    sub.add_parser("reload", help="make every running threadbot on this database re-read "
                   "threadbot.toml (as SIGHUP does)")


def since(text: str, now: datetime) -> datetime:
    """``30d`` / ``24h`` / ``90m`` ago, or a date; ConfigError naming the accepted forms."""
    match = _SPAN.match(text)
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2).lower()[0]
            return now - {"d": timedelta(days=amount), "h": timedelta(hours=amount),
                          "m": timedelta(minutes=amount)}[unit]
        day = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):  # a typo, or an age reaching before year 1
        raise ConfigError(f"--since {text!r}: use 30d, 24h, 90m or a date like 2026-11-01") from None
    return day if day.tzinfo else day.replace(tzinfo=now.tzinfo)


async def usage(settings: Settings, args: argparse.Namespace) -> int:
    from bot.admin.ledger import UsageBy
    from bot.types import utcnow
    from storage import open_store

    start = since(args.since, utcnow())
    store = await open_store(settings.db)
    try:
        rows = await store.usage(start, UsageBy(args.by))
    finally:
        await store.close()
    render = {"table": _table, "csv": _csv, "json": _json}[args.format]
    sys.stdout.write(render(rows, args.by, start))
    return 0


def _cells(row: UsageRow) -> list[str]:
    return [str(getattr(row, c)) if c != "cost" else f"{row.cost:.6f}" for c in COLUMNS]


def _label(row: UsageRow) -> str:
    return f"{row.platform}:{row.key}" if row.platform else row.key


def _table(rows: list[UsageRow], by: str, start: datetime) -> str:
    if not rows:
        return f"No model calls since {start:%Y-%m-%d %H:%M} UTC.\n"
    head = [by, "calls", "input", "cached in", "output", "reasoning", "tokens", "est. cost $"]
    body = [[_label(r), str(r.calls), f"{r.input_tokens:,}", f"{r.cached_input_tokens:,}",
             f"{r.output_tokens:,}", f"{r.reasoning_tokens:,}", f"{r.tokens:,}",
             f"{r.cost:.4f}"] for r in rows]
    total = ["total", *(f"{sum(getattr(r, c) for r in rows):,}" for c in COLUMNS[:-1]),
             f"{sum(r.cost for r in rows):.4f}"]
    total[1] = str(sum(r.calls for r in rows))
    widths = [max(len(line[i]) for line in (head, *body, total)) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True)))

    return "\n".join([f"Since {start:%Y-%m-%d %H:%M} UTC", fmt(head), *map(fmt, body),
                      fmt(total)]) + "\n"


def _csv(rows: list[UsageRow], by: str, start: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["platform", by, *COLUMNS])
    for r in rows:
        writer.writerow([r.platform, r.key, *_cells(r)])
    return out.getvalue()


def _json(rows: list[UsageRow], by: str, start: datetime) -> str:
    items = [{"platform": r.platform, by: r.key, "calls": r.calls,
              "input_tokens": r.input_tokens, "cached_input_tokens": r.cached_input_tokens,
              "output_tokens": r.output_tokens, "reasoning_tokens": r.reasoning_tokens,
              "tokens": r.tokens, "cost": r.cost}
             for r in rows]
    return json.dumps({"since": start.isoformat(), "by": by, "rows": items}, indent=2) + "\n"


async def config(settings: Settings, args: argparse.Namespace) -> int:
    from bot.admin.config import load_admin
    from bot.admin.gate import Gate
    from storage import open_store

    admin = load_admin()  # ConfigError: one line per mistake
    key = ThreadKey.parse(args.where) if args.where else ThreadKey("*")
    store = await open_store(settings.db)
    try:
        place = await Gate(settings, admin, store).place(key)
    finally:
        await store.close()
    print(f"# {admin.path or 'no threadbot.toml: environment and built-in defaults only'}")
    scoped = {"workspaces": admin.file.workspaces, "channels": admin.file.channels,
              "threads": admin.file.threads}
    for kind, table in scoped.items():
        if table:
            print(f"# {kind} with their own settings: {', '.join(table)}")
    if args.where:
        print(f"# settings for {key} (channel {place.channel or '-'})")
    width = max(len(n) for n in place.values)
    for name in sorted(place.values):
        value = place[name]
        if value is None:
            continue
        shown = json.dumps(value, ensure_ascii=False)
        print(f"{name.ljust(width)} = {shown}    # {place.sources.get(name, '')}")
    cap = admin.monthly_spend_cap
    print(f"{'monthly_spend_cap'.ljust(width)} = {json.dumps(cap)}")
    return 0


async def reload(settings: Settings, args: argparse.Namespace) -> int:
    from bot.admin.config import load_admin
    from bot.admin.reloads import POLL_S, request_reload
    from storage import open_store, redacted

    admin = load_admin()  # a broken file is reported here, and nothing is asked
    store = await open_store(settings.db)
    try:
        await request_reload(store)
    finally:
        await store.close()
    where = admin.path or "the environment (no threadbot.toml)"
    print(f"{where} is valid; every threadbot running on {redacted(settings.db)} reloads it "
          f"within {POLL_S:g} s (SIGHUP reloads one process at once).")
    return 0
