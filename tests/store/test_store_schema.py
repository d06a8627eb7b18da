"""Migrations, the schema version check, engine settings and redaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import upgrade as alembic_upgrade
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from bridge.errors import SchemaError, StoreError
from bridge.store import DEFAULT_URL, Store, current_revision, head_revision, upgrade
from bridge.store.engine import make_engine
from bridge.store.migrate import migration_config
from bridge.store.schema import metadata
from tests.store.conftest import StoreFactory
from tests.store.factories import T1, user


def test_migrations_create_every_table(store_url: str) -> None:
    """An empty database is migrated to head and gets every table."""
    assert current_revision(store_url) is None
    with Store.open(store_url):
        pass
    assert current_revision(store_url) == head_revision() == "0005"
    engine = create_engine(store_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    expected = {"users", "groups", "projects", "members", "shares", "resource_state", "outbox"}
    expected |= {"delivery_attempts", "receivers", "tombstones", "access_requests"}
    assert tables == expected | {"alembic_version"}


def test_reopen_is_idempotent_and_keeps_data(open_store: StoreFactory, store_url: str) -> None:
    """Opening a migrated database again changes nothing and keeps its rows."""
    first = open_store()
    with first.transaction() as tx:
        tx.upsert_users([user(1)], T1)
    first.close()
    assert upgrade(store_url) == "0005"
    assert open_store().users() == {1: user(1)}


def test_migration_matches_table_definitions(store: Store, store_url: str) -> None:
    """The migrated schema is exactly what bridge.store.schema declares."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_newer_schema_is_refused(store: Store, store_url: str) -> None:
    """A database stamped with an unknown revision is refused, naming both revisions."""
    store.close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0042_future'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaError) as info:
        Store.open(store_url)
    message = str(info.value)
    assert "schema revision 0042_future, newer than this bridge's 0005" in message
    assert "upgrade the bridge or point state.url elsewhere" in message
    assert current_revision(store_url) == "0042_future"


def test_newer_schema_message_hides_the_password(pg_url: str) -> None:
    """The SchemaError names the database without the password from its URL (PostgreSQL)."""
    store_url = pg_url
    secret_url = store_url.replace("postgres@", "postgres:hunter2-secret@")
    Store.open(secret_url).close()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0042_future'"))
    engine.dispose()
    with pytest.raises(SchemaError) as info:
        Store.open(secret_url)
    assert "hunter2-secret" not in str(info.value)
    assert "postgres:***@127.0.0.1:5432/test" in str(info.value)


def test_sqlite_folder_is_created_and_wal_is_on(tmp_path: Path) -> None:
    """A SQLite file in a missing folder is created, in WAL mode."""
    path = tmp_path / "a" / "b" / "bridge.db"
    with Store.open(f"sqlite:///{path}") as store:
        with store.transaction() as tx:
            tx.upsert_users([user(1)], T1)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert path.exists()


def test_relative_sqlite_path_is_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default URL puts state/bridge.db under the working directory, creating state/."""
    monkeypatch.chdir(tmp_path)
    Store.open(DEFAULT_URL).close()
    assert (tmp_path / "state" / "bridge.db").is_file()


def test_unreachable_database_error_hides_the_password() -> None:
    """A connection failure is a StoreError whose message redacts the password."""
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://bob:hunter2-secret@127.0.0.1:1/x?connect_timeout=2")
    message = str(info.value)
    assert "hunter2-secret" not in message
    assert "postgresql+psycopg://bob:***@127.0.0.1:1/x" in message
    assert "cannot connect" in message


def test_invalid_url_is_not_echoed() -> None:
    """An unparsable URL gives a StoreError that does not repeat the URL."""
    with pytest.raises(StoreError) as info:
        Store.open("hunter2-secret is no url")
    assert "hunter2-secret" not in str(info.value)
    assert "not a valid" in str(info.value)


def test_sqlite_reads_proceed_while_another_store_writes(tmp_path: Path) -> None:
    """With WAL, a second store reads the last commit while the first holds a write open."""
    url = f"sqlite:///{tmp_path / 'state' / 'bridge.db'}"
    with Store.open(url) as writer, Store.open(url) as reader:
        with writer.transaction() as tx:
            tx.upsert_users([user(1)], T1)
        with writer.transaction() as tx:
            tx.upsert_users([user(2)], T1)
            assert reader.users() == {1: user(1)}
        assert sorted(reader.users()) == [1, 2]


_OUTBOX_ROW = (
    "INSERT INTO outbox (event_uuid, receiver, hook, event_name, subject, payload,"
    " idempotency_key, attempts, next_attempt_at, created_at, updated_at, status{extra_columns})"
    " VALUES ('e-1', 'audit', 'System Hook', 'user_create', 'user:1', '{{}}', 'k-1', {attempts},"
    " :t, :t, :t, '{status}'{extra_values})"
)


def _outbox_row_at(url: str, revision: str, **row: str) -> None:
    """A database migrated only to ``revision``, holding one outbox row as it wrote them."""
    engine = make_engine(url)
    try:
        config = migration_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            alembic_upgrade(config, revision)
            connection.execute(text(_OUTBOX_ROW.format(**row)), {"t": T1})
    finally:
        engine.dispose()


def test_outbox_rows_queued_before_0002_survive_the_upgrade(store_url: str) -> None:
    """A 0001 database with a queued row migrates; the row keeps working for delivery."""
    _outbox_row_at(
        store_url, "0001", status="pending", attempts="0", extra_columns="", extra_values=""
    )
    with Store.open(store_url) as store:
        (row,) = store.deliveries.listing()
        assert (row.gitlab_event_uuid, row.enqueued_at, row.status) == ("e-1", T1, "pending")
        assert [r.id for r in store.deliveries.due("audit", T1, 10)] == [row.id]


def test_failed_rows_of_0002_become_retrying_and_stay_due(store_url: str) -> None:
    """0003 renames the status ``failed`` to ``retrying``; the row is still due and the new
    check constraint refuses the old name."""
    _outbox_row_at(
        store_url,
        "0002",
        status="failed",
        attempts="1",
        extra_columns=", enqueued_at",
        extra_values=", :t",
    )
    with Store.open(store_url) as store:
        (row,) = store.deliveries.listing()
        assert (row.status, row.attempts) == ("retrying", 1)
        assert [r.id for r in store.deliveries.due("audit", T1, 10)] == [row.id]
    engine = make_engine(store_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE outbox SET status = 'failed'"))
    finally:
        engine.dispose()
