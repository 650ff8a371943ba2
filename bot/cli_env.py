"""Which `.env` files the settings come from, and which database: the CLI's global options.

``--env-file PATH`` names the one file to read. Without it two places are read: the working
directory's `.env`, then the `.env` next to the database file. The database's wins where both
set a variable: it sits with one bot's data (``/srv/teambot/threadbot.db`` beside
``/srv/teambot/.env``), so ``threadbot --db /srv/teambot/threadbot.db stats`` run from any
folder gets that bot's settings, while the working directory may be any project's, with
a `.env` meant for something else. The environment itself wins over every file, as always.

The database is ``--db``, else THREADBOT_DB from the environment or the working directory's
`.env`, else the default ``threadbot.db``; a PostgreSQL URL has no folder, so only the working
directory's `.env` is read then.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:  # pydantic and the store load after argument parsing (`--help` stays quick)
    from bot.config import Settings

DEFAULT_DB = "threadbot.db"


def choose_env_files(env_file: str | None, db: str | None) -> tuple[Path, ...]:
    """The `.env` files to read, lowest priority first (see the module docstring)."""
    if env_file is not None:
        path = Path(env_file).expanduser()
        if not path.is_file():
            gone = "not a file" if path.exists() else "no such file"
            raise ConfigError(f"--env-file {env_file}: {gone}.")
        return (_text(path),)
    here = Path(".env")
    if here.is_file():
        _text(here)
    folder = _database_folder(db or _db_setting(here))
    if folder is None or _same_file(folder / ".env", here):
        return (here,)
    return here, folder / ".env"


def use(env_file: str | None, db: str | None) -> tuple[Path, ...]:
    """Read settings from the files ``choose_env_files`` picks, from now on; the ones that
    exist are returned (for the startup line)."""
    from bot import config

    config.ENV_FILES = choose_env_files(env_file, db)
    return tuple(_text(path) for path in config.ENV_FILES if path.is_file())


def _text(path: Path) -> Path:
    """``path`` when it reads as UTF-8 (what python-dotenv and pydantic read it as);
    otherwise a ConfigError, not a UnicodeDecodeError's traceback from whichever reads it first."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}): save "
                          "it as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}).") from None
    return path


def _db_setting(here: Path) -> str:
    from dotenv import dotenv_values

    if os.environ.get("THREADBOT_DB"):
        return os.environ["THREADBOT_DB"]
    from_file = dotenv_values(here).get("THREADBOT_DB") if here.is_file() else None
    return from_file or DEFAULT_DB


def _database_folder(db: str) -> Path | None:
    from storage import sqlite_path

    text = db.strip()
    if "://" in text and not text.startswith("sqlite://"):
        return None  # PostgreSQL (or a scheme open_store refuses with its own message)
    try:
        path = sqlite_path(text)
    except ConfigError:
        return None  # open_store says what is wrong with it
    return None if path == ":memory:" else Path(path).expanduser().parent


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


class VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked (importlib.metadata
    costs `threadbot --help` time and memory)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"threadbot {version()}")
        parser.exit()


def version() -> str:
    """The installed distribution's version ("unknown" when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("threadbot")
    except PackageNotFoundError:
        return "unknown"


def startup_line(settings: Settings, platforms: list[str]) -> str:
    """What `threadbot run` is about to do, in one line for the log: no secret in it (the
    database and base URL are shown redacted, keys not at all)."""
    from bot import config
    from storage import redacted

    base_url = settings.anthropic_base_url if settings.provider == "anthropic" \
        else settings.openai_base_url
    where = f" at {redacted(base_url)}" if base_url else ""
    files = ", ".join(str(p) for p in config.ENV_FILES if p.is_file()) or "none"
    return (f"threadbot {version()}: provider {settings.provider}{where}, model "
            f"{settings.model_name}, history {settings.history}, database "
            f"{redacted(settings.db)}, platforms {', '.join(platforms) or 'none (console)'}, "
            f".env files {files}")


@contextmanager
def logged_before_anything_else(line: str) -> Iterator[None]:
    """Log ``line`` just before the first other record, or on the way out if there was none
    — unless a ConfigError ends the block. Platforms log nothing before their credentials are
    checked (their first line says they are connected), so a refused token stays the only
    line on stderr, as every configuration mistake is."""
    logger = logging.getLogger("threadbot")
    pending = [logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None)]
    if not logger.isEnabledFor(logging.INFO):
        pending.clear()
    handlers = list(logging.getLogger().handlers)

    def first(record: logging.LogRecord) -> bool:
        if pending and record is not pending[0]:
            held = pending.pop()
            for handler in handlers:
                if held.levelno >= handler.level:
                    handler.handle(held)
        return True

    for handler in handlers:
        handler.addFilter(first)
    try:
        yield
    except ConfigError:
        pending.clear()
        raise
    finally:
        for handler in handlers:
            handler.removeFilter(first)
        if pending:
            logger.handle(pending.pop())
