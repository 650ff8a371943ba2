"""Startup benchmark: how long `threadbot --help` and a piped two-turn console chat take as
whole processes, and their peak memory.

    .venv/bin/python bench/startup_bench.py [--runs 15]

The chat talks to the fake OpenAI server (a child process on loopback) with the default
model (gpt-4.1-mini: the o200k encoding). Each figure is the operating system's own
accounting of one finished child (``os.wait4``): wall time and peak RSS; median and range
over the runs after one warm-up (which also fills the parsed-encoding cache, as a bot's first
start does). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fake_llm import fake_openai  # noqa: E402

THREADBOT = [sys.executable, "-m", "bot.cli"]
CHAT = "My name is Alice\nWhat is my name?\n"


def run_once(args: list[str], env: dict[str, str], stdin: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(stdin.encode())
    child.stdin.close()
    out = child.stdout.read()  # a few lines: no pipe can fill up
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, with this child's own usage
    wall = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, out
    return wall, usage.ru_maxrss / 1024, out.decode()


def measure(label: str, args: list[str], env: dict[str, str], stdin: str, runs: int,
            check: str) -> None:
    run_once(args, env, stdin)  # warm-up
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak, out = run_once(args, env, stdin)
        assert check in out, out
        walls.append(wall)
        peaks.append(peak)
    print(f"| {label} | {statistics.median(walls):.2f} | {min(walls):.2f}–{max(walls):.2f} "
          f"| {max(peaks):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with fake_openai() as base_url, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("THREADBOT_", "OPENAI_"))}
        env.update(PYTHONPATH=str(ROOT), OPENAI_BASE_URL=base_url, OPENAI_API_KEY="bench",
                   THREADBOT_DB=str(Path(tmp) / "bench.db"))
        print("| command | wall median (s) | wall min–max (s) | peak RSS (MB) |")
        print("|---|---:|---:|---:|")
        measure("`threadbot --help`", [*THREADBOT, "--help"], env, "", args.runs, "usage")
        measure("two-turn piped console chat (gpt-4.1-mini)",
                [*THREADBOT, "console", "--thread", "bench"], env, CHAT, args.runs,
                "Your name is Alice.")


if __name__ == "__main__":
    main()
