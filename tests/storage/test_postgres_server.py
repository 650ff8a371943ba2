"""How the PostgreSQL tests behave without a server: a laptop without PostgreSQL runs
`make test` to the end, with one line saying how to enable them (never one per test)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.postgres_server import skipped_line
from tests.process import ROOT, child_env


async def test_without_a_server_the_tests_skip_with_one_line(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k",
        "wrong_scheme or servers_clock or four_replicas",
        str(ROOT / "tests" / "storage" / "test_postgres.py"), cwd=ROOT,
        env=child_env({"THREADBOT_TEST_POSTGRES": "off"}), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, out
    assert "1 passed, 2 skipped" in out, out
    lines = [line for line in out.splitlines() if "PostgreSQL tests skipped" in line]
    assert len(lines) == 1 and lines[0] == skipped_line("THREADBOT_TEST_POSTGRES=off"), out
