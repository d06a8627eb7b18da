"""The daemon's tasks: which reads exist for a snapshot, and what each costs.

Every listing, signal, member list and group's shares the snapshot knows is a task
(``bridge.sync.planner``), and so is every GraphQL batch (``bridge.sync.batches``). The
reconciler schedules them; ``gitlab-bridge plan`` prices them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from bridge.config.settings import Settings
from bridge.model.ledger import MEMBER_LIST_PREFIX, ResourceState
from bridge.model.signals import Capabilities
from bridge.ports import SnapshotStore
from bridge.sync.planner import SIGNALS, Targets, kind_of
from bridge.sync.targeted import source_tasks


def signals(caps: Capabilities) -> list[str]:
    """The signal tasks this instance has."""
    out = ["signal:new_users", "signal:new_groups", "signal:new_projects"]
    if caps.updated_after or caps.last_activity_after:
        out.append("signal:changed_projects")
    if caps.audit_events:
        out.append("signal:audit")
    return out


def task_keys(
    store: SnapshotStore,
    caps: Capabilities,
    groups: Iterable[int],
    *,
    batch_keys: Iterable[str] = (),
) -> list[str]:
    """Every listing, signal, member list and group's shares the snapshot knows, and the
    GraphQL batches (``BatchReads.keys``)."""
    keys: list[str] = ["users", "groups", "projects", *signals(caps)]
    for group in groups:
        keys += source_tasks("group", group)
    keys += [f"members:project:{p}" for p in store.ids("project")]
    return [*keys, *batch_keys]


def task_cost(
    state: ResourceState | None, key: str, rows: Mapping[str, int], *, requests_too: bool = False
) -> float:
    """What a task costs: a listing its pages, a signal 1, a source what its last read took;
    ``requests_too``: a member list comes with its access requests, one request more."""
    if key in rows:  # the full pass's "groups" also read every group's shares: not a guide
        return float(max(1, -(-rows[key] // 100)))
    least = 2.0 if requests_too and key.startswith(MEMBER_LIST_PREFIX) else 1.0
    if state is None or state.last_requests is None or kind_of(key) in SIGNALS:
        return least
    return float(max(least, state.last_requests))


def targets(settings: Settings) -> Targets:
    """The planner's targets from ``freshness:``."""
    f = settings.freshness
    return Targets(**{field.name: getattr(f, field.name) for field in dataclasses.fields(Targets)})
