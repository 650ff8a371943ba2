"""`threadbot console` in a terminal (a pty) and in pipelines, against the fake OpenAI server:
Ctrl-C, Ctrl-D, pasted blocks, log lines, and a reader that goes away (`| head -1`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.console import console_key
from storage import open_store
from tests.process import child_env, command, llm_env, threadbot
from tests.terminal import Terminal

LONG = "My name is Ada and " + "this is a long story " * 8  # a reply of ~30 slow chunks


def user_texts(fake: Any) -> list[str]:
    """What the user said, as the model received it in the latest request."""
    return [m["content"] for m in fake.requests[-1].json["messages"] if m["role"] == "user"]


async def stored_texts(tmp_path: Path, thread: str = "t") -> list[str]:
    """What the user said, as stored (the model gets each message trimmed by the history)."""
    store = await open_store(tmp_path / "bot.db")
    try:
        rows = await store.history(console_key(thread))
    finally:
        await store.close()
    return [m.content for _, m in rows if m.role == "user"]


@pytest.fixture
async def console(tmp_path: Path, fake_openai: Any) -> AsyncIterator[Callable[[], Any]]:
    terminals: list[Terminal] = []

    async def start() -> Terminal:
        terminal = await Terminal.start(
            "console", "--thread", "t", cwd=tmp_path, env=llm_env(fake_openai, tmp_path)
        )
        terminals.append(terminal)
        await terminal.expect("you> ")
        return terminal

    yield start
    for terminal in terminals:
        await terminal.close()


async def test_ctrl_c_stops_the_reply_like_stop_and_the_conversation_goes_on(
    console: Callable[[], Any], fake_openai: Any
) -> None:
    fake_openai.delay = 0.1
    term: Terminal = await console()
    term.type(LONG + "\n")
    await term.expect("bot> You said: My name is Ada")
    term.interrupt()
    await term.expect("(stopped)")
    await term.expect("you> ", count=2)  # the prompt is back: the chat goes on

    fake_openai.delay = 0
    term.type("What is my name?\n")
    await term.expect("bot> Your name is Ada.")
    # The model saw the stopped reply after the question: it is answered, not asked again.
    sent = fake_openai.requests[-1].json["messages"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[2]["content"].startswith("You said: My name is Ada")
    assert len(sent[2]["content"]) < len("You said: " + LONG)

    await term.expect("you> ", count=3)
    term.interrupt()  # Ctrl-C at the prompt leaves
    assert await term.exit_status() == 130
    assert "Traceback" not in term.screen and term.screen.endswith("\n")


async def test_ctrl_d_leaves_the_shell_prompt_on_a_new_line(console: Callable[[], Any]) -> None:
    term: Terminal = await console()
    term.type("\x04")  # Ctrl-D at an empty prompt: end of input
    assert await term.exit_status() == 0
    assert term.screen.endswith("you> \n"), term.screen


async def test_a_pasted_block_is_one_message_with_its_indentation(
    console: Callable[[], Any], fake_openai: Any, tmp_path: Path
) -> None:
    term: Terminal = await console()
    term.type("def f():\n    return 1\n")  # a paste arrives in one burst
    await asyncio.sleep(0.5)
    term.type("\n")  # Enter sends it
    await term.expect("bot> You said: def f():")
    await term.expect("you> ", count=2)
    assert len(fake_openai.requests) == 1
    assert user_texts(fake_openai) == ["def f():\n    return 1"]

    # A block copied without its last newline: the Enter after it ends its last line.
    term.type("first line\n\n  second line\n  last line")
    await asyncio.sleep(0.5)
    term.type("\n")
    await term.expect("you> ", count=3)
    assert len(fake_openai.requests) == 2
    assert user_texts(fake_openai)[-1] == "first line\n\n  second line\n  last line"

    # Lines typed one by one (slower than any paste) stay separate messages.
    term.type("  one\n")
    await term.expect("you> ", count=4)
    term.type("two\n")
    await term.expect("you> ", count=5)
    assert len(fake_openai.requests) == 4
    assert (await stored_texts(tmp_path))[-2:] == ["  one", "two"]


async def test_log_lines_never_land_inside_a_streamed_reply(
    console: Callable[[], Any], fake_openai: Any
) -> None:
    fake_openai.delay = 0.05
    fake_openai.fail_stream_next(after_chars=20)  # logged as a warning mid-reply
    term: Terminal = await console()
    term.type("hello there, how are you today?\n")
    await term.expect("WARNING")
    await term.expect("you> ", count=2)
    lines = term.screen.splitlines()
    warning = next(line for line in lines if "WARNING" in line)
    assert re.match(r"\d{4}-\d\d-\d\d ", warning), term.screen  # starts its own line
    assert any(line.startswith("bot> You said: hello") for line in lines)


async def test_ctrl_c_in_a_pipe_stops_the_reply_and_ends(tmp_path: Path, fake_openai: Any) -> None:
    fake_openai.delay = 0.1
    env = child_env(llm_env(fake_openai, tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "console", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((LONG + "\nsecond question\n").encode())
    await proc.stdin.drain()
    first = await asyncio.wait_for(proc.stdout.read(20), 30)
    assert first.startswith(b"bot> ")
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130
    assert (first + out).decode().rstrip().endswith("(stopped)")
    assert b"Traceback" not in err
    assert len(fake_openai.requests) == 1  # the second line is not asked


async def test_a_reader_that_goes_away_ends_the_chat_quietly(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.delay = 0.02
    questions = "".join(f"question {n}\n" for n in range(20))
    script = f'{sys.executable} -m bot.cli console | head -1; echo "status=${{PIPESTATUS[0]}}" >&2'
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=tmp_path, env=child_env(llm_env(fake_openai, tmp_path)),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(questions.encode()), 60)
    assert out.decode() == "bot> You said: question 0\n"
    assert err.decode().strip() == "status=0", err.decode()
    # The reply being written when the pipe closed is the last request, at most.
    assert len(fake_openai.requests) <= 2


async def test_typing_into_a_chat_whose_output_reader_left_ends_it_quietly(
    tmp_path: Path, fake_openai: Any
) -> None:
    """`threadbot console | head -1` typed at a terminal: head takes the welcome line."""
    keyboard, terminal = os.openpty()
    out_read, out_write = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        *command("console"), cwd=tmp_path, env=child_env(llm_env(fake_openai, tmp_path)),
        stdin=terminal, stdout=out_write, stderr=asyncio.subprocess.PIPE,
    )
    os.close(terminal)
    os.close(out_write)
    try:
        with os.fdopen(out_read, "rb") as reader:
            first = await asyncio.to_thread(reader.readline)  # then the reader goes away
        assert first.startswith(b"threadbot console")
        os.write(keyboard, b"hello\n")
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0 and err == b"", err.decode()
        assert fake_openai.requests == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(keyboard)


THINKS = "First part. <think>wait, let me check that again</think>\n\nSecond part."


def rendered(screen: str) -> list[str]:
    """The lines as the terminal shows them: a backspace moves the cursor back, and what is
    written then replaces what was there."""
    lines: list[list[str]] = [[]]
    at = 0
    for char in screen:
        if char == "\n":
            lines.append([])
            at = 0
        elif char == "\r":
            at = 0
        elif char == "\b":
            at = max(0, at - 1)
        else:
            line = lines[-1]
            line[at:at + 1] = [char]
            at += 1
    return ["".join(line).rstrip() for line in lines]


async def test_a_terminal_shows_thinking_while_the_model_thinks(
    console: Callable[[], Any], fake_openai: Any, tmp_path: Path
) -> None:
    fake_openai.reply_with(THINKS)
    fake_openai.thinking = "I should answer in two parts."  # <think>…</think> first, too
    fake_openai.chunk_size, fake_openai.delay = 4, 0.03
    term: Terminal = await console()
    term.type("go\n")
    await term.expect("Second part.")
    await term.expect("you> ", count=2)
    raw = term.screen
    assert raw.index("bot> thinking…") < raw.index("First part.")  # before the text
    assert raw.index("First part.") < raw.index(" thinking…", raw.index("First part."))  # mid
    assert "bot> First part. Second part." in rendered(raw)  # erased: only the answer stays
    assert "two parts" not in raw and "check that again" not in raw
    # through a pipe only the reply: a script reads it
    code, out, _ = await threadbot("console", "--thread", "p", cwd=tmp_path,
                                   env=llm_env(fake_openai, tmp_path), stdin="go\n")
    assert code == 0 and out == "bot> First part. Second part.\n"
