"""The conversation stores: the only package that contains SQL.

``open_store(url)`` picks the backend from ``THREADBOT_DB``; each backend implements the
core's ``bot.ports.Store`` and passes the same contract suite (``tests/contract/``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ConfigError
from bot.ports import Store
from bot.types import Purge, Purged, ThreadKey, Usage

SQLITE_SCHEME = "sqlite://"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SECRET_PARAM = re.compile(r"(?i)(^|&)(password|sslpassword)=[^&]*")


async def open_store(url: str | Path) -> Store:
    """The store ``url`` names: a file path or ``sqlite:///path`` (see ``sqlite_path``), or
    ``postgresql://…`` / ``postgres://…`` (asyncpg is imported only then)."""
    text = str(url).strip()
    if not text:
        raise ConfigError("THREADBOT_DB is empty: set it to a file path such as ./threadbot.db.")
    if "://" not in text or text.startswith(SQLITE_SCHEME):
        from storage.sqlite import SqliteStore

        return await SqliteStore.open(sqlite_path(text))
    if text.startswith(POSTGRES_SCHEMES):
        from storage.postgres import PostgresStore

        return await PostgresStore.open(text)
    scheme = text.split("://", 1)[0]
    raise ConfigError(
        f"THREADBOT_DB uses an unknown scheme '{scheme}://': use a file path, sqlite:///path "
        "or postgresql://user:password@host:5432/database."
    )


def redacted(url: str | Path) -> str:
    """``url`` as it may be shown or logged: a password in it (``user:secret@`` or
    ``?password=``) becomes ``***``."""
    text = str(url)
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed [ in the host: show nothing that could be secret
        return text.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        who, _, where = netloc.rpartition("@")
        netloc = f"{who.split(':', 1)[0]}{':***' if ':' in who else ''}@{where}"
    query = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return text  # nothing secret: as written (urlunsplit would drop an empty "//")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def sqlite_path(url: str) -> str:
    """The file a SQLite ``THREADBOT_DB`` names.

    A plain path is itself. URLs follow SQLAlchemy: ``sqlite:///rel/bot.db`` is relative to
    the working directory and ``sqlite:////abs/bot.db`` absolute; ``sqlite:///:memory:`` is
    a private in-memory database. Because ``file:///tmp/x`` habits write absolute paths with
    three slashes too, ``sqlite:///tmp/bot.db`` means ``/tmp/bot.db`` when ``./tmp`` does not
    exist but ``/tmp`` does (the first folder decides).
    """
    if not url.startswith(SQLITE_SCHEME):
        return url
    rest = url[len(SQLITE_SCHEME) :].split("?", 1)[0]
    if rest in ("", "/"):
        raise ConfigError("THREADBOT_DB=sqlite:// needs a path, e.g. sqlite:///threadbot.db.")
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///x → x; sqlite://x → x
    if path == ":memory:" or path.startswith("/"):
        return path
    first = Path(path).parts[0]
    if len(Path(path).parts) > 1 and not Path(first).exists() and Path("/", first).is_dir():
        return "/" + path
    return path


def stored_usage(row: Sequence[Any]) -> Usage | None:
    """A reply's usage from its (input, output, cached input, reasoning) columns, both
    backends: None when no provider reported any (input is NULL); a NULL cached or reasoning
    count — a reply stored before the column existed — reads as 0, like a provider that gave
    no details."""
    if row[0] is None:
        return None
    return Usage(row[0], row[1] or 0, row[2] or 0, row[3] or 0)


def usage_columns(usage: Usage | None) -> tuple[int | None, int | None, int | None, int | None]:
    """The (input, output, cached input, reasoning) columns ``stored_usage`` reads back: all
    NULL when no provider reported any."""
    if usage is None:
        return (None, None, None, None)
    return (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens,
            usage.reasoning_tokens)


def purged(matched: Sequence[Any]) -> Purged:
    """A purge's counts, both backends, from its match rows — one per thread and epoch:
    (thread id, epoch, messages shown, live lease?, lowest running total, *thread key)."""
    threads: set[int] = set()
    skipped: dict[int, ThreadKey] = {}
    messages = skipped_messages = 0
    for row in matched:
        threads.add(row[0])
        if row[3]:
            skipped[row[0]] = ThreadKey(*row[5:9])
            skipped_messages += row[2]
        else:
            messages += row[2]
    return Purged(messages=messages, threads=len(threads) - len(skipped),
                  skipped=tuple(skipped.values()), skipped_messages=skipped_messages)


def purge_named(what: Purge) -> None:
    """A purge must name a time, a thread or a user: never everything by accident."""
    if what.key is None and what.older_than is None and what.author_id is None:
        raise ValueError("a purge names a time, a thread or a user")
