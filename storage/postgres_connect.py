"""Opening the PostgreSQL store's pool, and why it could not be opened, said in one line.

asyncpg's own errors name neither the setting nor the fix ("Connect call failed",
"database … does not exist"); each becomes one ``ConfigError`` that names THREADBOT_DB with
its password hidden, says what went wrong and what to do. The password never reaches a
message or a log line: every text taken from an exception is scrubbed of it too.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.errors import ConfigError
from storage import redacted
from storage.migrations.postgres import migrate

CONNECT_TIMEOUT_S = 10.0
POOL_SIZE = 10  # connections per process; a turn holds one for a single statement at a time


@dataclass(frozen=True)
class Target:
    """What a THREADBOT_DB URL points at, for messages (asyncpg does the real parsing)."""

    url: str
    shown: str  # the URL with its password hidden
    password: str
    user: str
    host: str
    port: str
    database: str


def target(url: str) -> Target:
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    try:
        port = str(parts.port or query.get("port") or 5432)
    except ValueError:
        port = "?"
    user = unquote(parts.username or query.get("user", "")) or "(your login name)"
    host = parts.hostname or unquote(query.get("host", "")) or "localhost"
    database = unquote(parts.path.lstrip("/")) or unquote(query.get("dbname", "")) or user
    password = unquote(parts.password or query.get("password", ""))
    return Target(url, redacted(url), password, user, host, port, database)


async def open_pool(url: str, *, size: int = POOL_SIZE) -> asyncpg.Pool:
    """A migrated pool on ``url``; ConfigError (one line, no password) if there is none."""
    where = target(url)
    pool: asyncpg.Pool = asyncpg.create_pool(
        url, min_size=1, max_size=size, timeout=CONNECT_TIMEOUT_S, reset=_keep,
    )
    try:
        await pool
        async with pool.acquire() as db:
            await migrate(db)
    except BaseException as exc:
        pool.terminate()
        problem = unusable(where, exc)
        if problem is None:
            raise
        raise problem from None
    return pool


async def _keep(db: asyncpg.Connection) -> None:
    """A released connection keeps its session: the store sets none (no LISTEN, no session
    locks held after migrating, no SET), and asyncpg's default reset would cost a round trip
    per statement. Open transactions are still rolled back by asyncpg itself."""


def unusable(where: Target, exc: BaseException) -> ConfigError | None:
    """The one line for an error met while connecting to and migrating ``where``; None for
    what is not about the configuration (a cancellation)."""
    for kinds, line in _LINES:
        if isinstance(exc, kinds):
            return ConfigError(f"THREADBOT_DB={where.shown}: {line(where, _said(exc, where))}")
    return None


def _said(exc: BaseException, where: Target) -> str:
    """What the exception says, on one line and without the password."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(where.password, "***") if where.password else text


def _unreachable(w: Target, why: str) -> str:
    if "SSL" in why:
        return (f"the server at {w.host}:{w.port} and the URL disagree on SSL ({why}): change "
                "sslmode in the URL, or the server's ssl setting.")
    return (f"cannot reach the PostgreSQL server at {w.host}:{w.port} ({why}): start it, or "
            "fix the host and port in the URL.")


def _unknown_host(w: Target, why: str) -> str:
    return f"the host {w.host!r} is unknown ({why}): fix the host in the URL."


def _rejected(w: Target, why: str) -> str:
    return (f"PostgreSQL at {w.host}:{w.port} refused user {w.user!r} ({why}): fix the user "
            "and password in the URL, or let this user log in (pg_hba.conf).")


def _missing(w: Target, why: str) -> str:
    return (f"the database {w.database!r} does not exist on {w.host}:{w.port}: create it "
            f"(createdb -h {w.host} -p {w.port} -U {w.user} {w.database}, or "
            f"CREATE DATABASE \"{w.database}\" OWNER \"{w.user}\"; in psql).")


def _no_rights(w: Target, why: str) -> str:
    return (f"user {w.user!r} may not create the bot's tables in {w.database!r} ({why}): make "
            f"it the database's owner (ALTER DATABASE \"{w.database}\" OWNER TO \"{w.user}\";).")


def _too_many(w: Target, why: str) -> str:
    return f"PostgreSQL at {w.host}:{w.port} accepts no more connections ({why}): try again."


def _bad_url(w: Target, why: str) -> str:
    return (f"this is not a PostgreSQL URL asyncpg understands ({why}): use "
            "postgresql://user:password@host:5432/database.")


def _other(w: Target, why: str) -> str:
    return f"PostgreSQL at {w.host}:{w.port} cannot be used ({why})."


_LINES: list[tuple[type[BaseException] | tuple[type[BaseException], ...],
                   Callable[[Target, str], str]]] = [
    (socket.gaierror, _unknown_host),
    ((OSError, TimeoutError, asyncio.TimeoutError, asyncpg.CannotConnectNowError,
      asyncpg.ConnectionFailureError), _unreachable),
    (asyncpg.InvalidAuthorizationSpecificationError, _rejected),
    (asyncpg.InvalidCatalogNameError, _missing),
    (asyncpg.InsufficientPrivilegeError, _no_rights),
    (asyncpg.TooManyConnectionsError, _too_many),
    (ValueError, _bad_url),  # asyncpg's ClientConfigurationError is one
    ((asyncpg.PostgresError, asyncpg.InterfaceError), _other),
]
