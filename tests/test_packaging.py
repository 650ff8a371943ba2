"""What `pip install .` (not editable) puts on a machine: every module of the three
packages, so the installed `threadbot` command imports what the checkout does; the licence
travels with it, and the build says nothing is deprecated (setuptools turns deprecations
into hard errors on a published date)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.process import ROOT


def test_the_wheel_holds_every_module_and_the_licence_without_a_deprecation(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"  # a clean copy: no build/ left over from an earlier build
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for top in ("bot", "adapters", "storage"):
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    assert "deprecat" not in (built.stdout + built.stderr).lower(), built.stderr
    [wheel] = tmp_path.glob("threadbot-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(path.relative_to(ROOT))
        for top in ("bot", "adapters", "storage")
        for path in (ROOT / top).rglob("*.py")
    }
    assert sources - packed == set()
    licence = [name for name in packed if name.endswith(".dist-info/licenses/LICENSE")]
    assert licence, sorted(n for n in packed if "dist-info" in n)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in packed if n.endswith("METADATA")))
    assert b"License-Expression: MIT" in metadata
