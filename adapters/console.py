"""The console adapter: chat with the bot in a terminal, or through a pipe.

Interactive use reads lines on a daemon thread so `/stop` works while a reply streams (and
`/exit` never waits for a blocked read). Piped input is answered line by line, in order: a
script that pipes two questions gets two answers.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
import uuid
from typing import TextIO

from adapters.common.help import help_text
from bot.engine import Engine
from bot.types import Command, CommandName, Ending, ThreadKey, Turn

PROMPT = "you> "
BOT = "bot> "
HELP = help_text(
    "I answer here and remember the conversation (same --thread, same conversation).",
    lambda name: f"/{name}",
    footer="• /exit — quit (Ctrl-D works too)",
)


def console_key(thread: str) -> ThreadKey:
    return ThreadKey("console", "", "", thread)


class ConsoleSink:
    """Writes the reply as it streams; ``finish`` only completes what was not streamed."""

    refs: tuple[str, ...] = ()  # a terminal line cannot be found again after a restart

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._streamed = False

    async def start(self) -> None:
        return None

    async def append(self, delta: str) -> None:
        if not self._streamed:
            self._out.write(BOT)
            self._streamed = True
        self._out.write(delta)
        self._out.flush()

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        stopped = {Ending.STOPPED: " (stopped)", Ending.INTERRUPTED: " (interrupted)"}.get(ending, "")
        if not self._streamed:
            self._out.write(BOT + (text + stopped).strip())
        else:
            self._out.write(stopped)
        self._out.write("\n")
        self._out.flush()

    async def fail(self, message: str) -> None:
        self._out.write(("\n" if self._streamed else "") + f"{BOT}[{message}]\n")
        self._out.flush()


async def run_console(
    engine: Engine, *, thread: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    key = console_key(thread)
    interactive = stdin.isatty()
    author = getpass.getuser() or "you"
    lines = _read_lines(stdin)
    replies: set[asyncio.Task[None]] = set()

    def prompt(_: object = None) -> None:
        if interactive and not replies:
            stdout.write(PROMPT)
            stdout.flush()

    if interactive:
        stdout.write(f"threadbot console — thread '{thread}'. /help for commands, /exit to quit.\n")
    prompt()
    while (line := await lines.get()) is not None:
        text = line.strip()
        if text.startswith("/"):
            if not await _command(engine, key, text, stdout):
                break
        elif text:
            turn = Turn(
                key=key, message_id=uuid.uuid4().hex, author_id=f"console:{author}",
                author_name=author, text=text,
            )
            task = asyncio.create_task(engine.handle(turn, ConsoleSink(stdout)))
            if interactive:  # keep reading, so /stop works while the reply streams
                replies.add(task)
                task.add_done_callback(replies.discard)
                task.add_done_callback(prompt)
                continue
            await task  # a script's lines are answered one by one, in order
        prompt()
    if replies:
        await asyncio.gather(*replies)


async def _command(engine: Engine, key: ThreadKey, text: str, stdout: TextIO) -> bool:
    """Run a /command; False for /exit."""
    words = text[1:].split()
    name = words[0].lower() if words else ""
    if name in ("exit", "quit"):
        return False
    if name == CommandName.HELP:
        await ConsoleSink(stdout).finish(HELP)
    elif name in {c.value for c in CommandName}:
        await engine.command(Command(key=key, name=CommandName(name)), ConsoleSink(stdout))
    else:
        stdout.write(f"{BOT}Unknown command /{name}. Try /help.\n")
    return True


def _read_lines(stdin: TextIO) -> asyncio.Queue[str | None]:
    """Lines from ``stdin`` as they arrive; None at end of input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in iter(stdin.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:  # the loop closed (/exit) while we waited for input
            return

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    return queue
