"""Memberships and group links of the simulated world, and GitLab's expiry workers.

A member change leaves the traces GitLab leaves (docs/simulator.md#change-signals): a project
member joining, leaving or expiring writes an ``Event`` (role changes and group members write
none), which resets the project's ``last_activity_at`` when it is more than an hour old; every
member change writes an EE ``AuditEvent`` (served on the ``-ee`` profiles only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from bridge.testing.sim import audit
from bridge.testing.sim.rows import AuditEvent, Event, EventAction, Member, Share, SourceKind
from bridge.testing.sim.rules import SimError, check_level
from bridge.testing.sim.tables import Tables

ROOT = 1  # who made a change the control API names no author for: the administrator
# Event::RESET_PROJECT_ACTIVITY_INTERVAL: an event moves last_activity_at only past this age
RESET_PROJECT_ACTIVITY_INTERVAL = dt.timedelta(hours=1)


class Memberships(Tables):
    """Direct members of groups and projects, and groups invited into them."""

    # -- members -------------------------------------------------------------------------

    def add_member(
        self,
        kind: SourceKind,
        source_id: int,
        user_id: int,
        access_level: int,
        *,
        expires_at: dt.date | None = None,
        created_by_id: int | None = None,
        created_at: dt.datetime | None = None,
        author_id: int | None = None,
    ) -> Member:
        """Add a direct member; GitLab answers 409 when the user is one already.

        ``author_id`` is who added them (the audit event's author; default the administrator).
        A pending access request of the user is approved instead: the row keeps its id and
        ``created_at`` (``Members::Creators`` finds it in ``members_and_requesters``).
        """
        with self._lock:
            check_level(access_level)  # Grape validates parameters before the model runs
            key = self._source_key(kind, source_id)
            self._check_minimal_access(kind, source_id, access_level)
            self._user(user_id)
            rows = self._members.get(key, {})
            if user_id in rows:
                raise SimError("Member already exists", 409)
            pending = self._requests.get(key, {})
            request = pending.get(user_id)
            if request is not None:
                self._requests[key] = {k: v for k, v in pending.items() if k != user_id}
            member = Member(
                id=request.id if request else self._next("member"),
                source_kind=kind,
                source_id=source_id,
                user_id=user_id,
                access_level=access_level,
                expires_at=expires_at,
                created_by_id=created_by_id,
                created_at=request.created_at if request else self._now(created_at),
                updated_at=self.clock.now() if request else None,
            )
            self._members[key] = {**rows, user_id: member}
            self._member_traces("create", None, member, author_id)
            self._changed()
            return member

    def _check_minimal_access(self, kind: SourceKind, source_id: int, level: int) -> None:
        if level == 5 and (kind == "project" or self._groups[source_id].parent_id is not None):
            raise SimError("Minimal Access is only for members of top-level groups")

    def _namespace_chain(self, project_id: int) -> list[int]:
        """A project's namespace group and its ancestors (empty for personal projects)."""
        chain: list[int] = []
        gid: int | None = self._projects[project_id].namespace_id
        while gid is not None and gid in self._groups:
            chain.append(gid)
            gid = self._groups[gid].parent_id
        return chain

    def update_member(
        self,
        kind: SourceKind,
        source_id: int,
        user_id: int,
        *,
        author_id: int | None = None,
        **changes: Any,
    ) -> Member:
        """Change a member's ``access_level`` or ``expires_at`` (``updated_at`` moves)."""
        with self._lock:
            key = self._source_key(kind, source_id)
            rows = self._members.get(key, {})
            if user_id not in rows:
                raise SimError("404 Not found", 404)
            unknown = set(changes) - {"access_level", "expires_at"}
            if unknown:
                raise SimError(f"unknown member attribute(s): {', '.join(sorted(unknown))}")
            if "access_level" in changes:
                check_level(changes["access_level"])
                self._check_minimal_access(kind, source_id, changes["access_level"])
            before = rows[user_id]
            member = replace(before, **changes, updated_at=self.clock.now())
            self._members[key] = {**rows, user_id: member}
            self._member_traces("update", before, member, author_id)
            self._changed()
            return member

    def remove_member(
        self, kind: SourceKind, source_id: int, user_id: int, *, author_id: int | None = None
    ) -> None:
        """Remove a direct member."""
        with self._lock:
            key = self._source_key(kind, source_id)
            rows = self._members.get(key, {})
            if user_id not in rows:
                raise SimError("404 Not found", 404)
            self._members[key] = {k: v for k, v in rows.items() if k != user_id}
            self._member_traces("destroy", rows[user_id], None, author_id)
            self._changed()

    # -- the traces a member change leaves ------------------------------------------------

    def _member_traces(
        self,
        action: audit.MemberAction,
        before: Member | None,
        after: Member | None,
        author_id: int | None,
    ) -> None:
        """The project event (joined, left, expired) and the EE audit event of one change."""
        member = after or before
        assert member is not None
        at = self.clock.now()
        kind: dict[str, EventAction] = {"create": "joined", "destroy": "left", "expired": "expired"}
        if member.source_kind == "project" and action in kind:
            self._project_event(member.source_id, member.user_id, kind[action], at)
        author = self._users.get(author_id or ROOT)
        if action == "expired":  # a worker, not a person: the unauthenticated author (-1)
            author_id = audit.system_author(member)
        details = audit.member_details(
            action,
            member,
            before=before,
            author=author,
            user=self._users.get(member.user_id),
            creator=self._users.get(member.created_by_id or 0),
        )
        self._audit_events.append(
            AuditEvent(
                id=self._next("audit_event"),
                author_id=author_id or ROOT,
                entity_id=member.source_id,
                entity_type="Project" if member.source_kind == "project" else "Group",
                details=details,
                created_at=at,
            )
        )

    def _project_event(
        self, project_id: int, user_id: int, action: EventAction, at: dt.datetime
    ) -> None:
        """``Event`` after_create: ``reset_project_activity`` moves ``last_activity_at`` to the
        event's time when it is at least an hour old (newer GitLab's ``touch_all`` moves
        ``updated_at`` with it); a recent one is left alone."""
        self._events.append(
            Event(id=self._next("event"), project_id=project_id, author_id=user_id,
                  action=action, created_at=at)
        )  # fmt: skip
        project = self._projects[project_id]
        if project.last_activity_at > at - RESET_PROJECT_ACTIVITY_INTERVAL:
            return
        touched = at if self.activity_touches_updated_at else project.updated_at
        self._projects[project_id] = replace(project, last_activity_at=at, updated_at=touched)

    # -- shares (group links) ------------------------------------------------------------

    def share(
        self,
        kind: SourceKind,
        shared_id: int,
        group_id: int,
        group_access: int,
        *,
        expires_at: dt.date | None = None,
        created_at: dt.datetime | None = None,
    ) -> Share:
        """Invite ``group_id`` into a project or group (a project or group link)."""
        with self._lock:
            check_level(group_access)
            key = self._source_key(kind, shared_id)
            self._group(group_id)
            if kind == "group" and group_id == shared_id:
                raise SimError("a group cannot be shared with itself")
            if kind == "project" and group_id in self._namespace_chain(shared_id):
                raise SimError(
                    "Project cannot be shared with the group it is in or one of its ancestors."
                )
            links = self._shares.get(key, {})
            if group_id in links:
                raise SimError("The group has already been shared with this group", 409)
            link = Share(
                id=self._next("share"),
                source_kind=kind,
                shared_id=shared_id,
                group_id=group_id,
                group_access=group_access,
                expires_at=expires_at,
                created_at=self._now(created_at),
            )
            self._shares[key] = {**links, group_id: link}
            self._changed()
            return link

    def update_share(
        self, kind: SourceKind, shared_id: int, group_id: int, **changes: Any
    ) -> Share:
        """Change a link's ``group_access`` or ``expires_at``."""
        with self._lock:
            key = self._source_key(kind, shared_id)
            links = self._shares.get(key, {})
            if group_id not in links:
                raise SimError("404 Group Link Not Found", 404)
            unknown = set(changes) - {"group_access", "expires_at"}
            if unknown:
                raise SimError(f"unknown link attribute(s): {', '.join(sorted(unknown))}")
            if "group_access" in changes:
                check_level(changes["group_access"])
            link = replace(links[group_id], **changes)
            self._shares[key] = {**links, group_id: link}
            self._changed()
            return link

    def unshare(self, kind: SourceKind, shared_id: int, group_id: int) -> None:
        """Remove a project or group link."""
        with self._lock:
            key = self._source_key(kind, shared_id)
            links = self._shares.get(key, {})
            if group_id not in links:
                raise SimError("404 Group Link Not Found", 404)
            self._shares[key] = {k: v for k, v in links.items() if k != group_id}
            self._changed()

    def expire(self, today: dt.date | None = None) -> int:
        """GitLab's daily workers: delete memberships and links whose expiry date has passed."""
        with self._lock:
            day = today or self.clock.now().date()
            removed = 0
            for key, rows in list(self._members.items()):
                kept = {k: m for k, m in rows.items() if m.expires_at is None or m.expires_at > day}
                removed += len(rows) - len(kept)
                self._members[key] = kept
                for gone in (m for k, m in rows.items() if k not in kept):
                    self._member_traces("expired", gone, None, None)
            for key, links in list(self._shares.items()):
                kept_links = {
                    k: s for k, s in links.items() if s.expires_at is None or s.expires_at > day
                }
                removed += len(links) - len(kept_links)
                self._shares[key] = kept_links
            if removed:
                self._changed()
            return removed
