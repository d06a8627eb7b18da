"""Backends for the store's contract suite: a SQLite file and a PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.store import Store
from tests.store.factories import T0

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

StoreFactory = Callable[[], Store]


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


@pytest.fixture
def open_store(store_url: str) -> Iterator[StoreFactory]:
    """Open stores on ``store_url`` with a fixed clock; all are closed afterwards."""
    opened: list[Store] = []

    def factory() -> Store:
        store = Store.open(store_url, now=lambda: T0)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """A migrated, empty store."""
    return open_store()
