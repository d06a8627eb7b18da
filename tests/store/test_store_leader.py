"""Poller leadership among daemons sharing one state database."""

from __future__ import annotations

import time

from sqlalchemy import Engine, create_engine, text

from bridge.store import Store
from bridge.store.leader import LOCK_CLASS
from tests.store.conftest import StoreFactory


def test_one_poller_at_a_time_and_takeover_after_release(
    open_store: StoreFactory, store_url: str
) -> None:
    """PostgreSQL: the second instance may not poll until the first lets go; SQLite: always."""
    first, second = open_store().poller_lease(), open_store().poller_lease()
    assert first.try_lead()
    assert first.try_lead()  # held: asking again keeps it
    postgres = store_url.startswith("postgresql")
    assert second.try_lead() is not postgres
    first.release()
    assert second.try_lead()
    second.release()


def test_a_dead_leaders_lock_is_taken_over(pg_url: str, pg_admin: Engine) -> None:
    """PostgreSQL ends a dead poller's session, and its lock with it: another takes over."""
    with Store.open(pg_url) as leader_store, Store.open(pg_url) as follower_store:
        leader, follower = leader_store.poller_lease(), follower_store.poller_lease()
        try:
            assert leader.try_lead()
            assert not follower.try_lead()
            # The lock's second key is this test's schema: other tests on other schemas hold
            # locks of the same class at the same time, and must not be killed.
            schema_engine = create_engine(pg_url)
            with schema_engine.connect() as conn:
                key = conn.execute(text("SELECT hashtext(current_schema())")).scalar_one()
            schema_engine.dispose()
            with pg_admin.begin() as admin:  # what a crash (or a killed connection) does
                ended = admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND classid = :c "
                        "AND objid = CAST(CAST(:k AS text) AS oid) AND granted"
                    ),
                    {"c": LOCK_CLASS, "k": key & 0xFFFFFFFF},
                ).scalars()
                assert list(ended) == [True]
            # The backend exits (and frees its locks) shortly after it is told to.
            deadline = time.monotonic() + 10
            while not follower.try_lead():
                assert time.monotonic() < deadline, "the lock was not freed"
                time.sleep(0.05)
            assert not leader.try_lead()  # its session is gone and the lock has a new holder
        finally:
            leader.release()
            follower.release()
