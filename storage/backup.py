"""`threadbot backup`: a consistent copy of a SQLite store while the bot keeps running.

SQLite's online backup API copies the database page by page and restarts a step that a
concurrent write invalidated, so the copy is one moment's state — unlike copying the file,
which with WAL also needs ``-wal`` and can catch a half-written page. A server database has
its own tool (``pg_dump``); this module only says how to use it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bot.errors import ConfigError
from storage import POSTGRES_SCHEMES, redacted, sqlite_path

PAGES_PER_STEP = 1024  # between steps the bot's writes go ahead (4 MiB at the default page)
PG_DUMP = (
    "THREADBOT_DB is PostgreSQL ({url}): back it up with the server's own tool, e.g.\n"
    "  pg_dump --format=custom --file=threadbot.dump \"$THREADBOT_DB\"\n"
    "and restore into an empty database with\n"
    "  pg_restore --dbname=postgresql://USER@HOST/NEWDB threadbot.dump\n"
    "(pg_dump takes a consistent snapshot while the bot runs; see docs/operations.md)."
)


def backup(db: str, target: Path) -> int:
    """Copy the SQLite store ``db`` to ``target`` (which must not exist): its size in bytes.
    ConfigError for a PostgreSQL store (what to run instead), a missing store or target.
    Blocking: run it in a thread where an event loop runs."""
    if str(db).startswith(POSTGRES_SCHEMES):
        raise ConfigError(PG_DUMP.format(url=redacted(db)))
    source = Path(sqlite_path(str(db)))
    if not source.is_file():
        raise ConfigError(f"no SQLite store at {source} (THREADBOT_DB): nothing to back up.")
    if target.exists():
        raise ConfigError(f"{target} exists: choose a new file (a backup never overwrites).")
    if not target.parent.is_dir():
        raise ConfigError(f"{target.parent} is not a folder: create it first.")
    partial = target.with_name(f".{target.name}.partial")
    try:
        _copy(source, partial)
        os.replace(partial, target)  # a backup file is complete or absent
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(_why(exc, source, target)) from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def _why(exc: sqlite3.Error | OSError, source: Path, target: Path) -> str:
    """One line for a copy that failed: the source is damaged, or the target's folder or
    file system refused the write (its error's text names no secret: both are paths)."""
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return (f"{source} is not a SQLite database or is damaged ({exc}): nothing backed up.")
    return f"cannot write the backup to {target} ({exc}): choose a folder this user can write."


def _copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
    except sqlite3.Error:
        src.close()
        raise
    try:
        src.execute("PRAGMA busy_timeout = 5000")
        src.backup(dst, pages=PAGES_PER_STEP)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
