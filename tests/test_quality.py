"""Static checks run with the suite, so the one test command also enforces them."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "bridge", "tests", "bench"],
        ["ruff", "format", "--check", "bridge", "tests", "bench"],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_checks_are_clean(command: list[str]) -> None:
    """ruff (lint and format) and mypy --strict report nothing."""
    result = subprocess.run(
        [_tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_simulator_does_not_import_bridge_adapters() -> None:
    """bridge.testing stands alone: it must not import the bridge's GitLab adapter or store."""
    offenders = []
    for path in (ROOT / "bridge" / "testing").glob("*.py"):
        text = path.read_text()
        if any(
            f"from bridge.{m}" in text or f"import bridge.{m}" in text
            for m in ("gitlab", "store", "sync")
        ):
            offenders.append(path.name)
    assert offenders == []


PURE = (
    "model", "changes", "retry", "routing", "diff", "events", "payloads", "payloads_members",
    "project_groups", "records", "outbox", "delivery_policy", "wire", "pagination",
)  # fmt: skip
ADAPTERS = ("gitlab", "sqlalchemy", "alembic", "requests", "yaml", "apscheduler", "bridge.store")


@pytest.mark.parametrize("module", PURE)
def test_functional_core_imports_no_adapter(module: str) -> None:
    """The pure core (STYLE.md) imports none of the adapters (python-gitlab, SQLAlchemy, ...)."""
    path = ROOT / "bridge" / f"{module}.py"
    if not path.exists():
        pytest.skip(f"bridge/{module}.py is not written yet")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    bad = sorted(
        name for name in imported if name.split(".")[0] in ADAPTERS or name.startswith(ADAPTERS)
    )
    assert bad == [], f"bridge/{module}.py imports {bad}"
