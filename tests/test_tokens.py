"""Token counting works offline out of the box and degrades to an estimate, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.tokens import TokenCounter, encoding_name_for, estimate


def test_bundled_encodings_load_without_network_and_count_exactly() -> None:
    # The suite runs with no internet: these load from bot/tiktoken_cache, hash-checked.
    o200k = TokenCounter("gpt-4o")
    cl100k = TokenCounter("gpt-3.5-turbo")
    assert (o200k.encoding_name, o200k.estimated) == ("o200k_base", False)
    assert (cl100k.encoding_name, cl100k.estimated) == ("cl100k_base", False)
    assert cl100k.count("hello world") == 2
    assert o200k.count("hello world") == 2
    # User text may contain special-token strings; they are counted as text, not rejected.
    assert cl100k.count("<|endoftext|>") > 1


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("claude-sonnet-4-5", "cl100k_base"),
        ("llama3.1:8b", "cl100k_base"),
    ],
)
def test_encoding_is_chosen_by_model_family(model: str, encoding: str) -> None:
    assert encoding_name_for(model) == encoding


def test_missing_encoding_falls_back_to_a_logged_estimate(tmp_path: Path) -> None:
    # A fresh process with an empty cache and a proxy on a closed loopback port: tiktoken's
    # download fails at once, as on a server without internet (nothing leaves this machine).
    script = (
        "from bot.tokens import TokenCounter, estimate\n"
        "c = TokenCounter('gpt-4')\n"
        "text = 'hello world, how are you?'\n"
        "assert c.estimated and c.count(text) == estimate(text), c.count(text)\n"
        "assert c.truncate('word ' * 100, 10) == ('word ' * 100)[:40]\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "cl100k_base unavailable" in done.stderr and "estimates" in done.stderr


def test_estimate_does_not_undercount_non_latin_text() -> None:
    exact = TokenCounter("gpt-4")
    japanese = "今日はとても良い天気ですね。散歩に行きましょう。"
    assert estimate(japanese) >= exact.count(japanese)
    emoji = "🎉🔥👍 great job 🚀"
    assert estimate(emoji) >= exact.count(emoji)
    assert estimate("hello world") == 3


def test_truncate_keeps_a_prefix_within_the_limit() -> None:
    counter = TokenCounter("gpt-4o")
    text = "one two three four five six seven eight"
    cut = counter.truncate(text, 3)
    assert text.startswith(cut) and counter.count(cut) <= 3 and cut
    assert counter.truncate("short", 10) == "short"


def count_in_a_fresh_process(cache_home: Path) -> str:
    script = (
        "from bot.tokens import TokenCounter\n"
        "c = TokenCounter('gpt-4o')\n"
        "print(c.estimated, c.count('hello world'), c.count('Grüße aus Köln 🎉'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)}, cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_parsed_encoding_is_cached_and_a_damaged_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.encodings import parsed_cache_path

    first = count_in_a_fresh_process(tmp_path)
    assert first.startswith("False 2 ")  # exact counts, not estimates
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = parsed_cache_path("o200k_base")
    assert cached.is_relative_to(tmp_path) and cached.stat().st_size > 1_000_000
    assert count_in_a_fresh_process(tmp_path) == first  # read from the cache: same counts

    data = bytearray(cached.read_bytes())
    data[5_000:5_010] = b"0123456789"  # damaged on disk
    cached.write_bytes(bytes(data))
    assert count_in_a_fresh_process(tmp_path) == first  # rebuilt from the bundled file
    assert cached.read_bytes() != bytes(data)
