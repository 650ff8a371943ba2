"""A PostgreSQL server for the tests, and fresh empty databases on it.

``shared()`` is the one server of this test process: none under THREADBOT_TEST_POSTGRES=off
(to skip these tests where PostgreSQL is installed), the one at THREADBOT_TEST_POSTGRES_URL
if set (a URL to an existing database of a user who may CREATE DATABASE), else a throwaway
cluster started from the local PostgreSQL binaries (/usr/lib/postgresql/*/bin, or initdb on
the PATH) in a temporary folder, on a unix socket there and a free 127.0.0.1 port — as the
``postgres`` user when we are root, since PostgreSQL refuses to run as root. It raises
``Unavailable`` when neither exists; the session fixture in tests/conftest.py turns that into
a skip, or into a failure when THREADBOT_TEST_POSTGRES=required (CI, see .ci/run).

``await fresh_database_url()`` gives each test (or each multi-process run) a database of its
own, so tests never see each other's rows. The throwaway cluster runs without fsync: nothing
here survives the session anyway, and a test must not wait on the disk.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "THREADBOT_TEST_POSTGRES_URL"
ENV_REQUIRED = "THREADBOT_TEST_POSTGRES"
HOW_TO_ENABLE = (
    "to run them, install PostgreSQL's server (Debian: apt-get install postgresql) or set "
    f"{ENV_URL}=postgresql://user:password@host/postgres"
)
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=300"
)


class Unavailable(Exception):
    """No PostgreSQL server for the tests: the message says why."""


def skipped_line(why: str) -> str:
    """The one line a run without PostgreSQL shows."""
    return f"PostgreSQL tests skipped ({why}): {HOW_TO_ENABLE}"


def required() -> bool:
    """CI asks for the PostgreSQL tests: a missing server is a failure, not a skip."""
    return os.environ.get(ENV_REQUIRED, "").strip().lower() == "required"


def _turned_off() -> bool:
    return os.environ.get(ENV_REQUIRED, "").strip().lower() == "off"


@dataclass
class _Cluster:
    """A throwaway cluster: its folder, its binaries and who runs them."""

    folder: Path
    bin: Path
    as_postgres: bool

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=60, check=False
        )

    def start(self, password: str) -> int:
        """Initialise and start the cluster: its port. Connections over TCP need the
        password (as on a real server, so a wrong one can be tested); the socket trusts."""
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(password + "\n")
        if self.as_postgres:
            shutil.chown(pwfile, user="postgres")
        done = self.run(str(self.bin / "initdb"), "-D", str(data), "--auth-local=trust",
                        "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-U", "postgres",
                        "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        if done.returncode:
            raise Unavailable(f"initdb failed: {_tail(done.stderr)}")
        for _ in range(3):  # a free port can be taken before the server binds it
            port = _free_port()
            done = self.run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-t", "30",
                            "-l", str(self.folder / "log"), "-o",
                            f"-p {port} -k {self.folder} {_SERVER_OPTIONS}", "start")
            if done.returncode == 0:
                return port
        raise Unavailable(f"the server did not start: {_tail(self._log())}")

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                 "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _log(self) -> str:
        try:
            return (self.folder / "log").read_text()
        except OSError:
            return ""


@dataclass
class PostgresServer:
    """A server the tests may create databases on."""

    admin_url: str  # an existing database, as a user who may CREATE DATABASE
    cluster: _Cluster | None = None
    created: list[str] = field(default_factory=list)

    async def fresh_database(self) -> str:
        """The URL of a new, empty database with a name no other test uses."""
        import asyncpg

        name = f"threadbot_test_{os.getpid()}_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.created.append(name)
        return _with_database(self.admin_url, name)

    def close(self) -> None:
        """Stop the throwaway cluster (with everything in it), or drop the databases made
        on the given server."""
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        elif self.created:
            asyncio.run(self._drop_created())
        self.created.clear()

    async def _drop_created(self) -> None:
        import asyncpg

        admin = await asyncpg.connect(self.admin_url)
        try:
            for name in self.created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


_shared: PostgresServer | None = None


def shared() -> PostgresServer:
    """This process's server, started on first use (raises Unavailable) and stopped at exit
    (or earlier by ``stop_shared``)."""
    global _shared
    if _turned_off():
        raise Unavailable(f"{ENV_REQUIRED}=off")
    if _shared is None:
        _shared = _given() or _throwaway()
        atexit.register(stop_shared)
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.close()
        _shared = None


async def fresh_database_url() -> str:
    """A URL to a fresh empty database on this process's server (raises Unavailable)."""
    return await shared().fresh_database()


def _given() -> PostgresServer | None:
    url = os.environ.get(ENV_URL, "").strip()
    return PostgresServer(url) if url else None


def _throwaway() -> PostgresServer:
    binaries = _binaries()
    if binaries is None:
        raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    as_postgres = os.geteuid() == 0
    if as_postgres and shutil.which("runuser") is None:
        raise Unavailable("running as root without runuser: cannot start PostgreSQL")
    folder = Path(tempfile.mkdtemp(prefix="threadbot-pg-"))
    if as_postgres:
        try:
            shutil.chown(folder, user="postgres")
        except (LookupError, OSError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise Unavailable(f"cannot hand a folder to the postgres user: {exc}") from None
    cluster = _Cluster(folder, binaries, as_postgres)
    password = secrets.token_hex(8)
    try:
        port = cluster.start(password)
    except BaseException:
        cluster.stop()
        raise
    return PostgresServer(f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres", cluster)


def _binaries() -> Path | None:
    """The newest installed server's bin folder (Debian's layout first, then the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _major_version(initdb: str) -> int:
    name = Path(initdb).parent.parent.name  # /usr/lib/postgresql/15/bin/initdb → 15
    return int(name) if name.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _tail(text: str) -> str:
    return " | ".join(text.strip().splitlines()[-3:])
