"""`threadbot purge` and `threadbot backup` as an operator runs them (the real process): a
purge counts first and deletes only with --yes; a backup taken while the store is open
restores to the same conversations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.types import Ending, NewMessage, ThreadKey, utcnow
from storage import open_store
from tests.process import threadbot

KEY = ThreadKey("slack", "T1", "C1", "100.1")
OLD = utcnow() - timedelta(days=120)


async def populate(db: Path) -> None:
    store = await open_store(db)
    try:
        thread = await store.ensure_thread(KEY, "replay")
        await store.add(thread, NewMessage(role="user", content="ancient", tokens=3,
                                           author_id="U1", platform_message_id="1", at=OLD))
        await store.add(thread, NewMessage(role="user", content="my PIN is 4321", tokens=5,
                                           author_id="U2", platform_message_id="2"))
        await store.add(thread, NewMessage(role="assistant", content="noted", tokens=2,
                                           ending=Ending.ANSWERED))
    finally:
        await store.close()


async def run(tmp_path: Path, *args: str, db: Path | str | None = None) -> tuple[int, str, str]:
    env = {"THREADBOT_DB": str(db or tmp_path / "bot.db")}
    return await threadbot(*args, cwd=tmp_path, env=env)


async def exported(tmp_path: Path, db: Path | None = None) -> str:
    code, out, err = await run(tmp_path, "export", "--thread", str(KEY), db=db)
    return out if code == 0 else err


async def test_purge_counts_first_and_deletes_only_with_yes(tmp_path: Path) -> None:
    await populate(tmp_path / "bot.db")

    code, out, _ = await run(tmp_path, "purge", "--older-than", "90d")
    assert code == 0
    assert out.splitlines() == ["Would delete 1 message(s) in 1 thread(s).",
                                "Nothing deleted: run again with --yes to delete."]
    assert "ancient" in await exported(tmp_path)

    code, out, _ = await run(tmp_path, "purge", "--older-than", "90d", "--yes")
    assert code == 0 and out.splitlines()[-1] == "Deleted 1 message(s) in 1 thread(s)."
    text = await exported(tmp_path)
    assert "ancient" not in text and "my PIN is 4321" in text


async def test_purge_a_users_messages_then_a_whole_thread(tmp_path: Path) -> None:
    await populate(tmp_path / "bot.db")
    code, out, _ = await run(tmp_path, "purge", "--user", "U2", "--thread", str(KEY), "--yes")
    assert code == 0 and "Deleted 1 message(s) in 1 thread(s)." in out
    text = await exported(tmp_path)
    assert "4321" not in text and "ancient" in text and "noted" in text

    code, out, _ = await run(tmp_path, "purge", "--thread", str(KEY), "--yes")
    assert code == 0 and "Deleted 2 message(s) in 1 thread(s)." in out
    assert "no stored thread" in await exported(tmp_path)


async def test_purge_says_what_it_needs(tmp_path: Path) -> None:
    await populate(tmp_path / "bot.db")
    code, _, err = await run(tmp_path, "purge")
    assert code == 2 and "--older-than AGE, --thread KEY and/or --user ID" in err
    code, _, err = await run(tmp_path, "purge", "--older-than", "soon")
    assert code == 2 and "--older-than 'soon': use 90d" in err
    code, _, err = await run(tmp_path, "purge", "--thread", "slack:T9:C9:1")
    assert code == 2 and "no stored thread 'slack:T9:C9:1'" in err


async def test_a_backup_of_an_open_store_restores_its_conversations(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    await populate(db)
    store = await open_store(db)  # the bot running: its last writes may still be in the WAL
    try:
        thread = await store.ensure_thread(KEY, "replay")
        await store.add(thread, NewMessage(role="user", content="just now", tokens=2,
                                           platform_message_id="3"))
        code, out, err = await run(tmp_path, "backup", str(tmp_path / "copy.db"))
        assert code == 0, err
        assert out.startswith(f"Backed up {db} to {tmp_path / 'copy.db'}")
        code, _, err = await run(tmp_path, "backup", str(tmp_path / "copy.db"))
        assert code == 1 and "exists" in err
    finally:
        await store.close()
    (tmp_path / "bot.db").unlink()
    restored = await exported(tmp_path, db=tmp_path / "copy.db")
    assert "ancient" in restored and "just now" in restored


async def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    code, out, err = await run(tmp_path, "backup", "x.dump",
                               db="postgresql://bot:s3cret@127.0.0.1:1/threadbot")
    assert code == 1 and out == ""
    assert "pg_dump --format=custom" in err and "s3cret" not in err


async def test_at_a_terminal_purge_asks_and_deletes_on_y(tmp_path: Path) -> None:
    from tests.terminal import Terminal

    await populate(tmp_path / "bot.db")
    env = {"THREADBOT_DB": str(tmp_path / "bot.db")}
    for answer, left in (("n", True), ("y", False)):
        terminal = await Terminal.start("purge", "--older-than", "90d", cwd=tmp_path, env=env)
        try:
            await terminal.expect("Would delete 1 message(s) in 1 thread(s).")
            await terminal.expect("Delete them? [y/N] ")
            terminal.type(f"{answer}\n")
            assert await terminal.exit_status() == 0
            assert ("Nothing deleted" in terminal.screen) is left
        finally:
            await terminal.close()
        assert ("ancient" in await exported(tmp_path)) is left


async def test_an_age_beyond_the_calendar_is_a_clear_message(tmp_path: Path) -> None:
    await populate(tmp_path / "bot.db")
    code, _, err = await run(tmp_path, "purge", "--older-than", "99999999d")
    assert code == 2 and "--older-than '99999999d': use 90d" in err
    assert "Traceback" not in err
    code, _, err = await run(tmp_path, "usage", "--since", "99999999d")
    assert code == 2 and "--since '99999999d': use 30d" in err
    assert "Traceback" not in err


async def test_backup_to_an_unwritable_place_or_of_a_damaged_file_is_one_line(
    tmp_path: Path,
) -> None:
    await populate(tmp_path / "bot.db")
    code, _, err = await run(tmp_path, "backup", "/proc/threadbot-backup.db")
    assert code == 1 and err.startswith("threadbot: cannot write the backup to /proc/"), err
    assert "Traceback" not in err
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database")
    code, _, err = await run(tmp_path, "backup", str(tmp_path / "copy.db"), db=damaged)
    assert code == 1 and "is not a SQLite database or is damaged" in err, err
    assert "Traceback" not in err and not (tmp_path / "copy.db").exists()
    assert not (tmp_path / ".copy.db.partial").exists()
