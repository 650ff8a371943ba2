"""`threadbot doctor`'s database line: the store opened as `threadbot run` opens it.

Opening is the check: a SQLite file or folder this user cannot write, a damaged file, a
PostgreSQL server that is down or refuses the login all end in the store's own one-line
ConfigError; a new database is created and pending migrations are applied, exactly what the
next start would do. What a start would not say: a database a newer threadbot migrated
(migrations this version does not know) — refused here, as running on it is a downgrade.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.errors import ConfigError
from storage import POSTGRES_SCHEMES, open_store, redacted, sqlite_path
from storage.migrations import postgres as postgres_migrations
from storage.migrations import sqlite as sqlite_migrations


async def check_store(url: str) -> str:
    """What the store is and what opening it did; ConfigError (one line) if it cannot serve."""
    postgres = url.strip().startswith(POSTGRES_SCHEMES)
    known = {name for name, _ in (postgres_migrations if postgres else sqlite_migrations).MIGRATIONS}
    before = await _applied_postgres(url) if postgres else _applied_sqlite(url)
    newer = sorted(before - known)
    if newer:
        raise ConfigError(f"{redacted(url)} was migrated by a newer threadbot ({newer[-1]}): "
                          "upgrade threadbot, or restore a backup from before")
    store = await open_store(url)
    try:
        threads = sum(row.threads for row in await store.stats())
    finally:
        await store.close()
    done = "schema current" if before >= known else f"{len(known - before)} migration(s) applied"
    # SQLite: the file was opened for writing; PostgreSQL: the migrations' lock was taken
    kind = "PostgreSQL" if postgres else "SQLite"
    return f"{kind} {redacted(url)}: {'connected' if postgres else 'writable'}, {done}, " \
        f"{threads} thread(s)"


def _applied_sqlite(url: str) -> set[str]:
    """A quick local read before the store opens (and changes) the file."""
    path = sqlite_path(url.strip())
    if path == ":memory:" or not Path(path).is_file():
        return set()
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.Error:  # no table yet, or not a database: open_store says which
        return set()


async def _applied_postgres(url: str) -> set[str]:
    import asyncpg

    try:
        db = await asyncpg.connect(url, timeout=10)
    except Exception:  # noqa: BLE001 — open_store says what is wrong, without the password
        return set()
    try:
        return {row[0] for row in await db.fetch("SELECT name FROM _migrations")}
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await db.close()
