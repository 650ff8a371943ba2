"""A THREADBOT_DB that cannot serve as the store: one line saying what to do, status 2, no hang.

Each case runs the real `threadbot` process; its deadline (tests/process.py) turns a hang —
aiosqlite's worker thread kept alive by a half-opened connection — into a failure.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import ConfigError
from storage import open_store
from tests.process import threadbot

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _as_plain_user() -> Callable[[], None] | None:
    """For a child of root: drop the capabilities that let root write read-only files.

    Dropped from the bounding set before exec, they are gone from the new program; as a
    non-root user permissions already apply (None: nothing to do)."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                os._exit(97)  # cannot drop them here: the test skips

    return drop


def _read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)


def _sqlite_file(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    return path


def a_text_file(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("these are my notes, not a database\n")
    return path


def a_corrupt_sqlite_file(tmp: Path) -> Path:
    path = _sqlite_file(tmp / "broken.db")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\x5a" * (4096 - 100)  # the schema page, after the valid header
    path.write_bytes(bytes(data))
    return path


def a_read_only_file(tmp: Path) -> Path:
    path = _sqlite_file(tmp / "bot.db")
    _read_only(path)
    return path


def a_file_in_a_read_only_folder(tmp: Path) -> Path:
    folder = tmp / "locked"
    folder.mkdir()
    _read_only(folder)
    return folder / "bot.db"


def an_existing_file_in_a_read_only_folder(tmp: Path) -> Path:
    folder = tmp / "locked"
    folder.mkdir()
    path = _sqlite_file(folder / "bot.db")
    _read_only(folder)  # SQLite's WAL needs to create bot.db-wal next to it
    return path


def a_folder(tmp: Path) -> Path:
    path = tmp / "data"
    path.mkdir()
    return path


def a_path_under_a_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("x")
    return tmp / "plain" / "sub" / "bot.db"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (a_text_file, "not a SQLite database"),
        (a_corrupt_sqlite_file, "not a SQLite database"),
        (a_read_only_file, "read-only"),
        (a_file_in_a_read_only_folder, "read-only"),
        (an_existing_file_in_a_read_only_folder, "read-only"),
        (a_folder, "is a directory"),
        (a_path_under_a_file, "cannot create"),
    ],
)
@pytest.mark.parametrize("command", ["stats", "console"])
async def test_an_unusable_database_is_one_line_and_exit_status_2(
    tmp_path: Path, make: Callable[[Path], Path], says: str, command: str
) -> None:
    path = make(tmp_path)
    env = {
        "THREADBOT_DB": str(path),
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never called: the store opens first
    }
    code, out, err = await threadbot(
        command, cwd=tmp_path, env=env, stdin="hello\n", preexec_fn=_as_plain_user(),
        deadline=30,
    )
    if code == 97:
        pytest.skip("cannot drop root's permission override here")
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("threadbot: THREADBOT_DB") and str(path) in err and says in err, err


async def test_a_failed_open_leaves_no_database_thread_behind(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    for make in (a_text_file, a_corrupt_sqlite_file):
        with pytest.raises(ConfigError, match="THREADBOT_DB"):
            await open_store(make(tmp_path))
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    for thread in left:  # a closed connection's worker ends right after its last answer
        thread.join(timeout=5)
    assert not [t for t in left if t.is_alive()]


async def test_a_good_database_still_opens_after_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "new" / "bot.db"
    store = await open_store(path)  # the folder is created, the file too
    await store.close()
    assert path.is_file()
    store = await open_store(path)
    assert await store.stats() == []
    await store.close()
