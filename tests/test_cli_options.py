"""`threadbot`'s global options as a user types them: --version, --env-file, --db, which
`.env` is read, and the one line `run` logs at start. Real child processes, fake OpenAI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.fakes.slack_server import FakeSlack
from tests.process import DEADLINE, child_env, command, llm_env, threadbot

UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there


def dotenv(path: Path, **values: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


async def test_version(tmp_path: Path) -> None:
    code, out, err = await threadbot("--version", cwd=tmp_path, env={})
    assert code == 0, err
    assert out.strip() == "threadbot 0.1.0"


async def test_env_file_is_the_one_file_read(tmp_path: Path, fake_openai: Any) -> None:
    dotenv(tmp_path / ".env", OPENAI_BASE_URL=UNREACHABLE, OPENAI_API_KEY="wrong")
    chosen = dotenv(tmp_path / "conf" / "bot.env", **llm_env(fake_openai, tmp_path))
    code, out, err = await threadbot("--env-file", str(chosen), "console", cwd=tmp_path, env={},
                                     stdin="hello\n")
    assert code == 0, err
    assert out.strip() == "bot> You said: hello"

    code, out, err = await threadbot("--env-file", "missing.env", "console", cwd=tmp_path, env={})
    assert code == 2 and out == ""
    assert err == "threadbot: --env-file missing.env: no such file.\n"


async def test_db_option_wins_over_the_setting(tmp_path: Path, fake_openai: Any) -> None:
    env = llm_env(fake_openai, tmp_path)  # THREADBOT_DB=bot.db
    code, _, err = await threadbot("--db", str(tmp_path / "other.db"), "console", "--thread", "x",
                                   cwd=tmp_path, env=env, stdin="hello\n")
    assert code == 0, err
    code, out, _ = await threadbot("--db", str(tmp_path / "other.db"), "stats", cwd=tmp_path,
                                   env=env)
    assert "console:::x" in out
    code, out, _ = await threadbot("stats", cwd=tmp_path, env=env)
    assert "console:::x" not in out


async def test_global_options_also_follow_the_command(tmp_path: Path, fake_openai: Any) -> None:
    env = llm_env(fake_openai, tmp_path)  # THREADBOT_DB=bot.db
    other = str(tmp_path / "other.db")
    code, _, err = await threadbot("console", "--thread", "x", "--db", other, cwd=tmp_path,
                                   env=env, stdin="hello\n")
    assert code == 0, err
    code, out, _ = await threadbot("stats", "--db", other, cwd=tmp_path, env=env)
    assert "console:::x" in out
    code, out, _ = await threadbot("export", "--thread", "x", "--format", "json", "--db", other,
                                   cwd=tmp_path, env=env)
    assert code == 0 and "You said: hello" in out
    code, out, _ = await threadbot("stats", cwd=tmp_path, env=env)
    assert "console:::x" not in out


async def test_the_env_beside_the_database_wins_over_the_working_directorys(
    tmp_path: Path, fake_openai: Any
) -> None:
    data = tmp_path / "data"
    dotenv(tmp_path / ".env", THREADBOT_DB="data/bot.db", OPENAI_BASE_URL=UNREACHABLE,
           OPENAI_API_KEY="test-key", THREADBOT_PROVIDER_RETRIES="0")
    dotenv(data / ".env", OPENAI_BASE_URL=fake_openai.base_url)
    code, out, err = await threadbot("console", cwd=tmp_path, env={}, stdin="hello\n")
    assert code == 0, err
    assert out.strip() == "bot> You said: hello"
    assert (data / "bot.db").exists()

    # From any other folder, --db finds that bot's settings beside its database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dotenv(data / ".env", OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test-key")
    code, out, err = await threadbot("--db", str(data / "bot.db"), "console", cwd=elsewhere,
                                     env={}, stdin="What did I say?\n")
    assert code == 0, err
    assert out.startswith("bot> "), out
    assert len(fake_openai.requests[-1].json["messages"]) == 4  # the same conversation


async def test_run_logs_one_startup_line_without_secrets(tmp_path: Path, fake_openai: Any) -> None:
    env = {**llm_env(fake_openai, tmp_path), "OPENAI_API_KEY": "sk-very-secret",
           "THREADBOT_HISTORY": "chain"}
    code, _, err = await threadbot("run", cwd=tmp_path, env=env)
    assert code == 0, err
    [line] = [line for line in err.splitlines() if "threadbot 0.1.0:" in line]
    assert f"provider openai at {fake_openai.base_url}" in line
    assert "model gpt-4.1-mini, history chain" in line
    assert f"database {tmp_path / 'bot.db'}" in line
    assert "platforms none (console)" in line
    assert "sk-very-secret" not in err


async def test_run_logs_the_startup_line_once_the_platforms_passed_their_checks(
    tmp_path: Path, fake_openai: Any
) -> None:
    """Before the platform's own first line (a refused token stays the only line: see
    tests/slack/test_slack_startup.py)."""
    async with FakeSlack() as slack:
        env = {**llm_env(fake_openai, tmp_path), "SLACK_BOT_TOKEN": slack.bot_token,
               "SLACK_APP_TOKEN": slack.app_token, "SLACK_API_URL": slack.base_url}
        proc = await asyncio.create_subprocess_exec(
            *command("run"), cwd=tmp_path, env=child_env(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        try:
            seen: list[str] = []
            async with asyncio.timeout(DEADLINE):
                while not any("Slack: connected" in line for line in seen):
                    seen.append((await proc.stderr.readline()).decode())
                    assert seen[-1], seen
        finally:
            proc.terminate()
            await proc.wait()
    mine = [n for n, line in enumerate(seen) if "threadbot 0.1.0:" in line]
    assert len(mine) == 1 and mine[0] < len(seen) - 1, seen
    assert "platforms slack" in seen[mine[0]]


async def test_an_env_file_that_is_not_utf8_text_or_not_a_file_is_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "latin1.env").write_bytes(b"THREADBOT_SYSTEM_PROMPT=caf\xe9\n")
    code, out, err = await threadbot("--env-file", "latin1.env", "stats", cwd=tmp_path, env={})
    assert code == 2 and out == ""
    assert err.startswith("threadbot: latin1.env is not UTF-8 text"), err
    code, _, err = await threadbot("--env-file", str(tmp_path), "stats", cwd=tmp_path, env={})
    assert code == 2 and err == f"threadbot: --env-file {tmp_path}: not a file.\n"

    (tmp_path / ".env").write_bytes(b"\xff\xfeO\x00P\x00")  # saved as UTF-16 by an editor
    code, out, err = await threadbot("stats", cwd=tmp_path, env={})
    assert code == 2 and err.startswith("threadbot: .env is not UTF-8 text"), err
