"""Schema migrations (Alembic, shipped inside the package) and the schema version check."""

from __future__ import annotations

from pathlib import Path

from alembic.command import upgrade as alembic_upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import SchemaError, StoreError
from bridge.store.engine import describe, make_engine, redact

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migration_config() -> Config:
    """Alembic's configuration for the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this bridge knows."""
    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(url: str) -> str | None:
    """The schema revision of the database at ``url`` (None: never migrated)."""
    engine = make_engine(url)
    try:
        return _current(engine)
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """Migrate the database at ``url`` to the newest revision; return that revision."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
    return head_revision()


def upgrade_engine(engine: Engine) -> None:
    """Refuse a database from a newer schema, then migrate it up to head in one transaction."""
    check_revision(engine)
    config = migration_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            alembic_upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"state database {redact(engine.url)}: migration failed: {describe(exc, engine.url)}"
        ) from exc


def check_revision(engine: Engine) -> None:
    """Raise SchemaError when the database is at a revision this bridge does not ship."""
    current = _current(engine)
    if current is None:
        return
    scripts = ScriptDirectory.from_config(migration_config())
    if current not in {script.revision for script in scripts.walk_revisions()}:
        raise SchemaError(
            f"state database {redact(engine.url)} is at schema revision {current}, newer than "
            f"this bridge's {head_revision()}; upgrade the bridge or point state.url elsewhere"
        )


def _current(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"state database {redact(engine.url)}: cannot connect: {describe(exc, engine.url)}"
        ) from exc
