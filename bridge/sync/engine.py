"""Sync use case: one pass over every resource, poll -> diff -> confirm -> events -> store.

Phases run in order users, groups (+ group shares), projects (+ project shares), then the direct
members of every group and project. Each resource commits its snapshot changes, its outbox rows
and its bookkeeping in ONE transaction, so a crash or a failed listing leaves the previous
snapshot in place and the next run finds the same changes again (with the same event ids, since
they derive from the snapshot revision before the change).

- Baseline: a resource without ``baseline_at`` is written silently, unless
  ``payloads.emit_baseline`` (then its creates are queued). The member list of a group or project
  created after its resource's baseline is not silent: its first members are real adds.
- No false removals: every removal is confirmed by a point lookup answering 404; a record that
  still answers keeps its old snapshot row and gets no event.
- Member lists are read concurrently (the source enforces the request budget); every write
  happens on the calling thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from bridge.config.settings import Settings
from bridge.errors import SourceError
from bridge.hooks import diff
from bridge.hooks.outbox import outbox_rows
from bridge.hooks.payloads.context import PayloadContext, is_enterprise
from bridge.hooks.routing import Receiver, resolve_receivers
from bridge.model.changes import Change
from bridge.model.records import Group, Member, Project, Share, SourceKind, User
from bridge.source import GitLabSource
from bridge.store import ResourceState, RowMeta, Store, Transaction

log = logging.getLogger(__name__)
QUIET_BATCH = 500
T = TypeVar("T")
Clock = Callable[[], dt.datetime]
Resource = Literal["users", "groups", "projects", "members"]
RESOURCES: tuple[Resource, ...] = ("users", "groups", "projects", "members")
Write = Callable[[Transaction, dt.datetime], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    """What one sync pass found, queued and cost."""

    resources: int  # resources written: users, groups, projects and each member list
    requests: int
    seconds: float
    changes: int  # confirmed changes written, silent ones included
    events_queued: int  # outbox rows queued (one per event and receiver)
    baselines: tuple[str, ...]  # resources recorded silently (or with emit_baseline) this run
    failures: tuple[str, ...] = ()  # "members:group:7: <reason>": lists left as they were
    stopped: bool = False  # ``stop`` ended the pass early


def sync(
    source: GitLabSource,
    store: Store,
    settings: Settings,
    *,
    now: Clock,
    workers: int = 4,
    progress: Callable[[str], None] = lambda _phase: None,
    resources: Collection[Resource] = RESOURCES,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Poll ``resources`` (all by default) once and queue the events of what changed.

    ``progress`` is told each phase as it starts (the CLI shows it on a terminal). ``stop``
    ends the pass between two resources' transactions (SIGTERM): what was committed stays, the
    rest is found again by the next pass. A pass that confirms a group's destroy also polls
    projects, so that the group's projects are destroyed first, as GitLab does.
    """
    unknown = set(resources) - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown resources {sorted(unknown)}")
    run = _Sync(source, store, settings, now, stop or threading.Event())
    started, before = time.perf_counter(), source.requests_made
    for phase, step in (
        ("users", run.users),
        ("groups", run.groups),
        ("projects", run.projects),
        ("members", lambda: run.members(workers)),
        ("destroys", run.destroys),
    ):
        wanted = phase in resources or (
            phase == "projects" and bool(run.doomed["group"]) and "groups" in resources
        )
        if phase != "destroys" and not wanted:
            continue
        if run.stop.is_set():
            break
        progress(phase)
        run.phase_start = source.requests_made
        try:
            step()
        except SourceError as exc:
            # Users, groups and projects feed every later phase: a failed one ends the pass.
            if phase in ("users", "groups", "projects"):
                run.failed(phase, exc)
            raise
    return SyncReport(
        resources=len(run.resources),
        requests=source.requests_made - before,
        seconds=time.perf_counter() - started,
        changes=run.changes,
        events_queued=run.queued,
        baselines=tuple(run.baselines),
        failures=tuple(run.failures),
        stopped=run.stop.is_set(),
    )


class _Sync:
    """The state of one pass: the source, the store and what has been done so far."""

    def __init__(
        self,
        source: GitLabSource,
        store: Store,
        settings: Settings,
        now: Clock,
        stop: threading.Event,
    ) -> None:
        self.source, self.store, self.settings, self._now = source, store, settings, now
        self.stop = stop
        self.instance = source.check(needs_admin=True)
        self.changes = self.queued = 0
        self.baselines: list[str] = []
        self.resources: set[str] = set()
        self.warned: set[str] = set()
        self.failures: list[str] = []
        self._members: dict[SourceKind, Mapping[tuple[int, int], Member]] = {}
        self.quiet: list[ResourceState] = []  # unchanged member lists' bookkeeping, batched
        # Read once: a pass writes tens of thousands of member lists, one state row each.
        self.states = {state.name: state for state in store.resource_states()}
        self.phase_start = 0
        self.fresh: set[tuple[SourceKind, int]] = set()  # sources added after their baseline
        self.old_groups: Mapping[int, Group] = {}  # the hierarchy before this pass
        # HOOKS.md §4: destroys come last (projects; groups, children first; users), each
        # still committed with its outbox rows in its own transaction.
        self.deferred: dict[str, Callable[[], None]] = {}
        self.doomed: dict[str, set[int]] = {"user": set(), "group": set(), "project": set()}
        self.users_polled = False
        self.alive: set[int] = set()  # users looked up and found during this pass

    # -- phases --------------------------------------------------------------------------------

    def users(self) -> None:
        """Users: upsert what is listed now; confirmed removals wait for the destroy pass."""
        new = {u.id: u for u in self.source.users()}
        self.users_polled = True
        old = self.store.users()
        changes, kept = _confirm(diff.diff_users(old, new), self._user_exists)
        new |= kept
        destroys = [c for c in changes if c.kind == "removed"]
        self.doomed["user"].update(c.key[0] for c in destroys)
        groups = self.store.groups()
        contexts = (self._context(new, groups), self._context(old, groups))
        snapshot = _metas("user", self.store.users_meta())

        def upsert(tx: Transaction, at: dt.datetime) -> None:
            tx.upsert_users(new.values(), at)

        def delete(tx: Transaction, at: dt.datetime) -> None:
            tx.delete_users([c.key[0] for c in destroys])

        rest = [c for c in changes if c.kind != "removed"]
        used = self.source.requests_made - self.phase_start
        self._commit("users", rest, upsert, snapshot, contexts, requests=used)
        if destroys:
            self.deferred["users"] = lambda: self._commit(
                "users", destroys, delete, snapshot, contexts, requests=used
            )

    def groups(self) -> None:
        """Groups and their shares; a vanished group's shares cascade with it."""
        listed, listed_shares = self.source.groups_and_shares()
        new = {g.id: g for g in listed}
        old = self.old_groups = self.store.groups()
        group_changes, kept = _confirm(diff.diff_groups(old, new), self._group_exists)
        new |= kept
        shares = {(s.source_id, s.group_id): s for s in listed_shares}
        share_changes, kept_shares = _confirm(
            diff.diff_shares("group", self.store.shares("group"), shares), self._group_share_exists
        )
        shares |= kept_shares
        removed = [c.key[0] for c in group_changes if c.kind == "removed"]
        self.doomed["group"].update(removed)
        by_group = _by_source(shares.values(), new)

        def write(tx: Transaction, at: dt.datetime) -> None:
            tx.upsert_groups(new.values(), at)
            for group_id, links in by_group.items():
                tx.replace_shares("group", group_id, links, at)

        def delete(tx: Transaction, at: dt.datetime) -> None:
            tx.delete_groups(removed)  # their shares and member rows go with them

        users = self.store.users()
        snapshot = {
            **_metas("group", self.store.groups_meta()),
            **_metas("group_share", self.store.shares_meta("group")),
        }
        changes = diff.order([*group_changes, *share_changes], old_groups=old, new_groups=new)
        contexts = (self._context(users, new), self._context(users, old))
        later = [c for c in changes if _goes_with_destroys(c, self.doomed)]
        now_ = [c for c in changes if not _goes_with_destroys(c, self.doomed)]
        used = self.source.requests_made - self.phase_start
        self._commit(
            "groups",
            now_,
            write,
            snapshot,
            contexts,
            fresh=[("group", c.key[0]) for c in group_changes if c.kind == "added"],
            requests=used,
        )
        if later:
            self.deferred["groups"] = lambda: self._commit(
                "groups", later, delete, snapshot, contexts, requests=used
            )

    def projects(self) -> None:
        """Projects and their shares (stored with the project)."""
        new = {p.id: p for p in self.source.projects()}
        old = self.store.projects()
        project_changes, kept = _confirm(diff.diff_projects(old, new), self._project_exists)
        new |= kept
        share_changes, kept_shares = _confirm(
            diff.diff_shares("project", diff.project_shares(old), diff.project_shares(new)),
            self._project_share_exists,
        )
        new = _with_shares(new, list(kept_shares.values()))
        removed = [c.key[0] for c in project_changes if c.kind == "removed"]
        self.doomed["project"].update(removed)

        def write(tx: Transaction, at: dt.datetime) -> None:
            tx.upsert_projects(new.values(), at)

        def delete(tx: Transaction, at: dt.datetime) -> None:
            tx.delete_projects(removed)  # their shares and member rows go with them

        users, groups = self.store.users(), self.store.groups()
        snapshot = {
            **_metas("project", self.store.projects_meta()),
            **_metas("project_share", self.store.shares_meta("project")),
        }
        changes = diff.order(
            [*project_changes, *share_changes], old_groups=groups, new_groups=groups
        )
        contexts = (
            self._context(users, groups),
            self._context(users, {**groups, **self.old_groups}),
        )
        later = [c for c in changes if _goes_with_destroys(c, self.doomed)]
        now_ = [c for c in changes if not _goes_with_destroys(c, self.doomed)]
        used = self.source.requests_made - self.phase_start
        self._commit(
            "projects",
            now_,
            write,
            snapshot,
            contexts,
            projects=(new, old),
            fresh=[("project", c.key[0]) for c in project_changes if c.kind == "added"],
            requests=used,
        )
        if later:
            self.deferred["projects"] = lambda: self._commit(
                "projects", later, delete, snapshot, contexts, projects=(new, old), requests=used
            )

    def members(self, workers: int) -> None:
        """Direct members of every group and project: read concurrently, written here."""
        users, groups, projects = self.store.users(), self.store.groups(), self.store.projects()
        ctx = self._context(users, groups)
        # Removals route along the hierarchy as it was before this pass (HOOKS.md §6).
        contexts = (ctx, dataclasses.replace(ctx, groups={**groups, **self.old_groups}))
        sources: list[tuple[SourceKind, int]] = [("group", g) for g in sorted(groups)]
        sources += [("project", p) for p in sorted(projects)]
        old = {
            kind: _members_by_source(self.members_at_start(kind)) for kind in ("group", "project")
        }
        metas = {
            kind: _members_by_source(self.store.members_meta(kind)) for kind in ("group", "project")
        }
        self.fresh.update(self._created_after_baseline())
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures: dict[Future[tuple[tuple[Member, ...] | None, int]], tuple[SourceKind, int]] = {
                pool.submit(self._fetch_members, kind, ident): (kind, ident)
                for kind, ident in sources
            }
            for future in as_completed(futures):
                if self.stop.is_set():
                    for pending in futures:
                        pending.cancel()  # lists not yet written are read again next pass
                    break
                kind, ident = futures[future]
                try:
                    listed, requests = future.result()
                    if listed is None:
                        continue  # the source is gone: the next groups/projects phase confirms it
                    self._member_list(
                        kind,
                        ident,
                        listed,
                        old[kind].get(ident, {}),
                        metas[kind].get(ident, {}),
                        contexts,
                        projects,
                        requests,
                    )
                except SourceError as exc:  # this list stays as it was; the others go on
                    self.failed(f"members:{kind}:{ident}", exc)
        self.flush_quiet()

    def _user_doomed(self, user_id: int) -> bool:
        """Is this user being destroyed? Asked of GitLab when this pass did not list users."""
        if self.users_polled or user_id in self.doomed["user"]:
            return user_id in self.doomed["user"]
        if user_id not in self.alive:
            if self.source.get_user(user_id) is None:
                self.doomed["user"].add(user_id)
            else:
                self.alive.add(user_id)
        return user_id in self.doomed["user"]

    def _created_after_baseline(self) -> set[tuple[SourceKind, int]]:
        """Groups and projects first seen after their resource's baseline, by earlier passes.

        Their first member lists are real adds, not a baseline, even when the daemon polls
        members in a later pass than the one that found the group or project.
        """
        fresh: set[tuple[SourceKind, int]] = set()
        sources: tuple[tuple[SourceKind, str, Mapping[int, RowMeta]], ...] = (
            ("group", "groups", self.store.groups_meta()),
            ("project", "projects", self.store.projects_meta()),
        )
        for kind, name, metas in sources:
            state = self.states.get(name)
            if state is None or state.baseline_at is None:
                continue
            baseline = state.baseline_at
            fresh.update((kind, i) for i, meta in metas.items() if meta.first_seen_at > baseline)
        return fresh

    def _fetch_members(self, kind: SourceKind, ident: int) -> tuple[tuple[Member, ...] | None, int]:
        """One member list and the requests it took (counted on the worker's own thread)."""
        before = self.source.requests_by_this_thread
        listed = self.source.members(kind, ident)
        return listed, self.source.requests_by_this_thread - before

    def failed(self, name: str, error: Exception) -> None:
        """Record a failed poll: the snapshot and baseline stay, the error is kept for status."""
        log.warning("%s: %s", name, error)
        self.failures.append(f"{name}: {error}")
        previous = self.states.get(name) or ResourceState(name=name)
        state = dataclasses.replace(
            previous, last_attempt_at=self._now().replace(microsecond=0), last_error=str(error)
        )
        with self.store.transaction() as tx:
            tx.set_resource_state(state)
        self.states[name] = state

    def destroys(self) -> None:
        """Queue destroys last, in GitLab's order: projects, groups (children first), users."""
        for name in ("projects", "groups", "users"):
            commit = self.deferred.pop(name, None)
            if commit is not None:
                commit()

    def _member_list(
        self,
        kind: SourceKind,
        source_id: int,
        listed: Sequence[Member],
        old: Mapping[tuple[int, int], Member],
        metas: Mapping[tuple[int, int], RowMeta],
        contexts: tuple[PayloadContext, PayloadContext],
        projects: Mapping[int, Project],
        requests: int,
    ) -> None:
        new = {(m.source_id, m.user_id): m for m in listed}
        before = self.source.requests_by_this_thread
        changes, kept = _confirm(diff.diff_members(kind, old, new), self._member_exists)
        requests += self.source.requests_by_this_thread - before
        new |= kept
        # Members of users being destroyed get no remove event (HOOKS.md §4 cascades).
        dirty = bool(changes)  # silenced removals still change the snapshot
        changes = tuple(
            c for c in changes if not (c.kind == "removed" and self._user_doomed(c.key[1]))
        )
        resource = "group_member" if kind == "group" else "project_member"

        def write(tx: Transaction, at: dt.datetime) -> None:
            tx.replace_members(kind, source_id, new.values(), at)

        self._commit(
            f"members:{kind}:{source_id}",
            diff.order(changes, old_groups=contexts[1].groups, new_groups=contexts[0].groups),
            write,
            _metas(resource, metas),
            contexts,
            projects=(projects, projects),
            member_list=(kind, source_id),
            requests=requests,
            dirty=dirty,
        )

    # -- commit --------------------------------------------------------------------------------

    def _commit(
        self,
        name: str,
        changes: Sequence[Change[Any]],
        write: Write,
        snapshot: Mapping[str, RowMeta],
        contexts: tuple[PayloadContext, PayloadContext],
        *,
        projects: tuple[Mapping[int, Project], Mapping[int, Project]] = ({}, {}),
        fresh: Iterable[tuple[SourceKind, int]] = (),
        member_list: tuple[SourceKind, int] | None = None,
        requests: int,
        dirty: bool = False,
    ) -> None:
        """Write one resource's changes, outbox rows and state in one transaction."""
        at = contexts[0].observed_at
        previous = self.states.get(name)
        baseline = (
            previous is None or previous.baseline_at is None
        ) and member_list not in self.fresh
        emitted: Sequence[Change[Any]] = changes
        if baseline:
            self.baselines.append(name)
            emit = self.settings.payloads.emit_baseline
            emitted = [c for c in changes if c.kind == "added"] if emit else []
        rows = outbox_rows(
            emitted,
            instance_url=self.instance.url,
            gitlab_version=self.instance.full_version or self.instance.version,
            receivers=self._receivers(contexts) if emitted else (),
            snapshot=snapshot,
            new=contexts[0],
            old=contexts[1],
            new_projects=projects[0],
            old_projects=projects[1],
        )
        state = ResourceState(
            name=name,
            baseline_at=previous.baseline_at if previous and previous.baseline_at else at,
            last_complete_at=at,
            last_attempt_at=at,
            watermark=previous.watermark if previous else None,
            last_requests=requests,
        )
        if member_list is not None and not changes and not dirty and not baseline:
            # Nothing to write but bookkeeping: batch it (a crash loses only timestamps).
            self.quiet.append(state)
            if len(self.quiet) >= QUIET_BATCH:
                self.flush_quiet()
            queued = 0
        else:
            with self.store.transaction() as tx:
                write(tx, at)
                queued = tx.enqueue(rows)
                tx.set_resource_state(state)
        self.states[name] = state
        self.changes += len(changes)
        self.queued += queued
        self.resources.add(name)
        if not baseline:
            self.fresh.update(fresh)
        log.debug("%s: %d changes, %d outbox rows queued", name, len(changes), queued)

    def flush_quiet(self) -> None:
        """Write the batched bookkeeping of unchanged member lists."""
        if self.quiet:
            with self.store.transaction() as tx:
                for state in self.quiet:
                    tx.set_resource_state(state)
            self.quiet.clear()

    def members_at_start(self, kind: SourceKind) -> Mapping[tuple[int, int], Member]:
        """Every direct member row as the pass found it, read once (200k rows cost seconds).

        Member rows change only in the members phase, after every context has been built.
        """
        if kind not in self._members:
            self._members[kind] = self.store.all_members(kind)
        return self._members[kind]

    def _receivers(self, contexts: tuple[PayloadContext, PayloadContext]) -> tuple[Receiver, ...]:
        groups = {**contexts[1].groups, **contexts[0].groups}
        receivers, problems = resolve_receivers(self.settings.hooks, groups)
        for problem in set(problems) - self.warned:
            log.warning("%s", problem)  # once per pass, not once per resource
        self.warned.update(problems)
        return receivers

    def _context(self, users: Mapping[int, User], groups: Mapping[int, Group]) -> PayloadContext:
        return PayloadContext(
            settings=self.settings.payloads,
            enterprise=is_enterprise(self.settings.payloads.edition, self.instance.enterprise),
            users=users,
            groups=groups,
            group_members=self.members_at_start("group"),
            project_members=self.members_at_start("project"),
            observed_at=self._now().replace(microsecond=0),
        )

    # -- point lookups: does a record the listing lacks still exist? -----------------------

    def _user_exists(self, change: Change[Any]) -> bool:
        return self.source.get_user(change.key[0]) is not None

    def _group_exists(self, change: Change[Any]) -> bool:
        return self.source.get_group(change.key[0]) is not None

    def _project_exists(self, change: Change[Any]) -> bool:
        return self.source.get_project(change.key[0]) is not None

    def _member_exists(self, change: Change[Any]) -> bool:
        member: Member = _old(change)
        found = self.source.get_member(member.source_kind, member.source_id, member.user_id)
        return found is not None

    def _group_share_exists(self, change: Change[Any]) -> bool:
        links = self.source.group_shares(change.key[0])
        return links is not None and any(s.group_id == change.key[1] for s in links)

    def _project_share_exists(self, change: Change[Any]) -> bool:
        project = self.source.get_project(change.key[0])
        return project is not None and any(s.group_id == change.key[1] for s in project.shares)


def _goes_with_destroys(change: Change[Any], doomed: Mapping[str, set[int]]) -> bool:
    """A destroy, or a share removal whose shared or invited group or project is destroyed."""
    if change.kind != "removed":
        return False
    if change.resource in ("group", "project"):
        return True
    if change.resource == "group_share":
        return change.key[0] in doomed["group"] or change.key[1] in doomed["group"]
    if change.resource == "project_share":
        return change.key[0] in doomed["project"] or change.key[1] in doomed["group"]
    return False


def _confirm(
    changes: Iterable[Change[Any]], exists: Callable[[Change[Any]], bool]
) -> tuple[tuple[Change[Any], ...], dict[Any, Any]]:
    """Confirmed changes, and the old records (by snapshot key) of removals still found."""
    confirmed: list[Change[Any]] = []
    kept: dict[Any, Any] = {}
    for change in changes:
        if change.kind == "removed" and exists(change):
            log.info("%s: missing from the listing but still exists; kept", change.subject)
            kept[change.key[0] if len(change.key) == 1 else change.key] = _old(change)
        else:
            confirmed.append(change)
    return tuple(confirmed), kept


def _old(change: Change[Any]) -> Any:
    if change.old is None:
        raise ValueError(f"{change.kind} {change.subject}: no old record")
    return change.old


def _metas(resource: str, metas: Mapping[Any, RowMeta]) -> dict[str, RowMeta]:
    """Subject -> row bookkeeping: the revision for ``event_uuid``, timestamps for removals."""
    out: dict[str, RowMeta] = {}
    for key, meta in metas.items():
        parts = key if isinstance(key, tuple) else (key,)
        out[":".join((resource, *map(str, parts)))] = meta
    return out


def _by_source(shares: Iterable[Share], ids: Iterable[int]) -> dict[int, list[Share]]:
    grouped: dict[int, list[Share]] = {i: [] for i in ids}
    for share in shares:
        grouped.setdefault(share.source_id, []).append(share)
    return grouped


def _members_by_source(rows: Mapping[tuple[int, int], T]) -> dict[int, dict[tuple[int, int], T]]:
    """Rows keyed (source_id, user_id), grouped by source: each member list gets only its own."""
    grouped: defaultdict[int, dict[tuple[int, int], T]] = defaultdict(dict)
    for key, member in rows.items():
        grouped[key[0]][key] = member
    return dict(grouped)


def _with_shares(projects: Mapping[int, Project], extra: Sequence[Share]) -> dict[int, Project]:
    """Projects with unconfirmed share removals put back (ordered by invited group id)."""
    out = dict(projects)
    for share in extra:
        if share.source_id in out:
            project = out[share.source_id]
            links = sorted((*project.shares, share), key=lambda s: s.group_id)
            out[share.source_id] = dataclasses.replace(project, shares=tuple(links))
    return out
