"""The `threadbot` command as a user runs it: a real process, a pipe, the fake OpenAI server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.process import llm_env, threadbot


async def test_console_through_a_pipe_answers_each_line_and_remembers_across_runs(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = llm_env(fake_openai, tmp_path)
    code, out, err = await threadbot(
        "console", "--thread", "demo", cwd=tmp_path, env=env,
        stdin="My name is Alice\nWhat is my name?\n",
    )
    assert code == 0, err
    assert out.splitlines() == ["bot> You said: My name is Alice", "bot> Your name is Alice."]

    # A new process on the same database continues the conversation.
    code, out, _ = await threadbot(
        "console", "--thread", "demo", cwd=tmp_path, env=env, stdin="What is my name?\n"
    )
    assert code == 0 and out.strip() == "bot> Your name is Alice."
    # Another thread name is another conversation.
    code, out, _ = await threadbot(
        "console", "--thread", "other", cwd=tmp_path, env=env, stdin="What is my name?\n"
    )
    assert out.strip() == "bot> I don't know your name."


async def test_console_commands(tmp_path: Path, fake_openai: Any) -> None:
    env = llm_env(fake_openai, tmp_path)
    code, out, err = await threadbot(
        "console", "--thread", "t", cwd=tmp_path, env=env,
        stdin="My name is Alice\n/help\n/reset\nWhat is my name?\n/bogus\n/exit\nnot read\n",
    )
    assert code == 0, err
    assert "reset" in out and "summarize" in out  # help lists the commands
    assert "bot> I don't know your name." in out  # reset worked
    assert "Unknown command /bogus" in out
    assert "not read" not in out


async def test_export_and_stats_show_the_stored_conversation(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = llm_env(fake_openai, tmp_path)
    await threadbot("console", "--thread", "demo", cwd=tmp_path, env=env, stdin="hello there\n")
    code, out, err = await threadbot(
        "export", "--thread", "demo", "--format", "json", cwd=tmp_path, env=env
    )
    assert code == 0, err
    exported = json.loads(out)
    assert exported["thread"] == "console:::demo"
    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", "hello there"),
        ("assistant", "You said: hello there"),
    ]
    code, out, _ = await threadbot("export", "--thread", "console:::demo", cwd=tmp_path, env=env)
    assert code == 0 and "hello there" in out and "**Assistant**" in out

    code, out, _ = await threadbot("stats", cwd=tmp_path, env=env)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("console"))
    assert row.split()[:3] == ["console", "1", "2"]
    assert "console:::demo" in out


async def test_missing_configuration_is_one_clear_line(tmp_path: Path) -> None:
    env = {"THREADBOT_DB": str(tmp_path / "bot.db")}
    code, out, err = await threadbot("run", cwd=tmp_path, env=env)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "OPENAI_API_KEY" in err and "OPENAI_BASE_URL" in err

    code, _, err = await threadbot(
        "console", cwd=tmp_path, env={**env, "THREADBOT_CONTEXT_TOKENS": "lots"}
    )
    assert code == 2 and err.count("\n") == 1 and "THREADBOT_CONTEXT_TOKENS" in err

    code, _, err = await threadbot("export", "--thread", "nope", cwd=tmp_path, env=env)
    assert code == 2 and err.count("\n") == 1 and "nope" in err


async def test_run_without_platforms_opens_the_console(tmp_path: Path, fake_openai: Any) -> None:
    code, out, err = await threadbot(
        "run", cwd=tmp_path, env=llm_env(fake_openai, tmp_path), stdin="hi\n"
    )
    assert code == 0, err
    assert "SLACK_BOT_TOKEN" in err and "DISCORD_BOT_TOKEN" in err
    assert out.strip() == "bot> You said: hi"


async def test_piped_lines_keep_their_leading_spaces(tmp_path: Path, fake_openai: Any) -> None:
    env = llm_env(fake_openai, tmp_path)
    code, out, err = await threadbot(
        "console", "--thread", "code", cwd=tmp_path, env=env,
        stdin="    indented line\n\tand a tab\n",
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2  # still one message per line
    code, out, err = await threadbot(
        "export", "--thread", "code", "--format", "json", cwd=tmp_path, env=env
    )
    users = [m["content"] for m in json.loads(out)["messages"] if m["role"] == "user"]
    assert users == ["    indented line", "\tand a tab"]
