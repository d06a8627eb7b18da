"""Targeted re-reads: one member list, one group's shares, one listing, or one signal.

Each read is split in two: ``fetch`` asks GitLab (on a worker thread, nothing else), ``apply``
diffs what came back against the snapshot rows of that source only and commits through the
same path as the full pass (``Pass.commit``: diff, confirmed removals, outbox and bookkeeping
in ONE transaction). A signal never makes an event by itself: it only says which sources to
read again (``Outcome.hints``), except where the signal's answer is the record itself (the
newest users, groups and projects, and projects changed since), which is diffed like any
listing. Listings (``users``, ``groups``, ``projects``) fetch and apply in one step, alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.hooks import diff
from bridge.model.changes import Change, Sides, subjects
from bridge.model.ledger import ResourceState, member_list
from bridge.model.records import Group, Project, Share, SourceKind, User
from bridge.model.signals import AuditEntry, Membership
from bridge.ports import SnapshotWriter, Source
from bridge.sync import members as member_lists
from bridge.sync import phases
from bridge.sync.confirm import confirm
from bridge.sync.members import MemberList
from bridge.sync.planner import kind_of
from bridge.sync.state import Pass

log = logging.getLogger(__name__)
IdKind = Literal["user", "group", "project"]
LISTINGS = frozenset({"users", "groups", "projects"})
OVERLAP = dt.timedelta(seconds=60)  # a changed-since window reaches back over clock skew


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a read found beyond its own commit: sources to read now, tasks to add or drop."""

    hints: tuple[str, ...] = ()
    added: tuple[str, ...] = ()  # new sources' tasks (hinted too)
    removed: tuple[str, ...] = ()
    new_users: tuple[User, ...] = ()  # whose memberships to watch
    watermark: str | None = None  # the signal's new watermark


def source_tasks(kind: SourceKind, ident: int) -> tuple[str, ...]:
    """The tasks a group or project brings: its member list, and a group's shares."""
    if kind == "group":
        return (member_list("group", ident), f"shares:group:{ident}")
    return (member_list("project", ident),)


# --- fetch (worker threads: GitLab only) -------------------------------------------------------


def fetch(
    source: Source,
    store_max: Callable[[IdKind], int],
    key: str,
    since: str | None,
    *,
    first: bool = False,
    with_requests: bool = False,
) -> Any:
    """What GitLab answers for one task (None: the source is gone). ``first``: the groups listing
    is the baseline, so it reads every group's shares too; ``with_requests``: member lists come
    with their access requests."""
    kind = kind_of(key)
    ident = key.rsplit(":", 1)[-1]
    match kind:
        case "users":
            return source.users()
        case "groups":
            return source.groups_and_shares() if first else (source.groups(), ())
        case "projects":
            return source.projects()
        case "members:group" | "members:project":
            return member_lists.read_list(source, kind[8:], int(ident), with_requests)  # type: ignore[arg-type]
        case "shares:group":
            return source.group_shares(int(ident))
        case "memberships":
            return source.user_memberships(int(ident))
        case "signal:new_users":
            return source.newest_users(store_max("user"))
        case "signal:new_groups":
            return source.newest_groups(store_max("group"))
        case "signal:new_projects":
            return source.newest_projects(store_max("project"))
        case "signal:changed_projects":
            if source.capabilities.updated_after:
                return source.changed_projects(_since(since), by="updated_at")
            return source.changed_projects(_since(since), by="last_activity_at")
        case "signal:audit":
            after, _, at = (since or "0|").partition("|")
            return source.audit_entries(_since(at or None), after_id=int(after or 0))
    raise ValueError(f"{key}: not a task")


def _since(watermark: str | None) -> dt.datetime:
    if watermark:
        return dt.datetime.fromisoformat(watermark)
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


# --- apply (the reconciler's thread: diff, commit, hints) --------------------------------------


class Applier:
    """Applies fetched answers to the snapshot, one task at a time, within one ``Pass``."""

    def __init__(
        self,
        run: Pass,
        users: Mapping[int, User],
        groups: Mapping[int, Group],
        *,
        window: float,
        now: dt.datetime,
    ) -> None:
        """``users``/``groups``: the snapshot's, kept by the reconciler; ``window``: how long
        a user counts as new (``freshness.new_user_window``); ``now``: when the batch began."""
        self.run, self.users, self.groups, self.window = run, users, groups, window
        self.store, self.now = run.store, now

    def listing(self, key: str, listed: Any) -> Outcome:
        """Settle the users, groups or projects listing ``fetch`` read from ``self.now`` on
        (destroys last); rows changed since by targeted reads keep their newer state."""
        run = self.run
        before_groups, before_projects = set(self.groups), set(self.store.ids("project"))
        run.phase_start = run.source.requests_made
        if key == "users":
            phases.users(run, listed, self.now)
        elif key == "groups":
            # The first listing is the baseline of every group's shares too; later, each
            # group's shares are a task of their own.
            first = not _has_baseline(run, "groups")
            phases.groups(run, with_shares=first, listed=listed, read_at=self.now)
            if run.doomed["group"]:  # GitLab destroys a group's projects first
                phases.projects(run)
        else:
            phases.projects(run, listed, self.now)
        run.destroys()
        groups, projects = set(self.store.groups()), set(self.store.ids("project"))
        return _sources_moved(before_groups, groups, before_projects, projects)

    def apply(self, key: str, answer: Any, requests: int) -> Outcome:
        """Settle one fetched task's answer."""
        kind = kind_of(key)
        ident = int(key.rsplit(":", 1)[-1]) if kind not in SIGNAL_KINDS else 0
        if kind in ("members:group", "members:project"):
            return self._members(kind.split(":")[1], ident, answer, requests)  # type: ignore[arg-type]
        if kind == "shares:group":
            return self._shares(ident, answer, requests)
        if kind == "memberships":
            return self._memberships(ident, answer)
        return SIGNAL_APPLY[kind](self, key, answer, requests)

    # -- sources -------------------------------------------------------------------------------

    def _members(self, kind: SourceKind, ident: int, listed: MemberList, requests: int) -> Outcome:
        if listed.members is None:  # gone: the listing confirms it and sends the destroy
            return Outcome(hints=(f"{kind}s",))
        run = self.run
        resource = run.states.get(f"{kind}s")
        first = self.store.first_seen(kind, ident)
        if resource and resource.baseline_at and first and first > resource.baseline_at:
            run.fresh.add((kind, ident))  # created since the baseline: its first members are adds
        ctx = run.context(self.users, self.groups)
        project = self.store.project(ident) if kind == "project" else None
        projects = {ident: project} if project else {}
        old = {(ident, m.user_id): m for m in self.store.members(kind, ident).values()}
        member_lists.settle_list(
            run,
            kind,
            ident,
            listed,
            old=old,
            metas=self.store.members_meta_of(kind, ident),
            contexts=Sides(new=ctx, old=ctx),
            projects=projects,
            requests=requests,
        )
        run.flush_quiet()
        return Outcome()

    def _shares(self, ident: int, listed: tuple[Share, ...] | None, requests: int) -> Outcome:
        if listed is None:
            return Outcome(hints=("groups",))
        run = self.run
        old = self.store.shares_of("group", ident)
        new = {(s.source_id, s.group_id): s for s in listed}
        changes, kept = confirm(diff.diff_shares("group", old, new), run.exists.group_share)
        new |= kept
        # A link into a group destroyed meanwhile goes silently with it (docs/events.md#cascades);
        # the groups listing may not have seen that destroy yet, so GitLab is asked.
        invited = {c.key[1] for c in changes if c.kind == "removed"}
        gone = {g for g in invited if g not in self.groups or run.source.get_group(g) is None}
        run.doomed["group"].update(gone)

        def write(tx: SnapshotWriter, at: dt.datetime) -> None:
            tx.replace_shares("group", ident, new.values(), at)

        ctx = run.context(self.users, self.groups)
        run.commit(
            f"shares:group:{ident}",
            [c for c in changes if not (c.kind == "removed" and c.key[1] in gone)],
            write,
            subjects("group_share", self.store.shares_meta_of("group", ident)),
            Sides(new=ctx, old=ctx),
            requests=requests,
            baseline_from="groups",
        )
        return Outcome()

    def _memberships(self, user_id: int, listed: tuple[Membership, ...] | None) -> Outcome:
        """Member lists where this user's memberships differ from the snapshot's."""
        if listed is None:
            return Outcome(removed=(f"memberships:{user_id}",), hints=("users",))
        stored = self.store.memberships_of(user_id)
        seen = {(m.kind, m.source_id): m.access_level for m in listed}
        differ = {
            k for k, level in seen.items() if k not in stored or stored[k].access_level != level
        }
        differ |= set(stored) - set(seen)
        hints = tuple(sorted(member_list(kind, ident) for kind, ident in differ))
        user = self.users.get(user_id)
        created = user.created_at if user else None
        expired = created is None or (self.now - created).total_seconds() > self.window
        return Outcome(hints=hints, removed=(f"memberships:{user_id}",) if expired else ())

    # -- signals -------------------------------------------------------------------------------

    def _new_users(self, key: str, listed: tuple[User, ...], requests: int) -> Outcome:
        run = self.run
        new = {u.id: u for u in listed if u.id not in self.users}
        if not new or not _has_baseline(run, "users"):
            return Outcome()
        ctx = run.context({**self.users, **new}, self.groups)

        def write(tx: SnapshotWriter, at: dt.datetime) -> None:
            tx.upsert_users(new.values(), at)

        run.commit(key, diff.diff_users({}, new), write, {}, Sides(new=ctx, old=ctx),
                   requests=requests, baseline_from="users")  # fmt: skip
        return Outcome(new_users=tuple(new.values()))

    def _new_groups(self, key: str, listed: tuple[Group, ...], requests: int) -> Outcome:
        run = self.run
        new = {g.id: g for g in listed if g.id not in self.groups}
        if not new or not _has_baseline(run, "groups"):
            return Outcome()
        groups = {**self.groups, **new}
        ctx = run.context(self.users, groups)

        def write(tx: SnapshotWriter, at: dt.datetime) -> None:
            tx.upsert_groups(new.values(), at)

        changes = diff.order(diff.diff_groups({}, new), old_groups=self.groups, new_groups=groups)
        run.commit(key, changes, write, {}, Sides(new=ctx, old=ctx), requests=requests,
                   baseline_from="groups")  # fmt: skip
        added = tuple(t for g in sorted(new) for t in source_tasks("group", g))
        return Outcome(added=added)

    def _new_projects(self, key: str, listed: tuple[Project, ...], requests: int) -> Outcome:
        known = set(self.store.metas_of("project", (p.id for p in listed)))
        new = {p.id: p for p in listed if p.id not in known}
        if not new or not _has_baseline(self.run, "projects"):
            return Outcome()
        self._settle_projects(key, {}, new, requests)
        return Outcome(added=tuple(member_list("project", p) for p in sorted(new)))

    def _changed_projects(self, key: str, listed: tuple[Project, ...], requests: int) -> Outcome:
        """Projects whose activity or update time moved: diffed, and their members hinted.

        The window reaches back ``OVERLAP``, so a project comes back once more: where the API
        shows ``updated_at`` (16.x), an unchanged one is no new hint.
        """
        run = self.run
        watermark = (self.now - OVERLAP).isoformat()
        if not listed or not _has_baseline(run, "projects"):
            return Outcome(watermark=watermark)
        old = {p.id: p for p in (self.store.project(q.id) for q in listed) if p is not None}
        new = {p.id: p for p in listed if p.id not in old or not _seen(old[p.id], p)}
        if new:
            self._settle_projects(key, {i: old[i] for i in new if i in old}, new, requests)
        hints = tuple(member_list("project", p) for p in sorted(new) if p in old)
        added = tuple(member_list("project", p) for p in sorted(set(new) - set(old)))
        return Outcome(hints=hints, added=added, watermark=watermark)

    def _audit(self, key: str, entries: tuple[AuditEntry, ...], requests: int) -> Outcome:
        hints: set[str] = set()
        for entry in entries:
            if entry.entity_type == "Group":
                hints.update(source_tasks("group", entry.entity_id))
                if entry.entity_id not in self.groups:
                    hints.add("signal:new_groups")
            elif entry.entity_type == "Project":
                hints.add(member_list("project", entry.entity_id))
                hints.add("signal:new_projects")
            elif entry.entity_type == "User":
                hints.add("signal:new_users")
        state = self.run.states.get(key)
        watermark = state.watermark if state else None
        if entries:
            last = max(entries, key=lambda e: e.id)
            watermark = f"{last.id}|{(last.created_at - OVERLAP).isoformat()}"
        return Outcome(hints=tuple(sorted(hints)), watermark=watermark)

    def _settle_projects(
        self, key: str, old: Mapping[int, Project], new: Mapping[int, Project], requests: int
    ) -> None:
        run = self.run
        changes: list[Change[Any]] = [
            *diff.diff_projects(old, new),
            *diff.diff_shares("project", diff.project_shares(old), diff.project_shares(new)),
        ]
        ctx = run.context(self.users, self.groups)

        def write(tx: SnapshotWriter, at: dt.datetime) -> None:
            tx.upsert_projects(new.values(), at)

        metas = self.store.metas_of("project", new)
        run.commit(
            key,
            diff.order(changes, old_groups=self.groups, new_groups=self.groups),
            write,
            {
                **subjects("project", metas),
                **subjects("project_share", _share_metas(self, new)),
            },
            Sides(new=ctx, old=ctx),
            projects=Sides(old=old, new=new),
            fresh=[("project", p) for p in new if p not in old],
            requests=requests,
            baseline_from="projects",
        )

    def record(self, key: str, requests: int, watermark: str | None) -> None:
        """A signal's own state row: when it was last read, what it cost, its watermark."""
        run = self.run
        previous = run.states.get(key)
        at = self.now.replace(microsecond=0)
        state = ResourceState(
            name=key,
            baseline_at=previous.baseline_at if previous and previous.baseline_at else at,
            last_complete_at=at,
            last_attempt_at=at,
            watermark=watermark if watermark is not None or not previous else previous.watermark,
            last_requests=requests,
        )
        with self.store.transaction() as tx:
            tx.set_resource_state(state)
        run.states[key] = state


def _share_metas(applier: Applier, projects: Mapping[int, Project]) -> dict[tuple[int, int], Any]:
    out: dict[tuple[int, int], Any] = {}
    for ident in projects:
        out.update(applier.store.shares_meta_of("project", ident))
    return out


def _sources_moved(
    groups_before: set[int],
    groups_after: set[int],
    projects_before: set[int],
    projects_after: set[int],
) -> Outcome:
    added = [t for g in sorted(groups_after - groups_before) for t in source_tasks("group", g)]
    added += [member_list("project", p) for p in sorted(projects_after - projects_before)]
    removed = [t for g in sorted(groups_before - groups_after) for t in source_tasks("group", g)]
    removed += [member_list("project", p) for p in sorted(projects_before - projects_after)]
    return Outcome(added=tuple(added), removed=tuple(removed))


def _has_baseline(run: Pass, resource: str) -> bool:
    state = run.states.get(resource)
    return state is not None and state.baseline_at is not None


def _seen(stored: Project, listed: Project) -> bool:
    """The snapshot already holds this version of the project (16.x shows ``updated_at``)."""
    return listed.updated_at is not None and stored.updated_at == listed.updated_at


SIGNAL_KINDS = frozenset(
    {"signal:new_users", "signal:new_groups", "signal:new_projects", "signal:changed_projects",
     "signal:audit"}
)  # fmt: skip
SIGNAL_APPLY: dict[str, Callable[[Applier, str, Any, int], Outcome]] = {
    "signal:new_users": Applier._new_users,
    "signal:new_groups": Applier._new_groups,
    "signal:new_projects": Applier._new_projects,
    "signal:changed_projects": Applier._changed_projects,
    "signal:audit": Applier._audit,
}
