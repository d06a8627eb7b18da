"""Which daemon polls, when several share one PostgreSQL state.

The poller holds a session-level advisory lock on a connection of its own for as long as it
runs; the others deliver only and try again before each poll. If the poller dies, PostgreSQL
ends its session and the lock with it, so another instance takes over at its next poll. SQLite
state needs none of this (one daemon per file, ``bridge.service.locks``): ``try_lead`` is
always true there.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
# Two-key advisory lock: a class for the bridge ("brdg"), then the state's schema, so bridges
# on different schemas of one database do not exclude each other.
LOCK_CLASS = 0x62726467
_TAKE = text("SELECT pg_try_advisory_lock(:c, hashtext(current_schema()))")
_GIVE = text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))")


class PollerLease:
    """``try_lead()`` before each poll; ``release()`` at shutdown."""

    def __init__(self, engine: Engine) -> None:
        """Leadership over ``engine``'s database."""
        self._engine = engine
        self._conn: Connection | None = None
        self._postgres = engine.dialect.name == "postgresql"

    def try_lead(self) -> bool:
        """True when this process may poll: it holds, or has just taken, the lock."""
        if not self._postgres:
            return True
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            log.warning("lost the poller lock's connection; trying to take it again")
            self._drop()
        conn: Connection | None = None
        try:
            conn = self._engine.connect()
            taken = bool(conn.execute(_TAKE, {"c": LOCK_CLASS}).scalar())
            conn.commit()  # the lock is the session's; end the implicit transaction
        except SQLAlchemyError as exc:
            log.warning("cannot ask for the poller lock: %s", exc.__class__.__name__)
            if conn is not None:
                with contextlib.suppress(SQLAlchemyError):
                    conn.close()
            return False
        if not taken:
            conn.close()
            return False
        self._conn = conn
        log.info("this instance polls (it holds the PostgreSQL advisory lock)")
        return True

    def release(self) -> None:
        """Give the lock up (closing the session would too)."""
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(_GIVE, {"c": LOCK_CLASS})
                self._conn.commit()
            self._drop()

    def _alive(self, conn: Connection) -> bool:
        try:
            conn.execute(text("SELECT 1"))
            conn.commit()
        except SQLAlchemyError:
            return False
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
