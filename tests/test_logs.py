"""Log lines as an operator's collector reads them: JSON per line with the turn's key, message
id, outcome and latency; plain text by default; secrets never written, in either format."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.engine import Engine
from bot.logs import JsonFormatter
from bot.types import ThreadKey, Turn
from tests.helpers import RecordingSink

ROOT = Path(__file__).resolve().parent.parent
KEY = ThreadKey("console", "", "", "logs")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the JSON format writes for the core's loggers, as the CLI sets it up."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter([]))
    logger = logging.getLogger()  # the root: the core's loggers and the turns' line
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # (not `.level =`: that keeps stale per-logger caches)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_turns_end_is_one_json_line_with_its_key_message_outcome_and_latency(
    engine: Engine, fake_openai: Any, json_lines: io.StringIO
) -> None:
    await engine.handle(Turn(key=KEY, message_id="m-1", author_id="U1", author_name="Ann",
                             text="hello"), RecordingSink())
    fake_openai.fail_next(503)
    await engine.handle(Turn(key=KEY, message_id="m-2", author_id="U1", author_name="Ann",
                             text="again"), RecordingSink())

    ends = [line for line in lines(json_lines) if "outcome" in line]
    assert [(e["message_id"], e["outcome"]) for e in ends] == [("m-1", "answered"), ("m-2", "failed")]
    first, failed = ends
    assert first["thread_key"] == str(KEY) and first["level"] == "INFO"
    assert first["logger"] == "threadbot.turns" and first["message"].startswith("reply in")
    assert isinstance(first["latency_ms"], int) and first["latency_ms"] >= 0
    assert first["time"].endswith("+00:00")
    assert failed["error_kind"] == "overloaded" and failed["thread_key"] == str(KEY)
    warning = next(line for line in lines(json_lines) if line["level"] == "WARNING")
    assert warning["message_id"] == "m-2"  # every line of the turn carries it


SECRETS = {
    "OPENAI_API_KEY": "sk-live-0123456789abcdef",
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefghij",
    "SLACK_SIGNING_SECRET": "0123456789signingsecret",
}
IN_DOTENV = "discord-token-from-dotenv-42"
LOGGING = """
import logging
from bot.cli import _configure_logging
from bot.config import load_settings

s = load_settings()
_configure_logging(s.log_level, s.log_format, s.log_file, secrets=s)
log = logging.getLogger("threadbot.test")
log.warning("calling with %s", {secrets!r})
try:
    raise RuntimeError("401 for https://api.example/v1?key=" + {key!r})
except RuntimeError:
    log.exception("the provider failed")
log.error("cannot reach postgresql://bot:hunter2-password@db:5432/threadbot")
logging.getLogger("threadbot.turns").info("reply in k: answered", extra={{"outcome": "answered"}})
"""


def run_logging(tmp_path: Path, **env: str) -> str:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={IN_DOTENV}\n")
    code = LOGGING.format(secrets=list(SECRETS.values()), key=SECRETS["OPENAI_API_KEY"])
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **SECRETS, **env},
    )
    return result.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_logs_in_either_format(tmp_path: Path, fmt: str) -> None:
    out = run_logging(tmp_path, THREADBOT_LOG_FORMAT=fmt)
    assert out.count("***") >= 4 and "the provider failed" in out and "RuntimeError" in out
    for secret in [*SECRETS.values(), "hunter2-password"]:
        assert secret not in out
    if fmt == "json":
        records = [json.loads(line) for line in out.splitlines()]
        assert [r["level"] for r in records] == ["WARNING", "ERROR", "ERROR", "INFO"]
        assert "Traceback" in records[1]["exception"]
        assert records[3]["outcome"] == "answered"  # a reply's end: for collectors
    else:
        assert "reply in" not in out  # a terminal's text stays as it was


def test_plain_text_is_the_default(tmp_path: Path) -> None:
    out = run_logging(tmp_path)
    first = out.splitlines()[0]
    assert " WARNING threadbot.test: calling with " in first and not first.startswith("{")


def test_a_dotenv_secret_is_redacted(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={IN_DOTENV}\n")
    code = ("import logging\nfrom bot.cli import _configure_logging\n"
            "from bot.config import load_settings\ns = load_settings()\n"
            "_configure_logging(s.log_level, s.log_format, s.log_file, secrets=s)\n"
            f"logging.getLogger('t').warning('token %s', {IN_DOTENV!r})\n")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
    )
    assert IN_DOTENV not in result.stderr and "token ***" in result.stderr
