"""The members phase: every group's and project's direct members, read concurrently.

Lists are read ``workers`` at a time (the source enforces the request budget); every write
happens on the calling thread, one transaction per list. A failed list keeps its snapshot and
is recorded; the others go on. Members of users being destroyed get their remove event, as
GitLab's ``destroy_memberships`` sends one (docs/events.md#cascades).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeVar

from bridge.errors import SourceError
from bridge.hooks import diff
from bridge.hooks.payloads.context import PayloadContext
from bridge.model.changes import MEMBER_RECORD, Sides, subjects
from bridge.model.ledger import RowMeta, member_list
from bridge.model.records import Member, Project, SourceKind
from bridge.ports import SnapshotWriter, Source
from bridge.sync import access_requests
from bridge.sync.confirm import confirm
from bridge.sync.state import Pass

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class MemberList:
    """One source's direct members and, with ``poll.access_requests``, its pending requests.

    ``members`` is None when the source is gone; ``requests`` is None when they are not polled.
    """

    members: tuple[Member, ...] | None
    requests: tuple[Member, ...] | None = None


Listed = tuple[MemberList, int]


def read_list(source: Source, kind: SourceKind, ident: int, with_requests: bool) -> MemberList:
    """A member list, and its access requests first: an approval between the two reads then
    shows as a member with a stale request, never as a request gone without a member."""
    requests = source.access_requests(kind, ident) if with_requests else None
    members = source.members(kind, ident)
    if members is None:
        return MemberList(None)
    return MemberList(members, requests)


def members(run: Pass, workers: int) -> None:
    """Direct members of every group and project: read concurrently, written here."""
    users, groups, projects = run.store.users(), run.store.groups(), run.store.projects()
    ctx = run.context(users, groups)
    # Removals route along the hierarchy as it was before this pass (docs/events.md#fan-out).
    contexts = Sides(new=ctx, old=dataclasses.replace(ctx, groups={**groups, **run.old_groups}))
    sources: list[tuple[SourceKind, int]] = [("group", g) for g in sorted(groups)]
    sources += [("project", p) for p in sorted(projects)]
    old = {kind: _by_source(run.members_at_start(kind)) for kind in ("group", "project")}
    metas = {kind: _by_source(run.store.members_meta(kind)) for kind in ("group", "project")}
    run.fresh.update(_created_after_baseline(run))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future[Listed], tuple[SourceKind, int]] = {
            pool.submit(_fetch, run, kind, ident): (kind, ident) for kind, ident in sources
        }
        for future in as_completed(futures):
            if run.stop.is_set():
                for pending in futures:
                    pending.cancel()  # lists not yet written are read again next pass
                break
            kind, ident = futures[future]
            try:
                listed, requests = future.result()
                if listed.members is None:
                    continue  # the source is gone: the next groups/projects phase confirms it
                settle_list(
                    run,
                    kind,
                    ident,
                    listed,
                    old=old[kind].get(ident, {}),
                    metas=metas[kind].get(ident, {}),
                    contexts=contexts,
                    projects=projects,
                    requests=requests,
                )
            except SourceError as exc:  # this list stays as it was; the others go on
                run.failed(member_list(kind, ident), exc)
    run.flush_quiet()


def settle_list(
    run: Pass,
    kind: SourceKind,
    source_id: int,
    listed: MemberList,
    *,
    old: Mapping[tuple[int, int], Member],
    metas: Mapping[tuple[int, int], RowMeta],
    contexts: Sides[PayloadContext],
    projects: Mapping[int, Project],
    requests: int,
) -> None:
    assert listed.members is not None
    new = {(m.source_id, m.user_id): m for m in listed.members}
    before = run.source.requests_by_this_thread
    changes, kept = confirm(diff.diff_members(kind, old, new), run.exists.member)
    requests += run.source.requests_by_this_thread - before
    new |= kept
    dirty = bool(changes)
    asked = access_requests.settle(run, kind, source_id, listed.requests, new, changes)
    changes += asked.changes
    snapshot = {**subjects(MEMBER_RECORD[kind], metas), **asked.snapshot}

    def write(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.replace_members(kind, source_id, new.values(), at)
        asked.write(tx, at)

    run.commit(
        member_list(kind, source_id),
        diff.order(changes, old_groups=contexts.old.groups, new_groups=contexts.new.groups),
        write,
        snapshot,
        contexts,
        projects=Sides(old=projects, new=projects),
        member_list=(kind, source_id),
        requests=requests,
        dirty=dirty or asked.dirty,
    )


def _created_after_baseline(run: Pass) -> set[tuple[SourceKind, int]]:
    """Groups and projects first seen after their resource's baseline, by earlier passes.

    Their first member lists are real adds, not a baseline, even when the daemon polls members
    in a later pass than the one that found the group or project.
    """
    fresh: set[tuple[SourceKind, int]] = set()
    sources: tuple[tuple[SourceKind, str, Mapping[int, RowMeta]], ...] = (
        ("group", "groups", run.store.groups_meta()),
        ("project", "projects", run.store.projects_meta()),
    )
    for kind, name, metas in sources:
        state = run.states.get(name)
        if state is None or state.baseline_at is None:
            continue
        baseline = state.baseline_at
        fresh.update((kind, i) for i, meta in metas.items() if meta.first_seen_at > baseline)
    return fresh


def _fetch(run: Pass, kind: SourceKind, ident: int) -> Listed:
    """One member list and the requests it took (counted on the worker's own thread)."""
    before = run.source.requests_by_this_thread
    listed = read_list(run.source, kind, ident, run.settings.poll.access_requests)
    return listed, run.source.requests_by_this_thread - before


def _by_source(rows: Mapping[tuple[int, int], T]) -> dict[int, dict[tuple[int, int], T]]:
    """Rows keyed (source_id, user_id), grouped by source: each member list gets only its own."""
    grouped: defaultdict[int, dict[tuple[int, int], T]] = defaultdict(dict)
    for key, member in rows.items():
        grouped[key[0]][key] = member
    return dict(grouped)
