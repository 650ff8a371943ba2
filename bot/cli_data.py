"""The operator's data commands: `threadbot purge` and `threadbot backup`.

Part of the composition root with ``bot/cli.py`` (it opens the store). A purge always counts
first and deletes only when told to (``--yes``, or a "y" typed at a terminal): what it
deletes is gone from the database — a backup first is the way back.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli_admin import since
from bot.errors import ConfigError
from bot.types import Purge, Purged, ThreadKey, utcnow

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ports import Store


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    purge = sub.add_parser(
        "purge", help="delete stored messages: older than a time, a thread, or a user's",
        description="Counts what would be deleted first; deletes only with --yes (or after "
        "you confirm at a terminal). Options combine: --thread KEY --user ID deletes one "
        "person's messages in one thread. Spending records (`threadbot usage`) are kept.",
    )
    purge.add_argument("--older-than", metavar="AGE",
                       help="messages older than this: 90d, 12h, 30m, or a date (2026-01-31)")
    purge.add_argument("--thread", metavar="KEY",
                       help="a thread key as `stats` prints it, or a console thread's name; "
                            "alone: the whole thread")
    purge.add_argument("--user", metavar="ID",
                       help="a person's own messages (platform user id; console:NAME)")
    purge.add_argument("--yes", action="store_true", help="delete without asking")
    backup = sub.add_parser(
        "backup", help="copy the SQLite database to a file, consistently, while the bot runs")
    backup.add_argument("path", type=Path, help="the backup file to create (must not exist)")


async def purge(settings: Settings, args: argparse.Namespace) -> int:
    from storage import open_store

    store = await open_store(settings.db)
    try:
        what = await _what(store, args)
        counted = await store.purge(what, dry_run=True)
        print(_counts(counted, "would delete"))
        if not counted.messages and not (what.whole_thread and counted.threads):
            return 0
        if not (args.yes or _confirmed()):
            print("Nothing deleted: run again with --yes to delete.")
            return 0
        print(_counts(await store.purge(what), "deleted"))
    finally:
        await store.close()
    return 0


async def backup(settings: Settings, args: argparse.Namespace) -> int:
    from storage import redacted
    from storage.backup import backup as copy

    try:
        size = await asyncio.to_thread(copy, str(settings.db), args.path)
    except ConfigError as exc:
        print(f"threadbot: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {redacted(settings.db)} to {args.path} ({size:,} bytes). Restore: stop "
          "the bot, put the file in place of the database (or point THREADBOT_DB at it).")
    return 0


async def _what(store: Store, args: argparse.Namespace) -> Purge:
    """The purge the options describe; ConfigError when they name nothing, or no thread."""
    if not (args.older_than or args.thread or args.user):
        raise ConfigError("purge: say what to delete: --older-than AGE, --thread KEY and/or "
                          "--user ID")
    older = None
    if args.older_than:
        try:
            older = since(args.older_than, utcnow())
        except ConfigError:
            raise ConfigError(f"--older-than {args.older_than!r}: use 90d, 12h, 30m or a date "
                              "like 2026-01-31") from None
    key = await _thread(store, args.thread) if args.thread else None
    return Purge(older_than=older, key=key, author_id=args.user or None)


async def _thread(store: Store, name: str) -> ThreadKey:
    """The stored thread ``name`` names: a key as `stats` prints it, else a console
    thread's name (which may contain colons)."""
    from adapters.console import console_key

    keys = [console_key(name)]
    if ":" in name and not name.startswith(":"):
        keys.insert(0, ThreadKey.parse(name))
    for key in keys:
        if await store.get_thread(key) is not None:
            return key
    raise ConfigError(f"no stored thread {name!r} (see `threadbot stats`)")


def _counts(purged: Purged, verb: str) -> str:
    line = f"{verb[0].upper()}{verb[1:]} {purged.messages} message(s) in {purged.threads} thread(s)."
    if purged.skipped:
        keys = ", ".join(str(k) for k in purged.skipped[:5])
        more = f" and {len(purged.skipped) - 5} more" if len(purged.skipped) > 5 else ""
        line += (f"\nSkipped {len(purged.skipped)} thread(s) with a reply being written "
                 f"({purged.skipped_messages} message(s)): {keys}{more}. Run it again later.")
    return line


def _confirmed() -> bool:
    """A "y" typed at a terminal; never asked when stdin is not one (a script, cron)."""
    if not sys.stdin.isatty():
        return False
    try:
        return input("Delete them? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
