"""`threadbot usage`, `config show` and `reload` as an admin runs them: the real command
against the store the bot wrote, figures equal to what the fake provider reported."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.process import threadbot


def env_for(fake: Any, db: Path, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake.base_url,
            "THREADBOT_MODEL": "gpt-4.1-mini", "THREADBOT_DB": str(db),
            "THREADBOT_PROVIDER_RETRIES": "0", **extra}


async def run(tmp_path: Path, env: dict[str, str], *args: str, stdin: str = "") -> str:
    code, out, err = await threadbot(*args, cwd=tmp_path, env=env, stdin=stdin)
    assert code == 0, err
    return out


async def test_usage_figures_are_the_sums_the_provider_reported(
    fake_openai: Any, tmp_path: Path
) -> None:
    env = env_for(fake_openai, tmp_path / "bot.db")
    fake_openai.cached_tokens = 3
    await run(tmp_path, env, "console", "--thread", "a", stdin="hello there\nhow are you\n")
    await run(tmp_path, env, "console", "--thread", "b", stdin="one more question\n")
    replies = []
    for thread in ("a", "b"):
        exported = json.loads(await run(tmp_path, env, "export", "--thread", thread, "--format", "json"))
        replies += [m for m in exported["messages"] if m["role"] == "assistant"]
    kinds = ("input_tokens", "cached_input_tokens", "output_tokens")
    reported = {k: sum(r[k] for r in replies) for k in kinds}

    by_model = json.loads(await run(tmp_path, env, "usage", "--by", "model", "--format", "json"))
    (row,) = by_model["rows"]
    assert row["model"] == "gpt-4.1-mini" and row["calls"] == 3
    assert {k: row[k] for k in reported} == reported
    expected = ((reported["input_tokens"] - 3 * 3) * 0.40 + 3 * 3 * 0.10
                + reported["output_tokens"] * 1.60) / 1e6
    assert abs(row["cost"] - expected) < 1e-9

    by_user = list(csv.DictReader(io.StringIO(
        await run(tmp_path, env, "usage", "--by", "user", "--format", "csv", "--since", "1d"))))
    assert sum(int(r["input_tokens"]) for r in by_user) == reported["input_tokens"]
    table = await run(tmp_path, env, "usage", "--by", "day")
    total = next(line for line in table.splitlines() if line.startswith("total"))
    assert f"{reported['input_tokens'] + reported['output_tokens']:,}" in total.split()


async def test_reasoning_tokens_are_in_the_ledger_usage_and_stats(
    fake_openai: Any, tmp_path: Path
) -> None:
    env = env_for(fake_openai, tmp_path / "bot.db", THREADBOT_MODEL="o4-mini",
                  THREADBOT_REASONING="low")
    fake_openai.reasoning_tokens = 9
    await run(tmp_path, env, "console", "--thread", "a", stdin="hello there\nhow are you\n")

    by_model = json.loads(await run(tmp_path, env, "usage", "--by", "model", "--format", "json"))
    (row,) = by_model["rows"]
    assert row["calls"] == 2 and row["reasoning_tokens"] == 18
    assert row["output_tokens"] > row["reasoning_tokens"]  # a part of the output
    (line,) = csv.DictReader(io.StringIO(
        await run(tmp_path, env, "usage", "--by", "user", "--format", "csv")))
    assert line["reasoning_tokens"] == "18"
    table = (await run(tmp_path, env, "usage", "--by", "day")).splitlines()
    head = table[1].replace("cached in", "cached").split()
    total = table[-1].split()
    assert total[head.index("reasoning")] == "18"
    header, stats = (await run(tmp_path, env, "stats")).splitlines()[:2]
    assert stats.split()[header.split().index("reasoning")] == "18"


async def test_usage_rejects_a_bad_since_in_one_line(fake_openai: Any, tmp_path: Path) -> None:
    code, _, err = await threadbot("usage", "--since", "last tuesday", cwd=tmp_path,
                                   env=env_for(fake_openai, tmp_path / "bot.db"))
    assert code == 2 and err.strip().count("\n") == 0 and "--since" in err


async def test_config_show_says_where_each_value_came_from(fake_openai: Any, tmp_path: Path) -> None:
    (tmp_path / "threadbot.toml").write_text(
        '[defaults]\nuser_daily_tokens = 5000\n[channels.C1]\nmodel = "gpt-4.1"\n')
    env = env_for(fake_openai, tmp_path / "bot.db", THREADBOT_DENIED_USERS="U6")
    out = await run(tmp_path, env, "config", "show", "--where", "slack:T1:C1:1.0")
    lines = {line.split(" = ")[0].strip(): line for line in out.splitlines() if " = " in line}
    assert '"gpt-4.1"' in lines["model"] and '[channels."C1"]' in lines["model"]
    assert "5000" in lines["user_daily_tokens"] and "[defaults]" in lines["user_daily_tokens"]
    assert "THREADBOT_DENIED_USERS" in lines["denied_users"]
    default = await run(tmp_path, env, "config", "show")
    assert "# channels with their own settings: C1" in default.splitlines()
    assert '"gpt-4.1-mini"' in next(line for line in default.splitlines() if line.startswith("model "))


async def test_a_broken_file_stops_the_bot_and_reload_in_one_line_per_mistake(
    fake_openai: Any, tmp_path: Path
) -> None:
    (tmp_path / "threadbot.toml").write_text('[defaults]\nmodle = "x"\nuser_daily_tokens = -1\n')
    env = env_for(fake_openai, tmp_path / "bot.db")
    for args in (("console",), ("reload",), ("config", "show")):
        code, out, err = await threadbot(*args, cwd=tmp_path, env=env, stdin="hi\n")
        assert code == 2 and "Traceback" not in err
        assert sorted(err.strip().splitlines()) == [
            "threadbot: threadbot.toml: defaults.modle: unknown key",
            "threadbot: threadbot.toml: defaults.user_daily_tokens: Input should be greater "
            "than or equal to 0",
        ]
    assert not fake_openai.requests
