"""A member or share removed and added back is a new event every time (issue 12, item 1).

A removed row's revision survives in a tombstone, so the re-add gets a new event id and
Idempotency-Key instead of colliding with the first add's, which the outbox dropped silently.
Each step runs in its own pass: add, remove, add, remove, add at another role.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from collections.abc import Callable

import pytest

from bridge.model.ledger import OutboxRecord
from bridge.model.records import SourceKind
from bridge.store import Store
from bridge.testing.sim.simulator import Simulator
from tests.sync.test_sync_events import SYSTEM, TEAM, TOP, Tree, run, store, tree

__all__ = ["store", "tree"]  # fixtures

Step = Callable[[], None]


# link kind -> (source kind, add event, remove event)
LINKS: dict[str, tuple[SourceKind, str, str]] = {
    "group_member": ("group", "user_add_to_group", "user_remove_from_group"),
    "project_member": ("project", "user_add_to_team", "user_remove_from_team"),
    "project_share": ("project", "group_add_to_team", "group_remove_from_team"),
    "group_share": ("group", "group_add_to_group", "group_remove_from_group"),
}


def _steps(sim: Simulator, tree: Tree, link: str) -> list[Step]:
    """add, remove, add, remove, add at Reporter: the same pair each time."""
    world = sim.world
    kind = LINKS[link][0]
    source = tree.team if kind == "group" else tree.app

    def add(level: int) -> Step:
        def step() -> None:
            if link.endswith("member"):
                world.add_member(kind, source, tree.bob, level)
            else:
                world.share(kind, source, tree.side, level)

        return step

    def remove() -> None:
        if link.endswith("member"):
            world.remove_member(kind, source, tree.bob)
        else:
            world.unshare(kind, source, tree.side)

    return [add(30), remove, add(30), remove, add(20)]


@pytest.mark.parametrize("kind", list(LINKS))
def test_readded_link_is_five_events_to_each_receiver(
    sim: Simulator, store: Store, tree: Tree, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every step reaches every receiver once, under its own event id and key."""
    shares = kind.endswith("share")
    run(sim, store, tree, share_events=shares)  # the baseline
    steps = _steps(sim, tree, kind)
    _, added, removed = LINKS[kind]
    expected = [added, removed, added, removed, added]
    queued: list[OutboxRecord] = []
    with caplog.at_level(logging.ERROR, logger="bridge.store"):
        for step in steps:
            step()
            queued += run(sim, store, tree, share_events=shares)
    assert not [r for r in caplog.records if "outbox conflict" in r.getMessage()]
    by_receiver: defaultdict[str, list[OutboxRecord]] = defaultdict(list)
    for row in queued:
        by_receiver[row.receiver].append(row)
    # Group webhooks' Member Hook carries group memberships only (docs/events.md#fan-out).
    receivers = {SYSTEM, TOP, TEAM} if kind == "group_member" else {SYSTEM}
    assert set(by_receiver) == receivers
    for receiver, rows in by_receiver.items():
        assert [r.event_name for r in rows] == expected, receiver
        assert len({r.event_uuid for r in rows}) == 5, receiver
        assert len({r.idempotency_key for r in rows}) == 5, receiver
    final = json.loads(by_receiver[SYSTEM][-1].payload)
    assert {"Reporter", 20} & set(final.values()), final  # the last add was at another role


def test_conflict_on_a_different_event_is_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A key already held by another event is reported as an error, never skipped silently."""
    from tests.store.factories import outbox_row  # noqa: PLC0415 - only this test needs it

    first = outbox_row(1)
    clash = dataclasses.replace(first, payload='{"other":true}')
    with store.transaction() as tx:
        assert tx.enqueue([first]) == 1
    with caplog.at_level(logging.DEBUG, logger="bridge.store"), store.transaction() as tx:
        assert tx.enqueue([first]) == 0  # the same event again: skipped quietly
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert tx.enqueue([clash]) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "outbox conflict" in errors[0]
    assert first.receiver in errors[0]
