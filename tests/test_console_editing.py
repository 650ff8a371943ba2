"""Line editing and history in `threadbot console` on a terminal (a pty): arrows move in
the line, Up recalls earlier messages, the history outlives the session, and the terminal
is given back as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.process import llm_env
from tests.terminal import Terminal

LEFT, UP = "\x1b[D", "\x1b[A"


async def chat(tmp_path: Path, fake_openai: Any) -> Terminal:
    term = await Terminal.start("console", cwd=tmp_path, env=llm_env(fake_openai, tmp_path))
    await term.expect("you> ")
    return term


async def test_arrows_edit_the_line_and_recall_earlier_messages_across_sessions(
    tmp_path: Path, fake_openai: Any
) -> None:
    term = await chat(tmp_path, fake_openai)
    try:
        term.type("hello wrld" + LEFT * 3 + "o\r")
        await term.expect("bot> You said: hello world\n")
        await term.expect("you> ", count=2)
        term.type(UP + "\r")  # the same message again
        await term.expect("bot> You said: hello world\n", count=2)
        await term.expect("you> ", count=3)
        term.type("\x04")
        assert await term.exit_status() == 0
    finally:
        await term.close()
    history = Path(os.environ["XDG_STATE_HOME"]) / "threadbot" / "console_history"
    assert "hello world" in history.read_text()

    term = await chat(tmp_path, fake_openai)  # a new session remembers
    try:
        term.type(UP + "!\r")
        await term.expect("bot> You said: hello world!\n")
    finally:
        await term.close()
    assert fake_openai.requests[-1].json["messages"][-1]["content"] == "hello world!"


async def test_the_terminal_is_given_back_as_it_was_after_ctrl_c(
    tmp_path: Path, fake_openai: Any
) -> None:
    term = await chat(tmp_path, fake_openai)
    try:
        term.type("hel")  # readline holds the terminal while it reads
        await term.expect("hel")
        assert not term.cooked
        term.interrupt()
        assert await term.exit_status() == 130
        assert term.cooked
    finally:
        await term.close()
