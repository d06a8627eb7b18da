"""Static checks run with the suite, so the one test command also enforces them.

The layers live in the tree: each package's docstring names its modules under ``Pure:``,
``Adapters:``, ``Use cases:``, ``Shell:``, ``Features:``, ``Commands:`` or ``Test support:``.
These tests check that every module is named exactly once, that whatever is pure (a module, or
a whole package) imports no adapter and nothing impure of the bridge, and that the simulator
stands alone.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "bridge"
LABELS = ("Pure", "Adapters", "Use cases", "Shell", "Features", "Commands", "Test support")
# Libraries that talk to the world, and the standard library's clocks, logs and sockets.
ADAPTERS = frozenset(
    {
        "gitlab", "sqlalchemy", "alembic", "requests", "urllib3", "yaml", "apscheduler",
        "prometheus_client", "psycopg", "logging", "time", "socket", "http", "subprocess",
        "threading", "os", "signal", "fcntl",
    }
)  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "bridge", "tests", "bench", "docs/examples"],
        ["ruff", "format", "--check", "bridge", "tests", "bench", "docs/examples"],
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


def _entries(package: Path) -> set[str]:
    """The modules and subpackages of one package, by name."""
    modules = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    return modules | {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}


def _declared(package: Path) -> dict[str, str]:
    """Entry name -> layer, from the ``Label: a, b`` lines closing the package's docstring."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    found: dict[str, str] = {}
    last_paragraph = doc.strip().split("\n\n")[-1]
    text = re.sub(r",\n(?=\w)", ", ", last_paragraph)  # a long list may wrap
    for line in text.splitlines():
        label, _, names = line.partition(": ")
        if label in LABELS:
            for name in (n.strip() for n in names.split(",")):
                assert name not in found, f"{package}: {name} is declared twice"
                found[name] = label
    return found


@cache
def layers() -> dict[str, str]:
    """Dotted module name -> layer, for every module under bridge/."""
    out: dict[str, str] = {}

    def walk(package: Path, dotted: str, inherited: str | None) -> None:
        declared = _declared(package) if inherited is None else {}
        for name in sorted(_entries(package)):
            layer = inherited or declared.get(name)
            child = package / name
            if (child / "__init__.py").is_file():
                sub_declared = _declared(child)
                # A package declared Pure (or covered by its parent's label) is that layer whole.
                whole = layer if layer == "Pure" or not sub_declared else None
                out[f"{dotted}.{name}"] = layer or "undeclared"
                walk(child, f"{dotted}.{name}", whole)
            else:
                out[f"{dotted}.{name}"] = layer or "undeclared"

    walk(BRIDGE, "bridge", None)
    return out


def test_every_module_is_declared_in_its_package() -> None:
    """Each module and subpackage is named under one label of its package's docstring, and
    every name there exists: the layer map in the tree cannot drift."""
    undeclared = sorted(name for name, layer in layers().items() if layer == "undeclared")
    assert undeclared == []
    stale = []
    for init in BRIDGE.rglob("__init__.py"):
        entries = _entries(init.parent)
        stale += [f"{init.parent.name}: {n}" for n in _declared(init.parent) if n not in entries]
    assert stale == []


def _imports(path: Path) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            if node.module == "bridge":  # from bridge import __version__
                imported.update(f"bridge.{alias.name}" for alias in node.names)
    return imported


def _path(module: str) -> Path:
    relative = Path(*module.split("."))
    package = ROOT / relative / "__init__.py"
    return package if package.is_file() else ROOT / relative.with_suffix(".py")


PURE = sorted(name for name, layer in layers().items() if layer == "Pure")


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_imports_no_adapter(module: str) -> None:
    """A pure module (STYLE.md) imports no adapter library, no clock, log or socket module,
    and nothing of the bridge that is not pure itself."""
    bad = []
    for name in sorted(_imports(_path(module))):
        top = name.split(".")[0]
        if top in ADAPTERS:
            bad.append(name)
        elif top == "bridge" and name not in ("bridge", "bridge.__version__"):
            target = name if name in layers() else name.rsplit(".", 1)[0]
            if layers().get(target) != "Pure":
                bad.append(f"{name} ({layers().get(target, 'unknown')})")
    assert bad == [], f"{module} imports {bad}"


def test_the_pure_core_is_where_the_layout_says() -> None:
    """The pure folders are pure, and the core is not empty."""
    for package in ("bridge.model", "bridge.hooks", "bridge.hooks.payloads"):
        assert layers()[package] == "Pure"
    assert {"bridge.delivery.policy", "bridge.source.parsing", "bridge.errors"} <= set(PURE)


def test_the_simulator_stands_alone() -> None:
    """bridge.testing.sim imports nothing of the bridge but itself: it is the world the bridge
    is judged against, so it must not share the bridge's code or its mistakes."""
    offenders = []
    for path in (BRIDGE / "testing" / "sim").rglob("*.py"):
        for name in _imports(path):
            if name.startswith("bridge") and not name.startswith("bridge.testing.sim"):
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_modules_stay_small() -> None:
    """No module of the bridge grows past 400 lines (STYLE.md): past that, a concept is missing."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in BRIDGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}
