"""The layout's rules, checked on the code itself: the core owns its ports and never imports
the adapters or the store (only the composition root does); SDKs stay in their rooms; and
nothing heavy is imported before it is used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {
    "bot/app.py", "bot/cli.py", "bot/cli_admin.py", "bot/cli_data.py", "bot/cli_env.py", "bot/doctor.py",
}
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "discord", "aiohttp")
PROVIDER_SDKS = ("openai", "anthropic", "httpx2")
SQL = ("aiosqlite", "sqlite3", "asyncpg")


def imports(package: str) -> dict[str, set[str]]:
    """Top-level names each module of ``package`` imports (at any depth in the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...], *, allowed: set[str] | None = None,
              allowed_under: str = "") -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in imports(package).items()
        if module not in (allowed or set()) and not (allowed_under and module.startswith(allowed_under))
        for name in names
        if name.split(".")[0] in forbidden
    ]


def test_the_core_never_imports_adapters_or_storage_outside_the_composition_root() -> None:
    assert offenders("bot", ("adapters", "storage"), allowed=COMPOSITION_ROOT) == []


def test_sdks_and_sql_stay_in_their_own_packages() -> None:
    assert offenders("bot", PLATFORM_SDKS + SQL) == []
    assert offenders("bot", PROVIDER_SDKS, allowed_under="bot/providers/") == []
    assert offenders("storage", PLATFORM_SDKS + PROVIDER_SDKS) == []
    assert offenders("adapters", PROVIDER_SDKS + SQL) == []


def test_prometheus_client_is_imported_by_one_module() -> None:
    everywhere = [*offenders("bot", ("prometheus_client",)),
                  *offenders("adapters", ("prometheus_client",)),
                  *offenders("storage", ("prometheus_client",))]
    assert {line.split()[0] for line in everywhere} == {"bot/metrics_prometheus.py"}


def test_adapters_and_storage_do_not_import_each_other() -> None:
    assert offenders("adapters", ("storage",)) == []
    assert offenders("storage", ("adapters",)) == []


def loaded_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return set(out.stdout.split())


def test_the_engine_loads_without_adapters_storage_or_sdks() -> None:
    loaded = loaded_after("import bot.engine, bot.history, bot.ports")
    assert not loaded & {"adapters", "storage", *PLATFORM_SDKS, *PROVIDER_SDKS, *SQL}


def test_the_cli_and_the_platform_registry_load_no_sdk() -> None:
    loaded = loaded_after("import bot.cli, adapters.registry")
    assert not loaded & {*PLATFORM_SDKS, *PROVIDER_SDKS, "tiktoken"}


@pytest.mark.parametrize(("provider", "unused"), [("openai", "anthropic"), ("anthropic", "openai")])
def test_only_the_configured_providers_sdk_is_imported(provider: str, unused: str) -> None:
    loaded = loaded_after(
        "from bot.config import Settings\n"
        "from bot.providers.factory import make_provider\n"
        f"make_provider(Settings(_env_file=None, provider='{provider}', "
        "openai_api_key='k', anthropic_api_key='k'))"
    )
    assert provider in loaded and unused not in loaded
