"""The simulated GitLab's tables, lock and id sequences, shared by every kind of mutation."""

from __future__ import annotations

import datetime as dt
import threading

from bridge.testing.sim.rows import (
    AuditEvent,
    Event,
    Group,
    Member,
    Project,
    Share,
    SourceKind,
    User,
)
from bridge.testing.sim.rules import SimClock, SimError
from bridge.testing.sim.snapshot import Snapshot


class Tables:
    """Rows of one instance behind one lock; ``snapshot()`` is the read side."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock()
        self._lock = threading.RLock()
        self._users: dict[int, User] = {}
        self._groups: dict[int, Group] = {}
        self._projects: dict[int, Project] = {}
        self._personal: dict[int, int] = {}  # personal namespace id -> user id
        self._members: dict[tuple[SourceKind, int], dict[int, Member]] = {}
        # Access requests: member rows with requested_at set, kept apart so that nothing
        # reading members can count them (GitLab's ``non_request`` scopes).
        self._requests: dict[tuple[SourceKind, int], dict[int, Member]] = {}
        self._shares: dict[tuple[SourceKind, int], dict[int, Share]] = {}
        self._tokens: dict[str, int] = {}
        self._events: list[Event] = []
        self._audit_events: list[AuditEvent] = []
        self._seq = dict.fromkeys(
            ("user", "namespace", "project", "member", "share", "event", "audit_event"), 0
        )
        # Newer GitLab resets a project's activity with touch_all, which sets updated_at too
        # (docs/simulator.md#change-signals); the simulator sets this from its profile.
        self.activity_touches_updated_at = True
        # 17.0+ records the approver as an approved request's created_by (set from the profile).
        self.approval_sets_created_by = True
        self._version = 0
        self._snapshot: Snapshot | None = None

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Immutable view of the current state (shared until the next mutation)."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = Snapshot(
                    version=self._version,
                    users=dict(self._users),
                    groups=dict(self._groups),
                    projects=dict(self._projects),
                    personal=dict(self._personal),
                    members=dict(self._members),
                    requests=dict(self._requests),
                    shares=dict(self._shares),
                    tokens=dict(self._tokens),
                    events=tuple(self._events),
                    audit_events=tuple(self._audit_events),
                )
            return self._snapshot

    @property
    def version(self) -> int:
        """Counter bumped by every mutation."""
        return self._version

    def _next(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def _changed(self) -> None:
        self._version += 1
        self._snapshot = None

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        return at if at is not None else self.clock.now()

    def _user(self, user_id: int) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise SimError(f"user {user_id} not found", 404) from None

    def _group(self, group_id: int) -> Group:
        try:
            return self._groups[group_id]
        except KeyError:
            raise SimError(f"group {group_id} not found", 404) from None

    def _project(self, project_id: int) -> Project:
        try:
            return self._projects[project_id]
        except KeyError:
            raise SimError(f"project {project_id} not found", 404) from None

    def _source_key(self, kind: SourceKind, source_id: int) -> tuple[SourceKind, int]:
        if kind == "group":
            self._group(source_id)
        elif kind == "project":
            self._project(source_id)
        else:
            raise SimError(f"source kind {kind!r} is not group or project")
        return kind, source_id
