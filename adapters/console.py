"""The console adapter: chat with the bot in a terminal, or through a pipe.

In a terminal:

- The line can be edited (arrows, Ctrl-A/E/W, Ctrl-R) and Up recalls earlier messages, kept
  across sessions (``adapters/console_editing.py``: readline).
- Lines are read on a daemon thread, so `/stop` and Ctrl-C work while a reply streams (and
  `/exit` never waits for a blocked read).
- A paste is one message (see ``adapters/console_input.py`` for the rule): indentation is
  kept, only the final newline goes.
- Ctrl-C stops the reply being written, exactly like `/stop`: the partial text stays, marked
  (stopped), and the prompt comes back. Ctrl-C with nothing to stop, or while a stop is
  still under way, leaves (status 130).
- Ctrl-D or `/exit` leaves after the reply in progress (status 0) and ends the line, so the
  shell's prompt starts on a line of its own.

On a terminal a reply that holds Markdown is shown rendered once it is complete
(``adapters/console_markdown.py``); through a pipe it stays the model's plain text.

Through a pipe: one message per line, in order (scripts depend on it), leading spaces
kept. Ctrl-C stops the reply and ends: a script has no prompt to come back to, and going on
with its next line would take one Ctrl-C per line.

Either way, when stdout goes away (`threadbot console | head -1`) the reply is stopped,
nothing more is read or asked and the console ends quietly (status 0). Log records go to
stderr from WARNING up only (THREADBOT_LOG_FILE takes every level), and never into the
middle of a console line: in a terminal both streams share the screen, so a record that
comes while a `bot>` line (or the prompt) is open waits for that line to end.
"""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from adapters.common.help import help_text
from adapters.console_editing import editor_for
from adapters.console_input import Input
from adapters.console_markdown import has_markdown, renderer_for
from adapters.console_screen import Screen, chat_first, logs_between_lines
from bot.engine import Engine
from bot.types import Command, CommandName, Ending, Origin, ThreadKey, Turn, Unfinished

PROMPT = "you> "
BOT = "bot> "
THINKING = "thinking…"  # shown in a terminal while a reasoning model thinks, then erased
INTERRUPTED = 130  # the shell's status for a program ended by Ctrl-C
GRACE = 2.0  # seconds a stopped reply gets to be stored when Ctrl-C leaves
HELP = help_text(
    "I answer here and remember the conversation (same --thread, same conversation).",
    lambda name: f"/{name}",
    footer="• /exit — quit (Ctrl-D works too); Ctrl-C stops a reply, at the prompt it quits\n"
    "• a pasted block of lines is one message: press Enter after pasting to send it",
)


# One person at their terminal: a direct conversation, in no server and no channel.
ORIGIN = Origin(direct=True)


def console_key(thread: str) -> ThreadKey:
    return ThreadKey("console", "", "", thread)


class ConsoleSink:
    """Writes the reply as it streams; ``finish`` only completes what was not streamed, or
    (on a terminal) puts the reply rendered as Markdown in place of the streamed text.
    On a terminal (``live``) it shows "thinking…" while a reasoning model thinks and erases
    it when the text goes on; a pipe gets only the reply (scripts read it)."""

    refs: tuple[str, ...] = ()  # a terminal line cannot be found again after a restart

    def __init__(self, out: Screen, *, live: bool = False) -> None:
        self._out = out
        self._streamed = ""
        self._entered = 0  # the user's Enters seen when the reply began to show
        self._live = live
        self._note = ""  # the thinking note on screen, to erase

    async def start(self) -> None:
        return None

    async def thinking(self) -> None:
        if self._live and not self._note:
            self._note = f" {THINKING}" if self._streamed else BOT + THINKING
            self._out.write(self._note)

    def _erase(self) -> None:
        """Backspace over the note, blank it and back again (the line's text stays)."""
        width, self._note = len(self._note), ""
        if width:
            self._out.write("\b" * width + " " * width + "\b" * width)

    async def append(self, delta: str) -> None:
        self._erase()
        if not self._streamed:
            self._entered = self._out.entered
        self._out.write(delta if self._streamed else BOT + delta)
        self._streamed += delta

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        self._erase()
        stopped = {Ending.STOPPED: " (stopped)", Ending.INTERRUPTED: " (interrupted)"}.get(ending, "")
        markdown = self._out.markdown if has_markdown(text) else None
        if markdown is not None and (not self._streamed or self._out.entered == self._entered):
            erase = markdown.erase(BOT + self._streamed) if self._streamed else ""
            self._out.write(erase + BOT + markdown.render(text) + stopped + "\n")
        elif not self._streamed:
            self._out.write(BOT + (text + stopped).strip() + "\n")
        else:  # what the final text adds to the streamed one (a usage footer)
            rest = text[len(self._streamed):] if text.startswith(self._streamed) else ""
            self._out.write(rest.rstrip() + stopped + "\n")

    async def fail(self, message: str) -> None:
        self._erase()
        self._out.write(("\n" if self._streamed else "") + f"{BOT}[{message}]\n")


async def run_console(
    engine: Engine, *, thread: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Chat until the input ends, /exit, Ctrl-C leaves or the reader of stdout goes away.
    Returns the exit status: 130 when Ctrl-C ended it, else 0."""
    console = _Console(engine, thread, stdin, stdout)
    try:
        with _on_ctrl_c(console.interrupt), logs_between_lines(console.screen), \
                chat_first(sys.stderr):
            return await console.run()
    finally:
        console.close()


class _Resumer:
    """The console shows only its own thread; a terminal line cannot be tidied up."""

    def __init__(self, key: ThreadKey, screen: Screen) -> None:
        self._key = key
        self._screen = screen

    async def tidy(self, key: ThreadKey, refs: Sequence[str], answer: str | None) -> None:
        return None

    def sink_for(self, work: Unfinished) -> ConsoleSink | None:
        return ConsoleSink(self._screen) if work.key == self._key else None


class _Console:
    def __init__(self, engine: Engine, thread: str, stdin: TextIO, stdout: TextIO) -> None:
        self._engine = engine
        self._thread = thread
        self._key = console_key(thread)
        self._stdin = stdin
        self._author = getpass.getuser() or "you"
        self._author_id = f"console:{self._author}"  # as admin lists name console users
        self.interactive = stdin.isatty()
        self._editor = editor_for(stdin, stdout) if self.interactive else None
        self._live = stdout.isatty()  # a terminal shows "thinking…" and erases it
        self.screen = Screen(stdout, on_gone=self._reader_gone, markdown=renderer_for(stdout))
        self._replies: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[int] | None = None
        self._input: Input | None = None
        self._status = 0
        self._stopping = False  # a Ctrl-C stop is under way
        self._ending = False  # nothing more is read
        self._hurry = asyncio.Event()  # Ctrl-C left: replies get GRACE s to store their stop
        self._chatting = False  # the main task is in _chat: cancelling it ends the chat
        self._in_command = False

    async def run(self) -> int:
        self._main = asyncio.current_task()
        assert self._main is not None
        self._input = Input(self._stdin, self.interactive, on_line=self.screen.user_line,
                            read=self._editor.readline if self._editor else None)
        self._chatting = True
        try:
            await self._chat(self._input)
        except asyncio.CancelledError:
            if not self._ending:  # cancelled from outside: the process is shutting down
                for task in self._replies:
                    task.cancel()
                raise
            self._main.uncancel()
        finally:
            self._chatting = False
        await self._settle_replies()
        if self.screen.open_line:  # Ctrl-D or Ctrl-C at the prompt
            self.screen.write("\n")
        return self._status

    async def _chat(self, lines: Input) -> None:
        if self.interactive:
            self.screen.write(
                f"threadbot console — thread '{self._thread}'. /help for commands, /exit to quit.\n"
            )
        await self._resume()
        self._prompt()
        while not self._ending and (text := await lines.message()) is not None:
            self.screen.check_reader()
            if self._ending:
                break
            if "\n" not in text and text.strip().startswith("/"):
                self._in_command = True
                try:
                    if not await _command(self._engine, text.strip(),
                                          ConsoleSink(self.screen, live=self._live),
                                          key=self._key, author_id=self._author_id):
                        break
                finally:
                    self._in_command = False
            elif text.strip():
                await self._answer(text)
                if self.interactive:  # keep reading, so /stop works while the reply streams
                    continue
            self._prompt()

    async def _resume(self) -> None:
        """Answer what this thread's last session left waiting (killed mid-reply)."""
        resumer = _Resumer(self._key, self.screen)
        answers = await self._engine.resume("console", resumer)
        if answers:
            await asyncio.gather(*answers)

    async def _answer(self, text: str) -> None:
        turn = Turn(
            key=self._key, message_id=uuid.uuid4().hex, author_id=self._author_id,
            author_name=self._author, text=text, origin=ORIGIN,
        )
        task = asyncio.create_task(
            self._engine.handle(turn, ConsoleSink(self.screen, live=self._live)))
        self._replies.add(task)
        task.add_done_callback(self._reply_done)
        if not self.interactive:
            await task  # a script's lines are answered one by one, in order

    def _reply_done(self, task: asyncio.Task[None]) -> None:
        self._replies.discard(task)
        if not self._replies:
            self._stopping = False
            self._prompt()

    def _prompt(self) -> None:
        ended = self._ending or (self._input is not None and self._input.ended)
        if not self.interactive or self._replies or ended or self.screen.gone:
            return
        if self._editor is None:
            self.screen.write(PROMPT)
        else:  # readline draws it, to redraw it as the line is edited
            self.screen.open_line = True
            self._editor.ask(PROMPT)

    def close(self) -> None:
        """Give the terminal back as it was, and keep the line history."""
        if self._editor is not None:
            self._editor.close()

    # --- ways out ---
    def interrupt(self) -> None:
        """Ctrl-C: stop the reply being written; with nothing (more) to stop, leave."""
        if self._replies and not self._stopping:
            self._stopping = True
            self._stop_replies()
            if not self.interactive:
                self._end(INTERRUPTED)
            return
        self._end(INTERRUPTED, now=True)

    def _reader_gone(self) -> None:
        self._stop_replies()
        self._end(0)

    def _stop_replies(self) -> None:
        """Stop the reply as /stop does. One still being set up has nothing to stop yet: it
        is stopped as soon as it can be."""
        if self._replies and not self._engine.stop(self._key):
            asyncio.get_running_loop().call_later(0.02, self._stop_replies)

    def _end(self, status: int, *, now: bool = False) -> None:
        """Read nothing more. ``now`` (Ctrl-C leaving) also stops waiting for what runs, as
        does any end during a command (a summary being written)."""
        self._status = self._status or status
        self._ending = True
        if now:
            self._hurry.set()
        if self._input is not None:
            self._input.end()
        if (now or self._in_command) and self._chatting and self._main is not None:
            self._chatting = False  # cancelled once
            self._main.cancel()

    async def _settle_replies(self) -> None:
        """Wait for the replies still running; once Ctrl-C asks to leave, give their stops
        GRACE seconds to be stored, then cancel them."""
        replies = list(self._replies)
        if not replies:
            return
        everything: asyncio.Future[Any] = asyncio.gather(*replies, return_exceptions=True)
        hurry: asyncio.Future[Any] = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait([everything, hurry], return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        if not everything.done():
            self._stop_replies()
            _, late = await asyncio.wait(replies, timeout=GRACE)
            for task in late:
                task.cancel()
        await everything


async def _command(engine: Engine, text: str, sink: ConsoleSink, *, key: ThreadKey,
                   author_id: str) -> bool:
    """Run a /command (``/model gpt-4.1``: the rest of the line is its argument) for
    ``author_id`` in ``key``'s conversation; False for /exit."""
    name, argument = (text[1:].split(maxsplit=1) + ["", ""])[:2]
    name = name.lower()
    if name in ("exit", "quit"):
        return False
    if name == CommandName.HELP:
        await sink.finish(HELP)
    elif name in {c.value for c in CommandName}:
        command = Command(key=key, name=CommandName(name), author_id=author_id,
                          argument=argument.strip(), origin=ORIGIN)
        await engine.command(command, sink)
    else:
        await sink.finish(f"Unknown command /{name}. Try /help.")
    return True


@contextmanager
def _on_ctrl_c(handler: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT to ``handler`` while the console runs, then give it back."""
    loop = asyncio.get_running_loop()
    before = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, before)
