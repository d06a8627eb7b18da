"""The state of one sync pass, and how a resource's changes are committed.

``Pass`` carries what a pass has done so far; the phases (``bridge.sync.phases``,
``bridge.sync.members``) call ``settle`` or ``commit`` for each resource: its snapshot changes,
its outbox rows and its bookkeeping go in ONE transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bridge.clock import Clock
from bridge.config.settings import Settings
from bridge.hooks.diff import order
from bridge.hooks.events import NO_PROJECTS
from bridge.hooks.outbox import outbox_rows
from bridge.hooks.payloads.context import PayloadContext, is_enterprise
from bridge.hooks.routing import Receiver, resolve_receivers
from bridge.model.changes import LINK_RECORDS, Change, Sides
from bridge.model.ledger import ResourceState, RowMeta
from bridge.model.records import Group, Member, Project, SourceKind, User
from bridge.ports import SnapshotStore, SnapshotWriter, Source
from bridge.sync.cascades import cascaded
from bridge.sync.confirm import Lookups

log = logging.getLogger(__name__)
QUIET_BATCH = 500
Write = Callable[[SnapshotWriter, dt.datetime], object]


class Pass:
    """The state of one pass: the source, the store and what has been done so far."""

    def __init__(
        self,
        source: Source,
        store: SnapshotStore,
        settings: Settings,
        now: Clock,
        stop: threading.Event,
        *,
        states: dict[str, ResourceState] | None = None,
        lazy_members: bool = False,
    ) -> None:
        """``states``: the resources' bookkeeping when the caller keeps it (the reconciler),
        updated in place; ``lazy_members``: read member rows on demand (targeted re-reads)."""
        self.source, self.store, self.settings, self._now = source, store, settings, now
        self.stop = stop
        self.instance = source.check(needs_admin=True)
        self.exists = Lookups(source)
        self.changes = self.queued = 0
        self.baselines: list[str] = []
        self.resources: set[str] = set()
        self.warned: set[str] = set()
        self.failures: list[str] = []
        self._members: dict[SourceKind, Mapping[tuple[int, int], Member]] = {}
        self.quiet: list[ResourceState] = []  # unchanged member lists' bookkeeping, batched
        # Read once: a pass writes tens of thousands of member lists, one state row each.
        if states is None:
            states = {state.name: state for state in store.resource_states()}
        self.states = states
        self.lazy_members = lazy_members
        self.phase_start = 0
        self.fresh: set[tuple[SourceKind, int]] = set()  # sources added after their baseline
        self.old_groups: Mapping[int, Group] = {}  # the hierarchy before this pass
        self.deferred: dict[str, Callable[[], None]] = {}  # destroys, committed last
        self.doomed: dict[str, set[int]] = {"user": set(), "group": set(), "project": set()}
        self.groups_polled = False

    def now(self) -> dt.datetime:
        """The pass's clock."""
        return self._now()

    @property
    def requests_this_phase(self) -> int:
        """Requests since the current phase started."""
        return self.source.requests_made - self.phase_start

    def settle(
        self,
        name: str,
        changes: Sequence[Change[Any]],
        *,
        write: Write,
        delete: Write,
        snapshot: Mapping[str, RowMeta],
        contexts: Sides[PayloadContext],
        projects: Sides[Mapping[int, Project]] = NO_PROJECTS,
        fresh: Iterable[tuple[SourceKind, int]] = (),
        baseline_from: str | None = None,
    ) -> None:
        """Commit a resource's changes now, and defer its destroys to the end of the pass."""
        used = self.requests_this_phase
        later = [c for c in changes if goes_with_destroys(c, self.doomed)]
        now = [c for c in changes if not goes_with_destroys(c, self.doomed)]
        self.commit(name, now, write, snapshot, contexts, projects=projects, fresh=fresh,
                    requests=used, baseline_from=baseline_from)  # fmt: skip
        if later:

            def destroy() -> None:
                # Read now: the members phase may have changed these rows since.
                rows, metas, owned = cascaded(self.store, later)
                sides = projects
                if owned:
                    sides = Sides(old={**owned, **projects.old}, new={**owned, **projects.new})
                self.commit(name, order([*rows, *later], old_groups=contexts.old.groups,
                            new_groups=contexts.new.groups), delete, {**snapshot, **metas},
                            contexts, projects=sides, requests=used,
                            baseline_from=baseline_from)  # fmt: skip

            self.deferred[name] = destroy

    def destroys(self) -> None:
        """Queue destroys last, in GitLab's order: projects, groups (children first), users."""
        for name in ("projects", "groups", "users"):
            commit = self.deferred.pop(name, None)
            if commit is not None:
                commit()

    def failed(self, name: str, error: Exception) -> None:
        """Record a failed poll: the snapshot and baseline stay, the error is kept for status."""
        if self.stop.is_set():  # cut short by a stop: not GitLab's fault, nothing to record
            log.info("%s: stopped (%s)", name, error)
            return
        log.warning("%s: %s", name, error)
        self.failures.append(f"{name}: {error}")
        previous = self.states.get(name) or ResourceState(name=name)
        state = dataclasses.replace(
            previous, last_attempt_at=self._now().replace(microsecond=0), last_error=str(error)
        )
        with self.store.transaction() as tx:
            tx.set_resource_state(state)
        self.states[name] = state

    def commit(
        self,
        name: str,
        changes: Sequence[Change[Any]],
        write: Write,
        snapshot: Mapping[str, RowMeta],
        contexts: Sides[PayloadContext],
        *,
        projects: Sides[Mapping[int, Project]] = NO_PROJECTS,
        fresh: Iterable[tuple[SourceKind, int]] = (),
        member_list: tuple[SourceKind, int] | None = None,
        requests: int,
        dirty: bool = False,
        baseline_from: str | None = None,
    ) -> None:
        """Write one resource's changes, outbox rows and state in one transaction.

        ``baseline_from``: the resource whose baseline covers this one (a targeted read of
        groups the ``groups`` listing recorded is no baseline of its own).
        """
        at = contexts.new.observed_at
        previous = self.states.get(name)
        covering = self.states.get(baseline_from) if baseline_from else previous
        baseline = (
            covering is None or covering.baseline_at is None
        ) and member_list not in self.fresh
        emitted: Sequence[Change[Any]] = changes
        if baseline:
            self.baselines.append(name)
            emit = self.settings.payloads.emit_baseline
            emitted = [c for c in changes if c.kind == "added"] if emit else []
        # A re-added member or share continues its removed row's revision: new event ids.
        revived = {
            c.subject
            for c in emitted
            if c.kind == "added" and c.record in LINK_RECORDS and c.subject not in snapshot
        }
        rows = outbox_rows(
            emitted,
            instance_url=self.instance.url,
            gitlab_version=self.instance.full_version or self.instance.version,
            receivers=self._receivers(contexts) if emitted else (),
            snapshot=snapshot,
            contexts=contexts,
            projects=projects,
            removed=self.store.tombstones(revived) if revived else {},
            doomed=self.doomed,
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
            self._members[kind] = (
                self.store.member_view(kind) if self.lazy_members else self.store.all_members(kind)
            )
        return self._members[kind]

    def context(self, users: Mapping[int, User], groups: Mapping[int, Group]) -> PayloadContext:
        """A payload context over these users and groups, observed now."""
        return PayloadContext(
            settings=self.settings.payloads,
            enterprise=is_enterprise(self.settings.payloads.edition, self.instance.enterprise),
            users=users,
            groups=groups,
            group_members=self.members_at_start("group"),
            project_members=self.members_at_start("project"),
            observed_at=self._now().replace(microsecond=0),
        )

    def _receivers(self, contexts: Sides[PayloadContext]) -> tuple[Receiver, ...]:
        groups = {**contexts.old.groups, **contexts.new.groups}
        receivers, problems = resolve_receivers(self.settings.hooks, groups)
        for problem in set(problems) - self.warned:
            log.warning("%s", problem)  # once per pass, not once per resource
        self.warned.update(problems)
        return receivers


def goes_with_destroys(change: Change[Any], doomed: Mapping[str, set[int]]) -> bool:
    """A destroy, or a share removal whose shared or invited group or project is destroyed."""
    if change.kind != "removed":
        return False
    if change.record in ("user", "group", "project"):
        return True
    if change.record == "group_share":
        return change.key[0] in doomed["group"] or change.key[1] in doomed["group"]
    if change.record == "project_share":
        return change.key[0] in doomed["project"] or change.key[1] in doomed["group"]
    return False
