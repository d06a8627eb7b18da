"""The members phase: every group's and project's direct members, read concurrently.

Lists are read ``workers`` at a time (the source enforces the request budget); every write
happens on the calling thread, one transaction per list. A failed list keeps its snapshot and
is recorded; the others go on. Members of users being destroyed get their remove event, as
GitLab's ``destroy_memberships`` sends one (docs/events.md#cascades).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from bridge.errors import SourceError
from bridge.hooks import diff
from bridge.hooks.payloads.context import PayloadContext
from bridge.model.changes import MEMBER_RECORD, Sides, subjects
from bridge.model.ledger import ResourceState, RowMeta, member_list
from bridge.model.records import Group, Member, Project, SourceKind
from bridge.ports import SnapshotWriter, Source
from bridge.sync import access_requests
from bridge.sync.batches import FIT_STATE, Sizes
from bridge.sync.confirm import confirm
from bridge.sync.state import Pass

T = TypeVar("T")
log = logging.getLogger(__name__)
MINIMAL_ACCESS = 5


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


def exact_rows(
    stored: Mapping[int, Member], rows: tuple[Member, ...] | None
) -> tuple[Member, ...] | None:
    """A GraphQL list (``GitLabSource.member_lists``) as the rows REST would give, or None:
    read it over REST. GraphQL shows Minimal Access rows that some versions' REST lists hide,
    so where either side has one, REST decides. ``stored``: the snapshot's rows, by user id."""
    if rows is None or any(m.access_level == MINIMAL_ACCESS for m in rows):
        return None
    if any(m.access_level == MINIMAL_ACCESS for m in stored.values()):
        return None
    return tuple(_steady(stored.get(m.user_id), m) for m in rows)


def _steady(stored: Member | None, read: Member) -> Member:
    """A GraphQL row with what GraphQL cannot tell taken from the stored REST row: the
    custom role (REST's ``member_role``), and ``created_at`` below the second (GraphQL's Time
    has whole seconds); so a batch read never rewrites a row it did not see change."""
    if stored is None:
        return read
    created = read.created_at
    if (
        stored.created_at is not None
        and created is not None
        and stored.created_at.replace(microsecond=0) == created.replace(microsecond=0)
    ):
        created = stored.created_at
    return dataclasses.replace(read, created_at=created, member_role=stored.member_role)


def members(run: Pass, workers: int) -> None:
    """Direct members of every group and project: read concurrently, written here. Where the
    instance has GraphQL, many lists come per request (``GitLabSource.member_lists``), and a
    list a batch cannot settle is read over REST (docs/freshness.md#graphql)."""
    users, groups, projects = run.store.users(), run.store.groups(), run.store.projects()
    ctx = run.context(users, groups)
    # Removals route along the hierarchy as it was before this pass (docs/events.md#fan-out).
    contexts = Sides(new=ctx, old=dataclasses.replace(ctx, groups={**groups, **run.old_groups}))
    sources: list[tuple[SourceKind, int]] = [("group", g) for g in sorted(groups)]
    sources += [("project", p) for p in sorted(projects)]
    run.fresh.update(_created_after_baseline(run))
    batched = run.source.capabilities.graphql_lists and not run.settings.poll.access_requests
    batched = batched and run.source.probe_graphql()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reader = _Reader(run, pool, contexts, projects)
        if batched:
            for kind, chunk in _chunks(sources, groups):
                reader.batch(kind, chunk)
        else:
            for kind, ident in sources:
                reader.rest(kind, ident)
        reader.drain()
    run.flush_quiet()
    if batched:
        _keep_sizes(run)


def _keep_sizes(run: Pass) -> None:
    """The batch sizes GitLab's scores allowed, for ``plan`` and the daemon's first batches."""
    graphql = getattr(run.source, "graphql", None)
    if graphql is None:
        return
    state = run.states.get(FIT_STATE)
    sizes = Sizes.parse(state.watermark if state else None)
    sizes = sizes.with_measured({k: f.size for k, f in graphql.fits_.items()})
    at = run.now().replace(microsecond=0)
    kept = ResourceState(name=FIT_STATE, baseline_at=at, last_complete_at=at,
                         last_attempt_at=at, watermark=sizes.text())  # fmt: skip
    with run.store.transaction() as tx:
        tx.set_resource_state(kept)
    run.states[FIT_STATE] = kept


class _Reader:
    """The members phase's reads in flight: REST lists and GraphQL batches; answers are
    written on the calling thread, one transaction per list."""

    def __init__(
        self,
        run: Pass,
        pool: ThreadPoolExecutor,
        contexts: Sides[PayloadContext],
        projects: Mapping[int, Project],
    ) -> None:
        self.run, self.pool, self.contexts, self.projects = run, pool, contexts, projects
        self.old = {kind: _by_source(run.members_at_start(kind)) for kind in ("group", "project")}
        self.metas = {
            kind: _by_source(run.store.members_meta(kind)) for kind in ("group", "project")
        }
        self.jobs: dict[Future[Any], tuple[SourceKind, tuple[int, ...]]] = {}

    def rest(self, kind: SourceKind, ident: int) -> None:
        self.jobs[self.pool.submit(_fetch, self.run, kind, ident)] = (kind, (ident,))

    def batch(self, kind: SourceKind, chunk: list[tuple[int, str]]) -> None:
        job = self.pool.submit(_fetch_batch, self.run, kind, chunk)
        self.jobs[job] = (kind, tuple(i for i, _ in chunk))

    def drain(self) -> None:
        """Settle the answers in the order they were asked (groups, then projects, by id: the
        same events in the same order whatever finishes first), until none is left or the
        pass is stopped."""
        while self.jobs:
            future = next(iter(self.jobs))
            while not wait([future], timeout=0.5).done and not self.run.stop.is_set():
                pass
            if self.run.stop.is_set():
                for pending in self.jobs:
                    pending.cancel()  # lists not yet written are read again next pass
                return
            kind, idents = self.jobs.pop(future)
            try:
                answer, requests = future.result()
            except SourceError as exc:
                if len(idents) == 1:  # this list stays as it was; the others go on
                    self.run.failed(member_list(kind, idents[0]), exc)
                    continue
                log.warning("GraphQL member lists failed (%s): reading them over REST", exc)
                for ident in idents:
                    self.rest(kind, ident)
            else:
                self._answered(kind, idents, answer, requests)

    def _answered(
        self, kind: SourceKind, idents: tuple[int, ...], answer: Any, requests: int
    ) -> None:
        if isinstance(answer, MemberList):  # one list over REST
            if answer.members is not None:  # None: gone; the next listing confirms it
                self._settle(kind, idents[0], answer, requests)
            return
        settled = {}
        for ident in idents:
            stored = {uid: m for (_, uid), m in self.old[kind].get(ident, {}).items()}
            rows = exact_rows(stored, answer.get(ident))
            if rows is None:
                self.rest(kind, ident)  # a long list, or not answered
            else:
                settled[ident] = rows
        # The batch's requests are shared out, so the lists' bookkeeping adds up to the pass.
        share, extra = divmod(requests, max(1, len(settled)))
        for n, (ident, rows) in enumerate(settled.items()):
            self._settle(kind, ident, MemberList(rows), share + (extra if n == 0 else 0))

    def _settle(self, kind: SourceKind, ident: int, listed: MemberList, requests: int) -> None:
        settle_list(
            self.run,
            kind,
            ident,
            listed,
            old=self.old[kind].get(ident, {}),
            metas=self.metas[kind].get(ident, {}),
            contexts=self.contexts,
            projects=self.projects,
            requests=requests,
        )


BATCH_JOB = 100  # sources per batch job; the source splits it into requests GitLab accepts


def _chunks(
    sources: list[tuple[SourceKind, int]], groups: Mapping[int, Group]
) -> list[tuple[SourceKind, list[tuple[int, str]]]]:
    """The sources in jobs of ``BATCH_JOB``: groups by full path, projects by id."""
    out: list[tuple[SourceKind, list[tuple[int, str]]]] = []
    for kind in ("group", "project"):
        named = [
            (i, groups[i].full_path if kind == "group" else "") for k, i in sources if k == kind
        ]
        out += [(kind, named[n : n + BATCH_JOB]) for n in range(0, len(named), BATCH_JOB)]
    return out


def _fetch_batch(
    run: Pass, kind: SourceKind, chunk: list[tuple[int, str]]
) -> tuple[dict[int, tuple[Member, ...] | None], int]:
    """Many lists over GraphQL and the requests they took (on the worker's own thread)."""
    before = run.source.requests_by_this_thread
    answer = run.source.member_lists(kind, chunk)
    return answer, run.source.requests_by_this_thread - before


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
