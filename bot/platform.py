"""What a chat platform is to the composition root: the port `threadbot run` drives.

Kept apart from ``bot.ports`` because a platform is handed the whole Engine, while the
engine itself only depends on the ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:  # the registry imports this to list platforms: it must stay light
    from bot.engine import Engine


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class PlatformCommand(Generic[S]):
    """An extra `threadbot` subcommand a platform offers (e.g. `discord-invite`)."""

    name: str
    help: str
    run: Callable[[S], Awaitable[None]]


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # not configured: nothing to check


@dataclass(frozen=True, slots=True)
class Check:
    """One line of `threadbot doctor`: what was checked, and what was found or what to fix
    (never a secret's value)."""

    name: str
    status: Status
    detail: str


def passed(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def failed(name: str, detail: str) -> Check:
    return Check(name, Status.FAILED, detail)


class Platform(Protocol[S]):
    """A chat platform `threadbot run` can serve: one package under ``adapters/`` and one
    line in ``adapters/registry.py``. Importing the package must stay cheap (no SDK import
    before ``run``), so `threadbot --help` and the console never pay for it."""

    name: str
    how_to_enable: str  # one line for an admin: which variables turn it on
    sdk_loggers: tuple[str, ...]  # the SDK's loggers, quiet unless THREADBOT_LOG_LEVEL=DEBUG
    commands: Sequence[PlatformCommand[S]]

    def load_settings(self) -> S:
        """Its settings from the environment and `.env`; ConfigError (one line) if wrong."""
        ...

    def enabled(self, settings: S) -> bool:
        """Whether the admin configured this platform (its token is set)."""
        ...

    async def run(self, engine: Engine, settings: S) -> None:
        """Serve the platform until cancelled; ConfigError for what the admin must fix."""
        ...

    async def doctor(self, settings: S) -> Sequence[Check]:
        """`threadbot doctor`'s lines for a configured platform: its credentials and set-up
        checked against the real service (read-only calls: nothing is posted)."""
        ...
