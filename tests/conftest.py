"""Shared fixtures: simulators on real sockets and python-gitlab clients for them."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import gitlab
import pytest

from bridge.testing.receiver import Receiver
from bridge.testing.sim.simulator import Simulator

# Datasets are generated relative to a fixed "now" so that every run sees the same data.
NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)

SimFactory = Callable[..., Simulator]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Start simulators (``make_sim("small", version="13.12", ...)``) and stop them afterwards."""
    started: list[Simulator] = []

    def factory(size: str = "small", **kwargs: Any) -> Simulator:
        kwargs.setdefault("now", NOW)
        sim = Simulator.from_dataset(size, **kwargs).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: SimFactory) -> Simulator:
    """A small 16.11 simulator that tests may change."""
    return make_sim("small", version="16.11")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording receiver on a free port."""
    with Receiver() as started:
        yield started


@pytest.fixture(scope="module")
def small_sim() -> Iterator[Simulator]:
    """One read-only 16.11 simulator with the small dataset, shared by a module's tests."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    yield sim
    sim.stop()


def client(sim: Simulator, role: str | None = "admin", **kwargs: Any) -> gitlab.Gitlab:
    """Unmodified python-gitlab pointed at a simulator, as ``role`` (None: anonymous)."""
    token = sim.tokens[role] if role else None
    return gitlab.Gitlab(sim.url, private_token=token, **kwargs)


@pytest.fixture(scope="session")
def medium_server() -> Iterator[tuple[str, str]]:
    """``gitlab-bridge sim serve --dataset medium`` in its own process: (url, admin token).

    A separate process keeps the client's and the server's GILs apart, as in production.
    """
    with subprocess.Popen(
        [sys.executable, "-m", "bridge", "sim", "serve", "--dataset", "medium"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(3))
        yield lines["url"], lines["admin-token"]
        proc.terminate()
        proc.communicate(timeout=30)
