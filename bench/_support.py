"""What the benchmarks share: their command line, and a simulated GitLab in its own process.

The simulator runs as ``gitlab-bridge sim serve`` so that it and the client under test do not
share a GIL, as GitLab and the bridge would not.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

BRIDGE = [sys.executable, "-m", "bridge"]


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
