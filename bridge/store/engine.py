"""Engines for the state database: SQLite by default, PostgreSQL by URL.

SQLite gets WAL, a busy timeout and foreign keys on every connection, and its folder is created on
first start. Transactions that write begin with ``BEGIN IMMEDIATE`` so a read-then-write unit of
work never fails half-way on a lock upgrade.
"""

from __future__ import annotations

import contextlib
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from bridge.errors import StoreError

DEFAULT_URL = "sqlite:///state/bridge.db"
BUSY_TIMEOUT_MS = 5000
WRITE_OPTION = "bridge_write"


def parse_url(url: str) -> URL:
    """Parse a database URL; the error never repeats the URL, which may carry a password."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError("state.url is not a valid SQLAlchemy database URL") from exc


def redact(url: str | URL) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def describe(exc: BaseException, url: URL) -> str:
    """One line about a driver error, with the URL's password scrubbed should a driver echo it."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    text = lines[0]
    password = url.password
    return text.replace(str(password), "***") if password else text


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the bridge's connection settings."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"state database {redact(parsed)}: driver not available ({exc}); "
            "for PostgreSQL install gitlab-hook-bridge[postgres]"
        ) from exc


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"state database {redact(url)}: cannot create {folder}: {exc}"
            ) from exc
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Driver-level autocommit: SQLAlchemy's "begin" event then issues BEGIN itself (see its docs
    # on pysqlite transactions), which also lets PRAGMA journal_mode run outside a transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: no fsync per commit, still atomic and crash-safe for the process. A
        # power cut may roll back the last commits, snapshot and outbox together, and the next
        # poll finds the same changes with the same event ids: at-least-once still holds.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Serialise this process's SQLite writers in Python; a no-op lock for PostgreSQL.

    SQLite admits one writer; threads that meet at BEGIN IMMEDIATE otherwise wait in its busy
    handler, which sleeps in growing steps: under concurrent delivery that idled a third of the
    time. Other processes still meet at the database lock (busy_timeout).
    """
    return threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
