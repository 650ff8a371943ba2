"""tiktoken encodings, loaded offline and fast.

Offline: tiktoken downloads its encoding files on first use, and many servers (and CI) have
no internet. The official cl100k and o200k files ship in ``bot/tiktoken_cache/`` under the
names tiktoken gives its cache entries, and are loaded through ``TIKTOKEN_CACHE_DIR`` so
tiktoken itself verifies each file against its built-in sha256.

Fast: parsing a file (200,000 base64 lines for o200k) takes ~0.25 s of a ~0.45 s load, at
every start. So the parsed encoding (tiktoken's own pickling state: name, pattern, ranks,
special tokens) is kept in the user's cache directory with ``marshal`` — data only, no code —
and a sha256 of it, and rebuilt from the bundled file when missing, stale or damaged. Only
the bundled files are cached this way: a ``TIKTOKEN_CACHE_DIR`` set by the admin is left to
tiktoken alone.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
import threading
from functools import cache
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

BUNDLED_CACHE = Path(__file__).parent / "tiktoken_cache"
# sha1 of tiktoken's download URL: the cache-entry names tiktoken looks for.
_BUNDLED_FILES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}
_load_lock = threading.Lock()


class Encoder(Protocol):
    name: str

    def encode_ordinary(self, text: str) -> list[int]: ...
    def decode(self, tokens: list[int]) -> str: ...


@cache
def load_encoding(encoding_name: str) -> Encoder | None:
    """The encoding, or None (logged once) when it cannot be had: no file, a hash mismatch,
    no network. Never raises."""
    try:
        import tiktoken

        with _load_lock:
            if os.environ.get("TIKTOKEN_CACHE_DIR") is not None or not _bundled(encoding_name):
                return tiktoken.get_encoding(encoding_name)
            encoding = _from_parsed(encoding_name)
            if encoding is not None:
                return encoding
            encoding = _from_bundle(encoding_name)
            _write_parsed(encoding_name, encoding)
            return encoding
    except Exception as exc:
        log.warning(
            "tiktoken encoding %s unavailable (%s); token counts are estimates "
            "(~4 ASCII chars or 1 other char per token)",
            encoding_name,
            type(exc).__name__,
        )
        return None


def _bundled(encoding_name: str) -> bool:
    name = _BUNDLED_FILES.get(encoding_name)
    return name is not None and (BUNDLED_CACHE / name).exists()


def _from_bundle(encoding_name: str) -> Encoder:
    import tiktoken

    # Scoped to this one load (under the lock): tiktoken reads the variable at call time.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(BUNDLED_CACHE)
    try:
        return tiktoken.get_encoding(encoding_name)
    finally:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)


def parsed_cache_path(encoding_name: str) -> Path:
    """Where the parsed encoding is kept: per encoding, tiktoken and Python version."""
    import tiktoken

    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    version = f"tiktoken{tiktoken.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return Path(home) / "threadbot" / f"{encoding_name}-{version}.marshal"


def _from_parsed(encoding_name: str) -> Encoder | None:
    """The encoding from the parsed cache, or None to rebuild it from the bundled file."""
    import tiktoken

    state = _read_parsed(encoding_name)
    if state is None:
        return None
    try:
        return tiktoken.Encoding(**state)
    except Exception as exc:  # a tiktoken upgrade that changed its state: rebuild
        log.info("rebuilding the %s cache (%s)", encoding_name, type(exc).__name__)
        return None


def _read_parsed(encoding_name: str) -> dict[str, Any] | None:
    try:
        data = parsed_cache_path(encoding_name).read_bytes()
    except OSError:
        return None
    digest, payload = data[:32], data[32:]
    if hashlib.sha256(payload).digest() != digest:
        log.info("rebuilding the damaged %s cache", encoding_name)
        return None
    try:
        state = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    fields = {"name", "pat_str", "mergeable_ranks", "special_tokens"}
    if not isinstance(state, dict) or set(state) != fields or state["name"] != encoding_name:
        return None
    return state


def _write_parsed(encoding_name: str, encoding: Encoder) -> None:
    """Best effort: a read-only home or a full disk only costs the next start its speed."""
    state = getattr(encoding, "__dict__", {})
    state = {
        "name": encoding.name,
        "pat_str": state.get("_pat_str"),
        "mergeable_ranks": state.get("_mergeable_ranks"),
        "special_tokens": state.get("_special_tokens"),
    }
    if None in state.values():
        return  # not the tiktoken this was written for: keep loading from the bundle
    path = parsed_cache_path(encoding_name)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        payload = marshal.dumps(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(partial, path)  # atomic: a reader sees the old file or the whole new one
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        log.debug("could not cache the parsed %s encoding: %s", encoding_name, exc)
