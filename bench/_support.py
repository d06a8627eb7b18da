"""What the benchmarks share: their command line, and a simulated GitLab in its own process.

The simulator runs as ``gitlab-bridge sim serve`` so that it and the client under test do not
share a GIL, as GitLab and the bridge would not.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BRIDGE = [sys.executable, "-m", "bridge"]
ROOT = Path(__file__).resolve().parents[1]


def bridge_at(tree: Path) -> list[str]:
    """``gitlab-bridge`` as another checkout at ``tree`` has it (this interpreter, its package
    first on the path); fails unless that checkout's ``bridge`` is the one imported."""
    load = f"import sys; sys.path.insert(0, {str(tree)!r}); "
    where = subprocess.run(
        [sys.executable, "-c", load + "import bridge; print(bridge.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).resolve().is_relative_to(tree.resolve()), f"{where} is not under {tree}"
    run = "from bridge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", load + run]


def revision(ref: str = "HEAD") -> str:
    """The full commit ``ref`` names in this repository (``git rev-parse``)."""
    git = shutil.which("git") or "git"
    return subprocess.run(
        [git, "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """A detached ``git worktree`` of this repository at ``ref`` in a temporary folder:
    (its path, the full commit); removed on exit."""
    git = shutil.which("git") or "git"
    commit = revision(ref)
    with tempfile.TemporaryDirectory(prefix="bench-worktree-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            [git, "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        try:
            yield tree, commit
        finally:
            subprocess.run(
                [git, "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip


def arguments(doc: str, *, dataset: str) -> argparse.ArgumentParser:
    """A script's parser: its docstring as the help, and ``--dataset``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default=dataset, help=f"simulator dataset (default {dataset})")
    return parser


@dataclass(frozen=True)
class Sim:
    """A running simulator: where it listens, the admin token, and its process."""

    url: str
    token: str
    process: subprocess.Popen[str]


@contextlib.contextmanager
def simulator(dataset: str, *options: str) -> Iterator[Sim]:
    """``gitlab-bridge sim serve --dataset DATASET OPTIONS...``, stopped on exit."""
    command = [*BRIDGE, "sim", "serve", "--dataset", dataset, *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        info = dict(process.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(3))
        try:
            yield Sim(info["url"], info["admin-token"], process)
        finally:
            process.terminate()
            process.communicate(timeout=30)
