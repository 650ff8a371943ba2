"""`threadbot` on a pseudo-terminal: what a person at a keyboard types and sees.

The child's stdin, stdout and stderr are the terminal, so its prompts, the echo of what is
typed and its log lines all land on one screen, in the order a person would see them.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import termios
from pathlib import Path

from tests.process import DEADLINE, child_env, command


class Terminal:
    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self._master = master
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._output = ""
        self._changed = asyncio.Event()
        self._closed = False
        asyncio.get_running_loop().add_reader(master, self._read)

    @classmethod
    async def start(cls, *args: str, cwd: Path, env: dict[str, str]) -> Terminal:
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command(*args), cwd=cwd, env=child_env(env),
                stdin=slave, stdout=slave, stderr=slave,
            )
        finally:
            os.close(slave)
        return cls(proc, master)

    @property
    def screen(self) -> str:
        """Everything shown so far, with the terminal's \\r\\n line ends as \\n."""
        return self._output.replace("\r\n", "\n")

    @property
    def cooked(self) -> bool:
        """The terminal echoes and edits lines itself (a shell's expectation) — not in the
        raw mode a line editor sets while it reads."""
        modes = termios.tcgetattr(self._master)[3]
        return bool(modes & termios.ECHO and modes & termios.ICANON)

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT, as the terminal sends it to the foreground program."""
        self.proc.send_signal(signal.SIGINT)

    async def expect(self, text: str, *, count: int = 1, deadline: float = DEADLINE) -> None:
        """Wait until ``text`` has been shown ``count`` times."""
        try:
            async with asyncio.timeout(deadline):
                while self.screen.count(text) < count:
                    if self._closed:
                        raise AssertionError(f"{text!r} never shown:\n{self.screen}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{text!r} not shown within {deadline} s:\n{self.screen}") from None

    async def exit_status(self, deadline: float = DEADLINE) -> int:
        """The child's exit status once it ended and its last output was read."""
        try:
            async with asyncio.timeout(deadline):
                code = await self.proc.wait()
                while not self._closed:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"still running after {deadline} s:\n{self.screen}") from None
        return code

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._stop_reading()
        os.close(self._master)

    def _read(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            data = b""
        if not data:
            self._stop_reading()
        self._output += self._decoder.decode(data)
        self._changed.set()

    def _stop_reading(self) -> None:
        if not self._closed:
            asyncio.get_running_loop().remove_reader(self._master)
            self._closed = True
            self._changed.set()
