"""Pending access requests of one source, settled in its member list's transaction.

With ``poll.access_requests`` each member-list read also reads the source's requests
(docs/events.md#access-requests). GitLab keeps a request as a member row with ``requested_at``
set, so an approval turns the request into the member: in the snapshot that is a request
removed and a member added in the same list, which the events turn into GitLab's approval
hooks. A request gone without a membership was denied or withdrawn. The request list has its
own baseline, so turning the option on for an existing snapshot sends nothing for requests
already pending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.hooks import diff
from bridge.model.changes import ACCESS_REQUEST_RECORD, Change, subjects
from bridge.model.ledger import ResourceState, RowMeta, member_list
from bridge.model.records import Member, SourceKind
from bridge.ports import SnapshotWriter
from bridge.sync.state import Pass

PREFIX = "access_requests:"


def request_list(kind: SourceKind, source_id: int) -> str:
    """The bookkeeping name of one source's requests: ``access_requests:group:42``."""
    return f"{PREFIX}{kind}:{source_id}"


def _unchanged(_tx: SnapshotWriter, _at: dt.datetime) -> None:
    """Requests not polled: their snapshot stays as it is."""


@dataclass(frozen=True, slots=True)
class Asked:
    """What one source's requests add to its member list's commit."""

    changes: tuple[Change[Member], ...] = ()
    snapshot: Mapping[str, RowMeta] = field(default_factory=dict)
    write: Callable[[SnapshotWriter, dt.datetime], None] = _unchanged
    dirty: bool = False


def settle(
    run: Pass,
    kind: SourceKind,
    source_id: int,
    listed: Sequence[Member] | None,
    members: Mapping[tuple[int, int], Member],
    member_changes: Sequence[Change[Any]],
) -> Asked:
    """The request changes of one source against the snapshot; ``members``: the new list."""
    if listed is None:
        return Asked()
    old = run.store.access_requests_of(kind, source_id)
    metas = run.store.access_requests_meta_of(kind, source_id)
    # A user cannot be a member and a requester at once: a request listed beside the
    # membership was approved between the two reads.
    new = {(r.source_id, r.user_id): r for r in listed if (r.source_id, r.user_id) not in members}
    added = {c.key for c in member_changes if c.kind == "added"}
    found = diff.diff_access_requests(kind, old, new)
    # A request gone from a user who was already a member was settled before: nothing to send.
    changes = tuple(
        c for c in found if not (c.kind == "removed" and c.key in members and c.key not in added)
    )
    name = request_list(kind, source_id)
    # Turned on for a list already known: the requests pending now are its silent baseline.
    baseline = name not in run.states and member_list(kind, source_id) in run.states

    def write(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.replace_access_requests(kind, source_id, new.values(), at)
        previous = run.states.get(name)
        state = ResourceState(
            name=name,
            baseline_at=previous.baseline_at if previous and previous.baseline_at else at,
            last_complete_at=at,
            last_attempt_at=at,
        )
        tx.set_resource_state(state)
        run.states[name] = state

    return Asked(
        changes=() if baseline else changes,
        snapshot=subjects(ACCESS_REQUEST_RECORD[kind], metas),
        write=write,
        dirty=bool(found) or name not in run.states,
    )
