"""Shared fixtures: simulators on real sockets and python-gitlab clients for them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gitlab
import pytest
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.clock import Clock
from bridge.config.settings import GitLabSettings, Settings
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import SyncReport, sync
from bridge.testing.receiver import Receiver
from bridge.testing.sim.simulator import Simulator

# Property tests: the default run tries 50 examples each; .ci/run's second step runs them again
# with HYPOTHESIS_PROFILE=thorough. Deadlines are off: these machines are shared and noisy.
settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every Hypothesis test ``property``, so .ci/run can rerun just those, harder."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


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


def baseline(source: GitLabSource, store: Store, *, now: Clock) -> SyncReport:
    """Sync's first pass: a silent baseline of everything ``source`` lists, into ``store``."""
    settings = Settings(gitlab=GitLabSettings(url=source.url, token=SecretStr("unused")))
    return sync(source, store, settings, now=now)


# -- state backends: a SQLite file and a PostgreSQL schema per test ---------------------------

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An engine on the ``test`` database; fails in CI and skips elsewhere when it is down."""
    engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = (
            f"PostgreSQL at 127.0.0.1:5432 is not reachable: {getattr(exc, 'orig', None) or exc}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database: a file in a folder that does not exist yet, or a fresh schema."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("store") / "not-yet" / "state"
        yield f"sqlite:///{folder / 'bridge.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """A URL whose search_path is a fresh PostgreSQL schema, dropped after the test."""
    schema = f"bridge_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with pg_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
