"""The `threadbot` command as a user runs it: a real child process, through pipes.

Every run has a deadline: a command that hangs fails its test (and is killed) instead of
hanging the suite.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0


def child_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment without the developer's settings, plus ``env``."""
    prefixes = ("OPENAI_", "ANTHROPIC_", "THREADBOT_", "SLACK_", "DISCORD_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    clean.update(env)
    clean["PYTHONPATH"] = str(ROOT)
    return clean


def llm_env(fake: Any, tmp_path: Path) -> dict[str, str]:
    """Settings for a child that talks to the fake OpenAI and keeps its database in tmp_path."""
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test-key",
        "THREADBOT_DB": str(tmp_path / "bot.db"),
        "THREADBOT_PROVIDER_RETRIES": "0",
    }


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


async def threadbot(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    stdin: str = "",
    preexec_fn: Callable[[], None] | None = None,
    deadline: float = DEADLINE,
) -> tuple[int, str, str]:
    """Run `threadbot ARGS` in a child process without blocking the fake server's loop."""
    proc = await asyncio.create_subprocess_exec(
        *command(*args), cwd=cwd, env=child_env(env), preexec_fn=preexec_fn,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), deadline)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`threadbot {' '.join(args)}` still ran after {deadline} s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
