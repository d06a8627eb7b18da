"""The simulated GitLab's database: mutable behind one lock, read through immutable snapshots.

Writers take the lock and replace records (they are frozen); readers take ``snapshot()``, which
is built once per change and shared, so a page read never sees half a mutation while mutations
still land between page requests, as in GitLab (docs/gitlab-api.md#offset-pagination). Users,
groups, projects and tokens live here; members and group links in ``memberships``, access
requests in ``requesters``; validations in ``rules``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bridge.testing.sim.requesters import AccessRequests
from bridge.testing.sim.rows import VISIBILITY_RANK, Group, Member, Project, Share, User, Visibility
from bridge.testing.sim.rules import (
    SimClock,
    SimError,
    check_nested_visibility,
    check_path,
    check_user_attrs,
    check_visibility,
)

__all__ = ["SimClock", "SimError", "World"]


class World(AccessRequests):
    """All records of one simulated instance, with GitLab's id sequences and cascades."""

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
            check_path(username, "username")
            if any(u.username.lower() == username.lower() for u in self._users.values()):
                raise SimError(f"username {username!r} has already been taken", 409)
            check_user_attrs(attrs)
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
                check_path(changes["username"], "username")
                taken = {u.username.lower() for u in self._users.values() if u.id != user_id}
                if changes["username"].lower() in taken:
                    raise SimError(f"username {changes['username']!r} has already been taken", 409)
            check_user_attrs(changes)
            changes.setdefault("updated_at", self.clock.now())  # users.updated_at (GET /users)
            self._users[user_id] = updated = replace(user, **changes)
            self._changed()
            return updated

    def remove_user(self, user_id: int) -> None:
        """Delete a user with their memberships, access requests, personal projects and tokens."""
        with self._lock:
            user = self._user(user_id)
            for project in [
                p for p in self._projects.values() if p.namespace_id == user.namespace_id
            ]:
                self._drop_project(project.id)
            for table in (self._members, self._requests):
                for key, rows in list(table.items()):
                    if user_id in rows:
                        table[key] = {k: v for k, v in rows.items() if k != user_id}
            self._tokens = {t: u for t, u in self._tokens.items() if u != user_id}
            del self._personal[user.namespace_id]
            del self._users[user_id]
            self._changed()

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
            check_path(path, "path")
            check_visibility(visibility)
            if parent_id is not None:
                parent = self._group(parent_id)
                check_nested_visibility(visibility, parent.visibility, "group")
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
                check_path(changes["path"], "path")
            if "path" in changes or "parent_id" in changes:
                self._check_free_path(changes.get("path", group.path), parent_id, exclude=group_id)
            if "visibility" in changes:
                check_visibility(changes["visibility"])
                self._check_group_visibility(group_id, changes["visibility"], parent_id)
            self._groups[group_id] = replace(group, **changes)
            if "parent_id" in changes and parent_id is not None:
                self._clamp_subtree(group_id, self._groups[parent_id].visibility)
            self._changed()
            return self._groups[group_id]

    def remove_group(self, group_id: int) -> None:
        """Delete a group with its subgroups, projects, members, requests and links."""
        with self._lock:
            self._group(group_id)
            snap = self.snapshot()
            doomed = [group_id, *snap.descendant_ids(group_id)]
            for gid in doomed:
                for project_id in snap.project_ids_in_namespace(gid):
                    self._drop_project(project_id)
            for gid in reversed(doomed):
                self._members.pop(("group", gid), None)
                self._requests.pop(("group", gid), None)
                self._shares.pop(("group", gid), None)
                del self._groups[gid]
            gone = set(doomed)
            for key, links in list(self._shares.items()):
                if gone & links.keys():
                    self._shares[key] = {k: v for k, v in links.items() if k not in gone}
            self._changed()

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
            check_path(path, "path")
            check_visibility(visibility)
            owner_id = self._namespace_owner(namespace_id)
            check_nested_visibility(visibility, self._visibility_cap(namespace_id), "project")
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
            target = changes.get("namespace_id", project.namespace_id)
            self._namespace_owner(target)
            cap = self._visibility_cap(target)
            if "visibility" in changes:
                check_visibility(changes["visibility"])
                check_nested_visibility(changes["visibility"], cap, "project")
            elif VISIBILITY_RANK[project.visibility] > VISIBILITY_RANK[cap]:
                changes["visibility"] = cap  # a transfer lowers visibility, as GitLab's does
            if "path" in changes:
                check_path(changes["path"], "path")
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
        """Delete a project with its members, access requests and links."""
        with self._lock:
            self._project(project_id)
            self._drop_project(project_id)
            self._changed()

    def _drop_project(self, project_id: int) -> None:
        self._members.pop(("project", project_id), None)
        self._requests.pop(("project", project_id), None)
        self._shares.pop(("project", project_id), None)
        del self._projects[project_id]

    def _namespace_owner(self, namespace_id: int) -> int | None:
        if namespace_id in self._groups:
            return None
        if namespace_id in self._personal:
            return self._personal[namespace_id]
        raise SimError(f"namespace {namespace_id} not found", 404)

    def _visibility_cap(self, namespace_id: int) -> Visibility:
        """The most open visibility allowed in a namespace (personal ones allow public)."""
        group = self._groups.get(namespace_id)
        return group.visibility if group is not None else "public"

    def _check_group_visibility(
        self, group_id: int, visibility: Visibility, parent_id: int | None
    ) -> None:
        """Not more open than the parent, not more closed than anything below it (GitLab 400)."""
        if parent_id is not None:
            check_nested_visibility(visibility, self._groups[parent_id].visibility, "group")
        below = [g.visibility for g in self._groups.values() if g.parent_id == group_id]
        below += [p.visibility for p in self._projects.values() if p.namespace_id == group_id]
        if any(VISIBILITY_RANK[v] > VISIBILITY_RANK[visibility] for v in below):
            raise SimError(
                f"visibility {visibility!r} is not allowed since there are sub-groups or "
                "projects with higher visibility"
            )

    def _clamp_subtree(self, group_id: int, cap: Visibility) -> None:
        """Groups::TransferService lowers a moved subtree and its projects to the new parent."""
        group = self._groups[group_id]
        if VISIBILITY_RANK[group.visibility] > VISIBILITY_RANK[cap]:
            group = self._groups[group_id] = replace(group, visibility=cap)
        limit = VISIBILITY_RANK[group.visibility]
        for pid, project in list(self._projects.items()):
            if project.namespace_id == group_id and VISIBILITY_RANK[project.visibility] > limit:
                self._projects[pid] = replace(project, visibility=group.visibility)
        for child in [g.id for g in self._groups.values() if g.parent_id == group_id]:
            self._clamp_subtree(child, group.visibility)

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

    # -- housekeeping --------------------------------------------------------------------

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
                (
                    m.id
                    for table in (self._members, self._requests)
                    for rows in table.values()
                    for m in rows.values()
                ),
                default=0,
            )
            self._seq["share"] = max(
                (s.id for links in self._shares.values() for s in links.values()), default=0
            )
            self._changed()
