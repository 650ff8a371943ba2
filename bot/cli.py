"""threadbot: an LLM in your Slack and Discord threads.

`threadbot run | console | doctor | export | stats | usage | config | reload | migrate-store`,
plus what each platform adds (e.g. `discord-invite`). With ``bot/app.py`` (and ``bot/cli_admin.py``),
the composition root: the only core modules that name the adapters and the store.

Configuration problems end in one line on stderr saying what to set (exit status 2), never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from adapters.registry import PLATFORMS
from bot import cli_admin, cli_data, cli_env
from bot.errors import ConfigError
from bot.platform import Platform, PlatformCommand
from bot.types import StoredMessage, ThreadKey

if TYPE_CHECKING:  # pydantic loads after argument parsing: `threadbot --help` stays instant
    from bot.config import Settings
    from bot.ports import Store

    Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]

# The collector's thresholds under `threadbot run` (Python's are 700, 10, 10): a young pass
# every 50,000 net allocations instead of 700, so full passes over everything alive (100-300
# ms each with 10,000 conversations waiting) come ~35 times less often, and a middle pass
# every 2 young ones keeps what it walks small (bench/scale_bench.py; docs/performance.md).
GC_THRESHOLDS = (50_000, 2, 25)

log = logging.getLogger("threadbot")

LLM_LOGGERS = ("httpx", "httpx2", "openai", "anthropic", "aiohttp")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from bot.config import load_settings

    try:
        cli_env.use(args.env_file, args.db)
        if args.command == "doctor":  # reports a bad setting as one of its lines
            return _doctor(args)
        settings = load_settings(**({"db": args.db} if args.db else {}))
        _configure_logging(settings.log_level, settings.log_format, settings.log_file,
                           secrets=settings)
        return asyncio.run(_commands()[args.command](settings, args))
    except ConfigError as exc:
        for line in str(exc).splitlines():  # a configuration file: one line per mistake
            print(f"threadbot: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadbot", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=cli_env.VersionAction)
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every configured platform (the console if none)")
    console = sub.add_parser("console", help="chat in the terminal")
    console.add_argument("--thread", default="default", help="conversation name (persisted)")
    export = sub.add_parser("export", help="print a thread's stored history")
    export.add_argument("--thread", required=True, help="thread key (see `stats`) or console name")
    export.add_argument("--format", choices=("json", "markdown"), default="markdown")
    sub.add_parser("stats", help="threads, messages and tokens per platform")
    sub.add_parser("doctor", help="check the settings, database, provider and platforms "
                   "(exit status 1 if anything is wrong)")
    migrate = sub.add_parser(
        "migrate-store", help="copy every conversation to another store (e.g. to PostgreSQL)",
        description="Copy every thread, message and handled command from one store to another "
        "(file path, sqlite:///path or postgresql://…). Threads the target has are skipped: "
        "running it again copies nothing twice.",
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="URL",
                         help="the store to copy from")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL",
                         help="the store to copy to (created and migrated if new)")
    cli_admin.add_parsers(sub)
    cli_data.add_parsers(sub)
    for platform in PLATFORMS.values():
        for command in platform.commands:
            sub.add_parser(command.name, help=command.help)
    for command_parser in sub.choices.values():
        _global_options(command_parser, argparse.SUPPRESS)
    return parser


def _global_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--env-file and --db, before the command or after it (``threadbot export --db x``):
    a command's own copy only sets them when given (``default`` SUPPRESS), and so does each
    of its subcommands'."""
    parser.add_argument("--env-file", metavar="PATH", default=default,
                        help="read settings from this file only (default: ./.env, then the "
                        ".env next to the database, which wins)")
    parser.add_argument("--db", metavar="URL|PATH", default=default,
                        help="the database (overrides THREADBOT_DB)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _global_options(nested, argparse.SUPPRESS)


def _commands() -> dict[str, Command]:
    commands: dict[str, Command] = {
        "run": _run, "console": _console, "export": _export, "stats": _stats,
        "migrate-store": _migrate_store, "usage": cli_admin.usage, "config": cli_admin.config,
        "reload": cli_admin.reload, "purge": cli_data.purge, "backup": cli_data.backup,
    }
    for platform in PLATFORMS.values():
        for command in platform.commands:
            commands[command.name] = _platform_command(platform, command)
    return commands


def _platform_command(platform: Platform[Any], command: PlatformCommand[Any]) -> Command:
    async def run(settings: Settings, args: argparse.Namespace) -> int:
        await command.run(platform.load_settings())
        return 0

    return run


def _doctor(args: argparse.Namespace) -> int:
    from bot.doctor import doctor

    _configure_logging("WARNING")
    return asyncio.run(doctor(args.db))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_engine
    from bot.stalls import watching_stalls

    configured = [(p, p.load_settings()) for p in PLATFORMS.values()]
    enabled = [(p, s) for p, s in configured if p.enabled(s)]
    line = cli_env.startup_line(settings, [p.name for p, _ in enabled])
    async with watching_stalls(settings.stall_warn_ms), open_engine(settings) as engine:
        if not enabled:
            log.info("%s", line)
            from adapters.console import run_console

            ways = "; ".join(f"{p.name}: set {p.how_to_enable}" for p in PLATFORMS.values())
            print(f"No chat platform configured ({ways}); starting the console chat.",
                  file=sys.stderr)
            return await run_console(engine, thread="default")
        from bot.serving import serve

        # What start-up loaded (SDKs, tokenizer, settings) lives as long as the process: out
        # of the collector's sight, full collections under load no longer walk it each time.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        with cli_env.logged_before_anything_else(line):
            await serve(engine, enabled, grace=settings.shutdown_grace)
    return 0


async def _console(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import run_console
    from bot.app import open_engine

    async with open_engine(settings) as engine:
        return await run_console(engine, thread=args.thread)


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from storage import open_store, redacted

    store = await open_store(settings.db)
    try:
        key, rows = await _find_thread(store, args.thread)
    finally:
        await store.close()
    if not rows:
        raise ConfigError(
            f"no stored thread {args.thread!r} in {redacted(settings.db)} (see `threadbot stats`)"
        )
    print(_json(key, rows) if args.format == "json" else _markdown(key, rows))
    return 0


async def _find_thread(
    store: Store, name: str
) -> tuple[ThreadKey, list[tuple[int, StoredMessage]]]:
    """The thread ``name`` names: a key as `stats` prints it, else a console thread's name
    (which may contain colons: ``team:alpha``). Empty rows if neither is stored."""
    from adapters.console import console_key

    keys = [console_key(name)]
    if ":" in name and not name.startswith(":"):
        keys.insert(0, ThreadKey.parse(name))
    for key in keys:
        rows = await store.history(key)
        if rows:
            return key, rows
    return keys[0], []


def _json(key: ThreadKey, rows: list[tuple[int, StoredMessage]]) -> str:
    out = [
        {
            "epoch": epoch, "role": m.role, "author_id": m.author_id,
            "author_name": m.author_name, "content": m.content, "tokens": m.tokens,
            "platform_message_id": m.platform_message_id, "response_id": m.response_id,
            "stopped": m.stopped, "created_at": m.created_at.isoformat(),
            **_usage_fields(m),
        }
        for epoch, m in rows
    ]
    return json.dumps({"thread": str(key), "messages": out}, ensure_ascii=False, indent=2)


def _markdown(key: ThreadKey, rows: list[tuple[int, StoredMessage]]) -> str:
    """Headings for the thread and each conversation, a bold line per message, and the
    message itself as a block quote: text that looks like this structure (``# Thread``,
    ``**Assistant**``) stays inside its quote and cannot pass for a new heading, while the
    message's own Markdown still renders."""
    parts = [f"# Thread {key}\n"]
    current = None
    for epoch, m in rows:
        if epoch != current:
            parts.append(f"## Conversation {epoch + 1}\n")
            current = epoch
        who = {"assistant": "Assistant", "summary": "Summary"}.get(m.role, m.author_name or "User")
        if m.covers is not None:
            who = f"Rolling summary ({m.covers.messages} messages summarised)"
        mark = " _(stopped)_" if m.stopped else ""
        # One line whatever the name holds: a newline in it could start a heading.
        parts.append(f"**{' '.join(who.split())}** ({m.created_at:%Y-%m-%d %H:%M}){mark}:\n")
        parts.append(_quoted(m.content) + "\n")
        if m.model or m.usage:
            parts.append(f"Usage: {_usage_line(m)}\n")
    return "\n".join(parts)


def _usage_fields(m: StoredMessage) -> dict[str, Any]:
    """A reply's model and token counts for the JSON export, where the store knows them."""
    fields: dict[str, Any] = {"model": m.model} if m.model else {}
    if m.covers is not None:  # a rolling summary: what it stands for in the context
        fields |= {"covers_messages": m.covers.messages, "covers_tokens": m.covers.tokens}
    if m.usage:
        fields |= {"input_tokens": m.usage.input_tokens,
                   "cached_input_tokens": m.usage.cached_input_tokens,
                   "output_tokens": m.usage.output_tokens,
                   "reasoning_tokens": m.usage.reasoning_tokens}
    return fields


def _usage_line(m: StoredMessage) -> str:
    """``model · 1200 in (1000 cached) · 80 out (60 reasoning)``: what the reply cost, on its
    own line; the reasoning part only from a model that reported thinking."""
    parts = [" ".join(m.model.split())] if m.model else []  # one line whatever it holds
    if m.usage:
        thought = f" ({m.usage.reasoning_tokens} reasoning)" if m.usage.reasoning_tokens else ""
        parts += [f"{m.usage.input_tokens} in ({m.usage.cached_input_tokens} cached)",
                  f"{m.usage.output_tokens} out{thought}"]
    return " · ".join(parts)


def _quoted(text: str) -> str:
    # Every line Markdown sees (it also ends lines at a lone \r) starts with ">".
    return "\n".join(f"> {line}" if line else ">" for line in _LINE_BREAK.split(text))


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from storage import open_store

    store = await open_store(settings.db)
    try:
        per_platform = await store.stats()
        threads = await store.list_threads()
    finally:
        await store.close()
    print(f"{'platform':<10} {'threads':>8} {'messages':>9} {'tokens':>10} {'reasoning':>10} "
          f"{'cached in':>10}")
    for row in per_platform:
        print(f"{row.platform:<10} {row.threads:>8} {row.messages:>9} {row.tokens:>10} "
              f"{row.reasoning_tokens:>10} {row.cached_input_tokens:>10}")
    if threads:
        print("\nRecent threads (use with `threadbot export --thread KEY`):")
        for t in threads[:20]:
            last = t.updated_at[:16].replace("T", " ")
            print(f"  {t.key}  ({t.messages} messages, last {last})")
    return 0


async def _migrate_store(settings: Settings, args: argparse.Namespace) -> int:
    """Copy one store into another: a progress bar on a terminal, one summary line always."""
    from tqdm import tqdm

    from storage.copy import copy_store

    bar = tqdm(unit="thread", disable=not sys.stderr.isatty(), leave=False)

    def advanced() -> None:
        bar.update()

    try:
        report = await copy_store(
            args.source, args.target, started=lambda total: bar.reset(total=total),
            advanced=advanced,
        )
    finally:
        bar.close()
    print(report.summary())
    return 0


def _configure_logging(
    level: str, fmt: str = "text", log_file: str = "", *, secrets: Settings | None = None
) -> None:
    """Logging for the whole process; every secret in ``secrets`` (the settings) and in the
    environment's secret-named variables is redacted, whatever the format."""
    from bot import logs

    try:
        logs.configure(level, fmt, logs.secrets_of(secrets, logs.environment()), log_file)
    except OSError as exc:
        raise ConfigError(f"THREADBOT_LOG_FILE={log_file}: cannot write it ({exc.strerror}).") \
            from None
    # SDK request logs name URLs (and, at DEBUG, headers): keep them quiet unless asked.
    if level.upper() != "DEBUG":
        sdk_loggers = [name for p in PLATFORMS.values() for name in p.sdk_loggers]
        for noisy in (*LLM_LOGGERS, *sdk_loggers):
            logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
