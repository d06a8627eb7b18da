"""Read every resource of GitLab into the store: a complete snapshot, resource by resource.

Each resource commits in its own transaction (users; groups with their shares; projects with
theirs; the direct members of each group and project), and records its bookkeeping in the same
transaction, so an interrupted crawl leaves every finished resource in place and nothing half
written. Listings run concurrently within the source's budget; writes happen on the calling
thread only. This is the baseline pass the sync engine builds on: it upserts, it never deletes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial

from bridge.model.records import Member, Share, SourceKind
from bridge.source import GitLabSource
from bridge.store import ResourceState, Store, Transaction

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestReport:
    """What one complete crawl read and what it cost."""

    users: int
    groups: int
    projects: int
    member_rows: int
    share_rows: int
    gone_sources: int  # groups or projects deleted while the crawl ran (404 on their members)
    requests: int
    seconds: float


def ingest(source: GitLabSource, store: Store, *, now: Clock, workers: int = 4) -> IngestReport:
    """Crawl users, groups and shares, projects and shares, and every direct member list."""
    source.check(needs_admin=True)
    started, before = time.perf_counter(), source.requests_made

    mark = source.requests_made
    users = source.users()
    _commit(
        store,
        "users",
        now(),
        lambda tx, at: tx.upsert_users(users, at),
        source.requests_made - mark,
    )

    mark = source.requests_made
    groups, group_shares = source.groups_and_shares()

    def write_groups(tx: Transaction, at: dt.datetime) -> None:
        tx.upsert_groups(groups, at)
        for group_id, links in _by_source(group_shares, (g.id for g in groups)).items():
            tx.replace_shares("group", group_id, links, at)

    _commit(store, "groups", now(), write_groups, source.requests_made - mark)

    mark = source.requests_made
    projects = source.projects()
    used = source.requests_made - mark
    _commit(store, "projects", now(), lambda tx, at: tx.upsert_projects(projects, at), used)
    sources: list[tuple[SourceKind, int]] = [("group", g.id) for g in groups]
    sources += [("project", p.id) for p in projects]
    member_rows, gone = _members(source, store, sources, now, workers)
    return IngestReport(
        users=len(users),
        groups=len(groups),
        projects=len(projects),
        member_rows=member_rows,
        share_rows=len(group_shares) + sum(len(p.shares) for p in projects),
        gone_sources=gone,
        requests=source.requests_made - before,
        seconds=time.perf_counter() - started,
    )


def _by_source(shares: Iterable[Share], ids: Iterable[int]) -> dict[int, list[Share]]:
    grouped: dict[int, list[Share]] = {i: [] for i in ids}
    for share in shares:
        grouped.setdefault(share.source_id, []).append(share)
    return grouped


def _members(
    source: GitLabSource,
    store: Store,
    sources: list[tuple[SourceKind, int]],
    now: Clock,
    workers: int,
) -> tuple[int, int]:
    rows = gone = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future[tuple[Member, ...] | None], tuple[SourceKind, int]] = {
            pool.submit(source.members, kind, ident): (kind, ident) for kind, ident in sources
        }
        for future in as_completed(futures):
            kind, ident = futures[future]
            members = future.result()  # a SourceError propagates: the crawl is not complete
            if members is None:
                gone += 1
                continue
            rows += len(members)
            write = partial(_write_members, kind=kind, source_id=ident, members=members)
            # Member lists are read concurrently: no per-list request count.
            _commit(store, f"members:{kind}:{ident}", now(), write, None)
    return rows, gone


def _write_members(
    tx: Transaction,
    at: dt.datetime,
    *,
    kind: SourceKind,
    source_id: int,
    members: tuple[Member, ...],
) -> None:
    tx.replace_members(kind, source_id, members, at)


def _commit(
    store: Store,
    name: str,
    at: dt.datetime,
    write: Callable[[Transaction, dt.datetime], object],
    requests: int | None,
) -> None:
    """One resource's rows and its bookkeeping, in one transaction."""
    previous = store.resource_state(name)
    with store.transaction() as tx:
        write(tx, at)
        tx.set_resource_state(
            ResourceState(
                name=name,
                baseline_at=previous.baseline_at if previous and previous.baseline_at else at,
                last_complete_at=at,
                last_attempt_at=at,
                watermark=previous.watermark if previous else None,
                last_requests=requests,
            )
        )
