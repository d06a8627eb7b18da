"""The simulated GitLab's database: mutable behind one lock, read through immutable snapshots.

Writers take the lock and replace records (they are frozen); readers take ``snapshot()``, which
is built once per change and shared, so a page read never sees half a mutation while mutations
still land between page requests, as in GitLab (GITLAB_API.md §3.4).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from bridge.testing.records import (
    USER_STATES,
    VISIBILITIES,
    VISIBILITY_RANK,
    Group,
    Member,
    Project,
    Share,
    SourceKind,
    User,
    Visibility,
)
from bridge.testing.snapshot import Snapshot

_PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class SimError(Exception):
    """A mutation GitLab would refuse; ``status`` is the HTTP status the control API answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Clock:
    """Wall clock with an offset, so tests and demos can move time forward."""

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._offset = dt.timedelta()

    def now(self) -> dt.datetime:
        """Current simulated time (aware UTC)."""
        return self._now() + self._offset

    def advance(self, seconds: float) -> dt.datetime:
        """Move simulated time forward."""
        self._offset += dt.timedelta(seconds=seconds)
        return self.now()


class World:
    """All records of one simulated instance, with GitLab's id sequences and cascades."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        self._users: dict[int, User] = {}
        self._groups: dict[int, Group] = {}
        self._projects: dict[int, Project] = {}
        self._personal: dict[int, int] = {}  # personal namespace id -> user id
        self._members: dict[tuple[SourceKind, int], dict[int, Member]] = {}
        self._shares: dict[tuple[SourceKind, int], dict[int, Share]] = {}
        self._tokens: dict[str, int] = {}
        self._seq = {"user": 0, "namespace": 0, "project": 0, "member": 0, "share": 0}
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
                    shares=dict(self._shares),
                    tokens=dict(self._tokens),
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

    # -- users ---------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        email: str | None = None,
        created_at: dt.datetime | None = None,
        **attrs: Any,
    ) -> User:
        """Create a user and its personal namespace (which takes a namespace id, like a group)."""
        with self._lock:
            self._check_path(username, "username")
            if any(u.username.lower() == username.lower() for u in self._users.values()):
                raise SimError(f"username {username!r} has already been taken", 409)
            self._check_user_attrs(attrs)
            user = User(
                id=self._next("user"),
                username=username,
                name=name or username,
                email=email or f"{username}@example.com",
                namespace_id=self._next("namespace"),
                created_at=self._now(created_at),
                **attrs,
            )
            self._users[user.id] = user
            self._personal[user.namespace_id] = user.id
            self._changed()
            return user

    def update_user(self, user_id: int, **changes: Any) -> User:
        """Change a user's attributes (a new ``username`` renames their namespace too)."""
        with self._lock:
            user = self._user(user_id)
            if "username" in changes:
                self._check_path(changes["username"], "username")
                taken = {u.username.lower() for u in self._users.values() if u.id != user_id}
                if changes["username"].lower() in taken:
                    raise SimError(f"username {changes['username']!r} has already been taken", 409)
            self._check_user_attrs(changes)
            self._users[user_id] = updated = replace(user, **changes)
            self._changed()
            return updated

    def remove_user(self, user_id: int) -> None:
        """Delete a user with their memberships, personal projects and tokens."""
        with self._lock:
            user = self._user(user_id)
            for project in [
                p for p in self._projects.values() if p.namespace_id == user.namespace_id
            ]:
                self._drop_project(project.id)
            for key, rows in list(self._members.items()):
                if user_id in rows:
                    self._members[key] = {k: v for k, v in rows.items() if k != user_id}
            self._tokens = {t: u for t, u in self._tokens.items() if u != user_id}
            del self._personal[user.namespace_id]
            del self._users[user_id]
            self._changed()

    def _user(self, user_id: int) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise SimError(f"user {user_id} not found", 404) from None

    @staticmethod
    def _check_user_attrs(attrs: dict[str, Any]) -> None:
        allowed = set(User.__dataclass_fields__) - {"id", "namespace_id"}
        unknown = set(attrs) - allowed
        if unknown:
            raise SimError(f"unknown user attribute(s): {', '.join(sorted(unknown))}")
        if "state" in attrs and attrs["state"] not in USER_STATES:
            raise SimError(f"state {attrs['state']!r} is not one of {', '.join(USER_STATES)}")

    # -- tokens --------------------------------------------------------------------------

    def add_token(self, user_id: int, token: str | None = None) -> str:
        """Issue a personal access token for a user."""
        with self._lock:
            self._user(user_id)
            token = token or "glpat-" + secrets.token_urlsafe(15)
            self._tokens[token] = user_id
            self._changed()
            return token

    def revoke_token(self, token: str) -> None:
        """Revoke a token; requests carrying it get 401 from now on."""
        with self._lock:
            if self._tokens.pop(token, None) is None:
                raise SimError("token not found", 404)
            self._changed()

    # -- groups --------------------------------------------------------------------------

    def add_group(
        self,
        path: str,
        *,
        name: str | None = None,
        parent_id: int | None = None,
        visibility: Visibility = "private",
        description: str = "",
        created_at: dt.datetime | None = None,
    ) -> Group:
        """Create a group, optionally under a parent."""
        with self._lock:
            self._check_path(path, "path")
            self._check_visibility(visibility)
            if parent_id is not None:
                parent = self._group(parent_id)
                self._check_nested_visibility(visibility, parent.visibility, "group")
            self._check_free_path(path, parent_id)
            group = Group(
                id=self._next("namespace"),
                name=name or path,
                path=path,
                parent_id=parent_id,
                visibility=visibility,
                description=description,
                created_at=self._now(created_at),
            )
            self._groups[group.id] = group
            self._changed()
            return group

    def update_group(self, group_id: int, **changes: Any) -> Group:
        """Rename, re-path or change a group; ``parent_id`` moves it (a transfer)."""
        with self._lock:
            group = self._group(group_id)
            unknown = set(changes) - {"name", "path", "visibility", "description", "parent_id"}
            if unknown:
                raise SimError(f"unknown group attribute(s): {', '.join(sorted(unknown))}")
            parent_id = changes.get("parent_id", group.parent_id)
            if parent_id is not None:
                self._group(parent_id)
                if parent_id == group_id or group_id in self.snapshot().ancestor_ids(parent_id):
                    raise SimError(f"group {group_id} cannot move under its own descendant")
            if "path" in changes:
                self._check_path(changes["path"], "path")
            if "path" in changes or "parent_id" in changes:
                self._check_free_path(changes.get("path", group.path), parent_id, exclude=group_id)
            if "visibility" in changes:
                self._check_visibility(changes["visibility"])
            self._groups[group_id] = updated = replace(group, **changes)
            self._changed()
            return updated

    def remove_group(self, group_id: int) -> None:
        """Delete a group with its subgroups, projects, members and links."""
        with self._lock:
            self._group(group_id)
            snap = self.snapshot()
            doomed = [group_id, *snap.descendant_ids(group_id)]
            for gid in doomed:
                for project_id in snap.project_ids_in_namespace(gid):
                    self._drop_project(project_id)
            for gid in reversed(doomed):
                self._members.pop(("group", gid), None)
                self._shares.pop(("group", gid), None)
                del self._groups[gid]
            gone = set(doomed)
            for key, links in list(self._shares.items()):
                if gone & links.keys():
                    self._shares[key] = {k: v for k, v in links.items() if k not in gone}
            self._changed()

    def _group(self, group_id: int) -> Group:
        try:
            return self._groups[group_id]
        except KeyError:
            raise SimError(f"group {group_id} not found", 404) from None

    def _check_free_path(
        self, path: str, parent_id: int | None, exclude: int | None = None
    ) -> None:
        for g in self._groups.values():
            if g.parent_id == parent_id and g.path.lower() == path.lower() and g.id != exclude:
                raise SimError(f"path {path!r} has already been taken", 409)
        if parent_id is None and any(
            u.username.lower() == path.lower() for u in self._users.values()
        ):
            raise SimError(f"path {path!r} has already been taken by a user", 409)

    # -- projects ------------------------------------------------------------------------

    def add_project(
        self,
        path: str,
        *,
        namespace_id: int,
        name: str | None = None,
        visibility: Visibility = "private",
        creator_id: int | None = None,
        created_at: dt.datetime | None = None,
        **attrs: Any,
    ) -> Project:
        """Create a project in a group or a personal namespace."""
        with self._lock:
            self._check_path(path, "path")
            self._check_visibility(visibility)
            owner_id = self._namespace_owner(namespace_id)
            self._check_project_path(path, namespace_id)
            at = self._now(created_at)
            project = Project(
                id=self._next("project"),
                name=name or path,
                path=path,
                namespace_id=namespace_id,
                visibility=visibility,
                created_at=at,
                updated_at=at,
                last_activity_at=at,
                creator_id=creator_id or owner_id or 1,
                **attrs,
            )
            self._projects[project.id] = project
            self._changed()
            return project

    def update_project(self, project_id: int, **changes: Any) -> Project:
        """Change a project; ``namespace_id`` transfers it, ``path`` renames it."""
        with self._lock:
            project = self._project(project_id)
            allowed = {
                "name", "path", "namespace_id", "visibility", "description", "default_branch",
                "topics", "archived", "pending_delete", "last_activity_at",
            }  # fmt: skip
            unknown = set(changes) - allowed
            if unknown:
                raise SimError(f"unknown project attribute(s): {', '.join(sorted(unknown))}")
            if "topics" in changes:
                changes["topics"] = tuple(changes["topics"])
            if "visibility" in changes:
                self._check_visibility(changes["visibility"])
            if "namespace_id" in changes:
                self._namespace_owner(changes["namespace_id"])
            if "path" in changes:
                self._check_path(changes["path"], "path")
            if "path" in changes or "namespace_id" in changes:
                self._check_project_path(
                    changes.get("path", project.path),
                    changes.get("namespace_id", project.namespace_id),
                    exclude=project_id,
                )
            changes.setdefault("updated_at", self.clock.now())
            self._projects[project_id] = updated = replace(project, **changes)
            self._changed()
            return updated

    def remove_project(self, project_id: int) -> None:
        """Delete a project with its members and links."""
        with self._lock:
            self._project(project_id)
            self._drop_project(project_id)
            self._changed()

    def _drop_project(self, project_id: int) -> None:
        self._members.pop(("project", project_id), None)
        self._shares.pop(("project", project_id), None)
        del self._projects[project_id]

    def _project(self, project_id: int) -> Project:
        try:
            return self._projects[project_id]
        except KeyError:
            raise SimError(f"project {project_id} not found", 404) from None

    def _namespace_owner(self, namespace_id: int) -> int | None:
        if namespace_id in self._groups:
            return None
        if namespace_id in self._personal:
            return self._personal[namespace_id]
        raise SimError(f"namespace {namespace_id} not found", 404)

    def _check_project_path(self, path: str, namespace_id: int, exclude: int | None = None) -> None:
        for p in self._projects.values():
            if (
                p.namespace_id == namespace_id
                and p.path.lower() == path.lower()
                and p.id != exclude
            ):
                raise SimError(
                    f"path {path!r} has already been taken in namespace {namespace_id}", 409
                )

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
    ) -> Member:
        """Add a direct member; GitLab answers 409 when the user is one already."""
        with self._lock:
            self._check_level(access_level)  # Grape validates parameters before the model runs
            key = self._source_key(kind, source_id)
            self._user(user_id)
            rows = self._members.get(key, {})
            if user_id in rows:
                raise SimError("Member already exists", 409)
            member = Member(
                id=self._next("member"),
                source_kind=kind,
                source_id=source_id,
                user_id=user_id,
                access_level=access_level,
                expires_at=expires_at,
                created_by_id=created_by_id,
                created_at=self._now(created_at),
            )
            self._members[key] = {**rows, user_id: member}
            self._changed()
            return member

    def update_member(
        self, kind: SourceKind, source_id: int, user_id: int, **changes: Any
    ) -> Member:
        """Change a member's ``access_level`` or ``expires_at``."""
        with self._lock:
            key = self._source_key(kind, source_id)
            rows = self._members.get(key, {})
            if user_id not in rows:
                raise SimError("404 Not found", 404)
            unknown = set(changes) - {"access_level", "expires_at"}
            if unknown:
                raise SimError(f"unknown member attribute(s): {', '.join(sorted(unknown))}")
            if "access_level" in changes:
                self._check_level(changes["access_level"])
            member = replace(rows[user_id], **changes)
            self._members[key] = {**rows, user_id: member}
            self._changed()
            return member

    def remove_member(self, kind: SourceKind, source_id: int, user_id: int) -> None:
        """Remove a direct member."""
        with self._lock:
            key = self._source_key(kind, source_id)
            rows = self._members.get(key, {})
            if user_id not in rows:
                raise SimError("404 Not found", 404)
            self._members[key] = {k: v for k, v in rows.items() if k != user_id}
            self._changed()

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
            self._check_level(group_access)
            key = self._source_key(kind, shared_id)
            self._group(group_id)
            if kind == "group" and group_id == shared_id:
                raise SimError("a group cannot be shared with itself")
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
                self._check_level(changes["group_access"])
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

    # -- housekeeping --------------------------------------------------------------------

    def expire(self, today: dt.date | None = None) -> int:
        """GitLab's daily workers: delete memberships and links whose expiry date has passed."""
        with self._lock:
            day = today or self.clock.now().date()
            removed = 0
            for key, rows in list(self._members.items()):
                kept = {k: m for k, m in rows.items() if m.expires_at is None or m.expires_at > day}
                removed += len(rows) - len(kept)
                self._members[key] = kept
            for key, links in list(self._shares.items()):
                kept_links = {
                    k: s for k, s in links.items() if s.expires_at is None or s.expires_at > day
                }
                removed += len(links) - len(kept_links)
                self._shares[key] = kept_links
            if removed:
                self._changed()
            return removed

    def bulk_load(
        self,
        *,
        users: Iterable[User],
        groups: Iterable[Group],
        projects: Iterable[Project],
        members: Iterable[Member],
        shares: Iterable[Share],
        tokens: dict[str, int],
    ) -> None:
        """Load generated records without per-row checks (the generator guarantees them)."""
        with self._lock:
            for user in users:
                self._users[user.id] = user
                self._personal[user.namespace_id] = user.id
            self._groups.update((g.id, g) for g in groups)
            self._projects.update((p.id, p) for p in projects)
            for m in members:
                self._members.setdefault((m.source_kind, m.source_id), {})[m.user_id] = m
            for s in shares:
                self._shares.setdefault((s.source_kind, s.shared_id), {})[s.group_id] = s
            self._tokens.update(tokens)
            self._seq["user"] = max(self._users, default=0)
            self._seq["namespace"] = max([*self._groups, *self._personal, 0])
            self._seq["project"] = max(self._projects, default=0)
            self._seq["member"] = max(
                (m.id for rows in self._members.values() for m in rows.values()), default=0
            )
            self._seq["share"] = max(
                (s.id for links in self._shares.values() for s in links.values()), default=0
            )
            self._changed()

    # -- checks --------------------------------------------------------------------------

    def _source_key(self, kind: SourceKind, source_id: int) -> tuple[SourceKind, int]:
        if kind == "group":
            self._group(source_id)
        elif kind == "project":
            self._project(source_id)
        else:
            raise SimError(f"source kind {kind!r} is not group or project")
        return kind, source_id

    @staticmethod
    def _check_level(level: int) -> int:
        if level not in (5, 10, 15, 20, 30, 40, 50):
            raise SimError(f"access_level {level!r} does not have a valid value")
        return level

    @staticmethod
    def _check_path(path: str, what: str) -> None:
        if (
            not isinstance(path, str)
            or not _PATH_RE.match(path)
            or path.endswith((".git", ".atom"))
        ):
            raise SimError(f"{what} {path!r} is not a valid GitLab path")

    @staticmethod
    def _check_visibility(visibility: str) -> None:
        if visibility not in VISIBILITIES:
            raise SimError(f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")

    @staticmethod
    def _check_nested_visibility(child: str, parent: str, what: str) -> None:
        if VISIBILITY_RANK[child] > VISIBILITY_RANK[parent]:
            raise SimError(f"{what} visibility {child!r} is not allowed under a {parent} parent")
