"""Why a THREADBOT_DB file cannot serve as the SQLite store, said in one line.

The checks run before aiosqlite opens the file: a connection that fails half-way leaves
aiosqlite's worker thread behind, and SQLite's own words ("unable to open database file")
name neither the setting nor the fix. What only SQLite can tell (not a database, damaged,
read-only) comes from its error codes after the open, through ``unusable``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import ConfigError

_NOT_A_DATABASE = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def prepare(path: str) -> None:
    """Create the file's folder and check that the file can be opened for writing (creating
    it, as SQLite would); ConfigError if not."""
    if path == ":memory:":
        return
    file = Path(path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"THREADBOT_DB={path}: cannot create its folder {file.parent} ({exc.strerror}): "
            "create it, or set THREADBOT_DB to a file in a folder you can write to."
        ) from None
    try:
        with open(file, "ab"):
            pass
    except IsADirectoryError:
        raise ConfigError(
            f"THREADBOT_DB={path} is a directory: set it to a file path such as "
            f"{file / 'threadbot.db'}."
        ) from None
    except OSError as exc:
        raise _read_only(path, exc.strerror or str(exc)) from None


def unusable(path: str, exc: sqlite3.Error) -> ConfigError:
    """The one line for an SQLite error met while opening and migrating ``path``."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in _NOT_A_DATABASE:
        return ConfigError(
            f"THREADBOT_DB={path} is not a SQLite database or is damaged ({exc}): set "
            "THREADBOT_DB to another file, or move this one away and restore a backup."
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return _read_only(path, str(exc))
    return ConfigError(
        f"THREADBOT_DB={path} cannot be used ({exc}): check the file and the disk, or set "
        "THREADBOT_DB to another file."
    )


def _read_only(path: str, why: str) -> ConfigError:
    return ConfigError(
        f"THREADBOT_DB={path} is read-only ({why}): let this user write the file and its "
        "folder (SQLite adds files next to it), or set THREADBOT_DB to another path."
    )
