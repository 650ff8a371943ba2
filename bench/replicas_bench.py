"""Scale-out benchmark: turns/s with 1, 2 and 3 replicas (processes) on one database.

    .venv/bin/python bench/replicas_bench.py --db postgresql://… [--threads 1000]

Each replica is a child process running the real engine and store with a provider that
streams a canned reply (no model, no SDK): what the engine and the database sustain, the
part scale-out multiplies. The threads are split between the replicas; all start at one
moment, and turns/s is every turn over the wall time until the last replica is done. Each
round uses new threads. The machine's busy cores over the round (from /proc/stat: the
replicas and the database server together) give turns/s per busy core, the fair figure
where there are fewer cores than replicas plus the database. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr  # noqa: E402

from bench.engine_bench import QUESTION, CannedProvider, NullSink  # noqa: E402
from bot.app import open_engine  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.types import ThreadKey, Turn  # noqa: E402


async def worker(db: str, replica: int, replicas: int, threads: int, start_at: float) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, openai_api_key=SecretStr("bench"), db=db, model="gpt-4.1-mini",
    )
    async with open_engine(settings, provider=CannedProvider()) as engine:
        mine = range(replica, threads, replicas)

        async def one(i: int) -> None:
            turn = Turn(key=ThreadKey("bench", "", f"run-{start_at}", f"t{i}"), message_id="m",
                        author_id="u", author_name="U", text=QUESTION)
            await engine.handle(turn, NullSink())

        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(one(i) for i in mine))
        print(json.dumps({"turns": len(mine), "done": time.time()}), flush=True)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def round_of(db: str, replicas: int, threads: int) -> tuple[float, float]:
    """turns/s and the busy cores while the replicas ran."""
    start_at = time.time() + 3.0  # every replica has opened its store by then
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", str(r), "--replicas", str(replicas),
            "--threads", str(threads), "--db", db, "--start-at", repr(start_at),
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        )
        for r in range(replicas)
    ]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    busy0, total0 = cpu_ticks()
    results = []
    for proc in procs:
        out, _ = await proc.communicate()
        assert proc.returncode == 0, f"replica failed ({proc.returncode})"
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    busy1, total1 = cpu_ticks()
    cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    turns = int(sum(r["turns"] for r in results))
    return turns / (float(max(r["done"] for r in results)) - start_at), cores


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="")
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--replicas", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker >= 0:
        await worker(args.db, args.worker, args.replicas, args.threads, args.start_at)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "replicas.db")
        print(f"database: {db.split('@')[-1]}; {args.threads:,} concurrent threads, "
              f"{os.cpu_count()} CPU cores; best of {args.rounds} rounds\n")
        print("| replicas | turns/s | vs 1 replica | busy cores | turns/s per busy core |")
        print("|---:|---:|---:|---:|---:|")
        one = 0.0
        for replicas in (1, 2, 3):
            rate, cores = max([await round_of(db, replicas, args.threads)
                               for _ in range(args.rounds)])
            one = one or rate
            print(f"| {replicas} | {rate:,.0f} | {rate / one:.2f}x | {cores:.2f} | "
                  f"{rate / cores:,.0f} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
