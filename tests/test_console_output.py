"""What the console shows besides the words: Markdown rendered on a terminal (and plain
through a pipe), colours off with NO_COLOR, and log lines kept out of the chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.process import llm_env, threadbot
from tests.terminal import Terminal

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;|4[0-7]|48;)[0-9;]*m")
MARKDOWN = "**bold** and `code`"


@pytest.fixture
async def terminal(tmp_path: Path, fake_openai: Any) -> AsyncIterator[Callable[..., Any]]:
    terminals: list[Terminal] = []

    async def start(**env: str) -> Terminal:
        term = await Terminal.start(
            "console", "--thread", "t", cwd=tmp_path,
            env={**llm_env(fake_openai, tmp_path), "TERM": "xterm-256color", **env},
        )
        terminals.append(term)
        await term.expect("you> ")
        return term

    yield start
    for term in terminals:
        await term.close()


async def test_a_markdown_reply_is_rendered_in_place_of_the_streamed_text(
    terminal: Callable[..., Any]
) -> None:
    term: Terminal = await terminal()
    term.type(MARKDOWN + "\n")
    await term.expect("you> ", count=2)
    streamed, _, rendered = term.screen.partition("\x1b[J")  # erased from the reply's start
    assert "bot> You said: **bold** and `code`" in streamed
    assert "bot> You said: bold and code\n" in ESCAPE.sub("", rendered)
    assert "\x1b[1mbold" in rendered and COLOUR.search(rendered), repr(rendered)

    term.type("plain words\n")  # nothing to render: left as streamed
    await term.expect("you> ", count=3)
    assert term.screen.count("\x1b[J") == 1
    assert "bot> You said: plain words\n" in term.screen


async def test_no_color_keeps_the_rendering_without_colours(terminal: Callable[..., Any]) -> None:
    term: Terminal = await terminal(NO_COLOR="1")
    term.type(MARKDOWN + "\n")
    await term.expect("you> ", count=2)
    rendered = term.screen.partition("\x1b[J")[2]
    assert "bot> You said: bold and code\n" in ESCAPE.sub("", rendered)
    assert not COLOUR.search(term.screen), repr(term.screen)


async def test_through_a_pipe_the_reply_is_the_models_text(tmp_path: Path, fake_openai: Any) -> None:
    env = {**llm_env(fake_openai, tmp_path), "TERM": "xterm-256color"}
    code, out, err = await threadbot("console", cwd=tmp_path, env=env, stdin=MARKDOWN + "\n")
    assert code == 0, err
    assert out == f"bot> You said: {MARKDOWN}\n"


async def test_info_logs_stay_out_of_the_chat_or_go_to_the_log_file(
    tmp_path: Path, fake_openai: Any
) -> None:
    # A refused message is logged at INFO (bot/engine.py); the user is told in the chat.
    env = {**llm_env(fake_openai, tmp_path), "THREADBOT_LOG_LEVEL": "INFO",
           "THREADBOT_ALLOWED_USERS": "someone-else"}
    code, out, err = await threadbot("console", cwd=tmp_path, env=env, stdin="hello\n")
    assert code == 0 and out.startswith("bot> ")
    assert "refused a message" not in err, err

    log = tmp_path / "threadbot.log"
    code, out, err = await threadbot("console", cwd=tmp_path, env={**env, "THREADBOT_LOG_FILE": str(log)},
                                     stdin="hello\n")
    assert code == 0 and err == ""
    assert "INFO bot.engine: refused a message" in log.read_text()

    code, _, err = await threadbot("console", cwd=tmp_path,
                                   env={**env, "THREADBOT_LOG_FILE": str(tmp_path)}, stdin="")
    assert code == 2 and err == f"threadbot: THREADBOT_LOG_FILE={tmp_path}: cannot write it " \
        "(Is a directory).\n"
