"""`threadbot doctor`: is this installation ready? One line per check, ✓ or ✗.

Configuration (the environment, the `.env` files, threadbot.toml), the database (opened as a
start would open it), the provider (one tiny real call: a 16-token answer to "ping"), then
each platform through its adapter's own checks (``Platform.doctor``: the SDKs stay in
``adapters/``). A platform without credentials is "not configured", which is no failure. The
exit status is 1 when any line is ✗, so a deploy script can gate on it. No secret is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from adapters.registry import PLATFORMS
from bot import config
from bot.config import Settings, load_settings
from bot.errors import ConfigError, ProviderError
from bot.platform import Check, Platform, Status, failed, passed
from bot.types import ChatMessage, Completion, Request

MARKS = {Status.OK: "✓", Status.FAILED: "✗", Status.SKIPPED: "–"}
ASCII_MARKS = {Status.OK: "ok", Status.FAILED: "XX", Status.SKIPPED: "--"}
PROBE_TOKENS = 16  # the Responses API's smallest max_output_tokens


async def doctor(db: str | None, out: TextIO = sys.stdout) -> int:
    """Run every check, print its line as soon as it is known; 1 if any failed."""
    marks = MARKS if _speaks_utf8(out) else ASCII_MARKS
    results: list[Check] = []

    def show(checks: Sequence[Check]) -> None:
        for check in checks:
            print(f"{marks[check.status]} {check.name}: {check.detail}", file=out, flush=True)
        results.extend(checks)

    settings = _configuration(db, show)
    if settings is not None:
        show([await _database(settings), await _provider(settings)])
    for platform in PLATFORMS.values():
        show(await _platform(platform))
    return 1 if any(c.status is Status.FAILED for c in results) else 0


def _speaks_utf8(out: TextIO) -> bool:
    try:
        "✓✗–".encode(out.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _configuration(db: str | None,
                   show: Callable[[Sequence[Check]], None]) -> Settings | None:
    from bot.admin.config import load_admin

    files = ", ".join(str(p) for p in config.ENV_FILES if p.is_file()) or "none"
    try:
        settings = load_settings(**({"db": db} if db else {}))
        admin = load_admin()
    except ConfigError as exc:
        show([failed("configuration", " ".join(str(exc).split("\n")))])
        return None
    toml = admin.path or "none"
    show([passed("configuration", f"settings valid (.env files: {files}; threadbot.toml: "
                 f"{toml})")])
    return settings


async def _database(settings: Settings) -> Check:
    from storage.doctor import check_store

    try:
        return passed("database", await check_store(settings.db))
    except ConfigError as exc:
        return failed("database", str(exc))


async def _provider(settings: Settings) -> Check:
    """One real call through the provider `run` would use, so that whatever would fail the
    first answer (URL, key, model name) fails here, with the server named."""
    from bot.providers.factory import ANTHROPIC_URL, OPENAI_URL, make_provider

    anthropic = settings.provider == "anthropic"
    url = (settings.anthropic_base_url or ANTHROPIC_URL) if anthropic \
        else (settings.openai_base_url or OPENAI_URL)
    where = f"{settings.provider} at {url}, model {settings.model_name}"
    try:
        provider = make_provider(settings)
    except ConfigError as exc:
        return failed("provider", str(exc))
    request = Request(model=settings.model_name, system="", max_output_tokens=PROBE_TOKENS,
                      messages=(ChatMessage("user", "ping"),))
    try:
        async for item in provider.stream(request):
            if isinstance(item, Completion):
                return passed("provider", f"{where}: answered")
    except ProviderError as exc:
        return failed("provider", f"{where}: {exc.kind} ({exc.detail or 'no detail'})")
    finally:
        await provider.aclose()
    return failed("provider", f"{where}: the answer never completed")


async def _platform(platform: Platform[Any]) -> Sequence[Check]:
    name = platform.name.capitalize()
    try:
        settings = platform.load_settings()
    except ConfigError as exc:
        return [failed(name, str(exc))]
    if not platform.enabled(settings):
        return [Check(name, Status.SKIPPED, f"not configured (set {platform.how_to_enable})")]
    return await platform.doctor(settings)
