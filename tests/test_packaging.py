"""What `pip install .` (not editable) puts on a machine: every module of the three
packages, so the installed `threadbot` command imports what the checkout does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.process import ROOT


def test_the_wheel_holds_every_module(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a clean copy: no build/ left over from an earlier build
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for top in ("bot", "adapters", "storage"):
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    [wheel] = tmp_path.glob("threadbot-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(path.relative_to(ROOT))
        for top in ("bot", "adapters", "storage")
        for path in (ROOT / top).rglob("*.py")
    }
    assert sources - packed == set()
