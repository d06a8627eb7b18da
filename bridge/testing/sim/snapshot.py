"""Immutable state of the simulated instance at one version, with derived indexes.

Indexes are computed on first use and cached on the snapshot, which is shared by every request
until the next mutation, so a crawl of an unchanging world pays for them once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

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


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """The ``namespace`` object of a project, group or personal."""

    id: int
    name: str
    path: str
    kind: str  # "group" or "user"
    full_path: str
    parent_id: int | None


class Snapshot:
    """Read-only tables plus lazily built indexes; never mutated after construction."""

    def __init__(
        self,
        *,
        version: int,
        users: dict[int, User],
        groups: dict[int, Group],
        projects: dict[int, Project],
        personal: dict[int, int],
        members: dict[tuple[SourceKind, int], dict[int, Member]],
        shares: dict[tuple[SourceKind, int], dict[int, Share]],
        tokens: dict[str, int],
        events: tuple[Event, ...] = (),
        audit_events: tuple[AuditEvent, ...] = (),
        requests: dict[tuple[SourceKind, int], dict[int, Member]] | None = None,
    ) -> None:
        self.version = version
        self.users = users
        self.groups = groups
        self.projects = projects
        self.personal = personal
        self.members = members
        self.requests = requests or {}  # pending access requests, apart from members
        self.shares = shares
        self.tokens = tokens
        self.events = events  # in id order
        self.audit_events = audit_events  # in id order
        # Per-caller caches (access maps); races only recompute the same value.
        self.cache: dict[Any, Any] = {}
        self.cache_lock = threading.Lock()

    # -- lookups -------------------------------------------------------------------------

    def user_for_token(self, token: str) -> User | None:
        """The user a token belongs to, if it is valid."""
        user_id = self.tokens.get(token)
        return self.users.get(user_id) if user_id is not None else None

    @cached_property
    def users_by_username(self) -> dict[str, User]:
        """Users keyed by lower-case username."""
        return {u.username.lower(): u for u in self.users.values()}

    @cached_property
    def children(self) -> dict[int | None, list[int]]:
        """Child group ids per parent id (None: top level), ascending."""
        index: dict[int | None, list[int]] = defaultdict(list)
        for group in self.groups.values():
            index[group.parent_id].append(group.id)
        for ids in index.values():
            ids.sort()
        return dict(index)

    @cached_property
    def group_full_paths(self) -> dict[int, str]:
        """Full path of every group."""
        return {gid: "/".join(self.groups[a].path for a in self.chain(gid)) for gid in self.groups}

    @cached_property
    def groups_by_full_path(self) -> dict[str, int]:
        """Group ids keyed by lower-case full path."""
        return {path.lower(): gid for gid, path in self.group_full_paths.items()}

    @cached_property
    def projects_by_namespace(self) -> dict[int, list[int]]:
        """Project ids per namespace id, ascending."""
        index: dict[int, list[int]] = defaultdict(list)
        for project in self.projects.values():
            index[project.namespace_id].append(project.id)
        return dict(index)

    @cached_property
    def projects_by_full_path(self) -> dict[str, int]:
        """Project ids keyed by lower-case path_with_namespace."""
        return {self.project_full_path(p).lower(): p.id for p in self.projects.values()}

    @cached_property
    def memberships_by_user(self) -> dict[int, list[Member]]:
        """Direct membership rows per user, by member id."""
        index: dict[int, list[Member]] = defaultdict(list)
        for rows in self.members.values():
            for member in rows.values():
                index[member.user_id].append(member)
        for rows_ in index.values():
            rows_.sort(key=lambda m: m.id)
        return dict(index)

    # -- hierarchy -----------------------------------------------------------------------

    def chain(self, group_id: int) -> list[int]:
        """Group ids from the root down to ``group_id``."""
        ids = [group_id, *self.ancestor_ids(group_id)]
        ids.reverse()
        return ids

    def ancestor_ids(self, group_id: int) -> list[int]:
        """Ancestors of a group, nearest first."""
        ids: list[int] = []
        parent = self.groups[group_id].parent_id
        while parent is not None:
            ids.append(parent)
            parent = self.groups[parent].parent_id
        return ids

    def descendant_ids(self, group_id: int) -> list[int]:
        """All groups below ``group_id``, parents before children."""
        out: list[int] = []
        queue = list(self.children.get(group_id, ()))
        while queue:
            gid = queue.pop(0)
            out.append(gid)
            queue.extend(self.children.get(gid, ()))
        return out

    def project_ids_in_namespace(self, namespace_id: int) -> list[int]:
        """Projects directly in a namespace."""
        return list(self.projects_by_namespace.get(namespace_id, ()))

    def full_name(self, group_id: int) -> str:
        """Names from the root to the group joined by " / ", as GitLab's full_name."""
        return " / ".join(self.groups[a].name for a in self.chain(group_id))

    def namespace(self, namespace_id: int) -> NamespaceInfo:
        """The namespace object for a group id or a personal namespace id."""
        if namespace_id in self.groups:
            g = self.groups[namespace_id]
            return NamespaceInfo(
                g.id, g.name, g.path, "group", self.group_full_paths[g.id], g.parent_id
            )
        user = self.users[self.personal[namespace_id]]
        return NamespaceInfo(namespace_id, user.name, user.username, "user", user.username, None)

    def project_full_path(self, project: Project) -> str:
        """``path_with_namespace`` of a project."""
        return f"{self.namespace(project.namespace_id).full_path}/{project.path}"

    def project_full_name(self, project: Project) -> str:
        """``name_with_namespace`` of a project."""
        ns = project.namespace_id
        prefix = self.full_name(ns) if ns in self.groups else self.namespace(ns).name
        return f"{prefix} / {project.name}"

    def direct_members(self, kind: SourceKind, source_id: int) -> list[Member]:
        """Direct member rows of a source, by member id (GitLab's implicit order)."""
        return sorted(self.members.get((kind, source_id), {}).values(), key=lambda m: m.id)

    def requesters(self, kind: SourceKind, source_id: int) -> list[Member]:
        """Pending access requests of a source, by member id (``paginate``'s default order)."""
        return sorted(self.requests.get((kind, source_id), {}).values(), key=lambda m: m.id)

    @cached_property
    def requests_by_user(self) -> dict[int, list[Member]]:
        """Pending access requests per user, by member id."""
        index: dict[int, list[Member]] = defaultdict(list)
        for rows in self.requests.values():
            for row in rows.values():
                index[row.user_id].append(row)
        for rows_ in index.values():
            rows_.sort(key=lambda m: m.id)
        return dict(index)

    def links(self, kind: SourceKind, shared_id: int) -> list[Share]:
        """Group links of a project or group, by link id."""
        return sorted(self.shares.get((kind, shared_id), {}).values(), key=lambda s: s.id)

    def iter_links(self) -> Iterator[Share]:
        """Every group link."""
        for links in self.shares.values():
            yield from links.values()
