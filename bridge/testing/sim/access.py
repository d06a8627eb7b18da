"""Who can read what, ``/members/all`` per era, and GitLab's project-groups finder.

These are the simulator's own readings of GitLab's policies (docs/gitlab-api.md and
docs/project-groups.md), written against the snapshot's tables the way GitLab's SQL is, and
independent of the bridge's
``project_groups`` so that the conformance test compares two implementations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Member, Project, SourceKind, User
from bridge.testing.sim.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Access:
    """What one signed-in user can reach: max access level per group and per project."""

    groups: dict[int, int]  # authorized groups (direct, inherited, shared-in) -> level
    hierarchy: dict[int, int]  # direct or inherited from ancestors only -> level
    projects: dict[int, int]
    readable_groups: frozenset[int]  # authorized groups plus ancestors of what the user reaches


def access_for(snap: Snapshot, user: User) -> Access:
    """The user's access map, computed once per snapshot."""
    key = ("access", user.id)
    cached = snap.cache.get(key)
    if cached is None:
        cached = _compute_access(snap, user.id)
        with snap.cache_lock:
            snap.cache[key] = cached
    return cached


def _raise(levels: dict[int, int], key: int, level: int) -> None:
    if level > levels.get(key, 0):
        levels[key] = level


def _compute_access(snap: Snapshot, user_id: int) -> Access:
    rows = snap.memberships_by_user.get(user_id, [])
    hierarchy: dict[int, int] = {}
    for m in rows:
        if m.source_kind == "group" and m.access_level >= 5:
            for gid in (m.source_id, *snap.descendant_ids(m.source_id)):
                _raise(hierarchy, gid, m.access_level)
    groups = dict(hierarchy)
    for link in snap.iter_links():
        if link.source_kind == "group" and link.group_id in hierarchy:
            level = min(hierarchy[link.group_id], link.group_access)
            for gid in (link.shared_id, *snap.descendant_ids(link.shared_id)):
                _raise(groups, gid, level)
    projects: dict[int, int] = {}
    for m in rows:
        if m.source_kind == "project":
            _raise(projects, m.source_id, m.access_level)
    for gid, level in groups.items():
        if level >= 10:
            for pid in snap.project_ids_in_namespace(gid):
                _raise(projects, pid, level)
    for link in snap.iter_links():
        if link.source_kind == "project" and link.group_id in hierarchy:
            _raise(projects, link.shared_id, min(hierarchy[link.group_id], link.group_access))
    readable = set(groups)
    for gid in list(groups):
        readable.update(snap.ancestor_ids(gid))
    for pid in projects:
        ns = snap.projects[pid].namespace_id
        if ns in snap.groups:
            readable.update((ns, *snap.ancestor_ids(ns)))
    return Access(groups, hierarchy, projects, frozenset(readable))


def _sees_level(user: User | None, visibility: str) -> bool:
    if visibility == "public":
        return True
    return visibility == "internal" and user is not None and not user.external


def can_read_group(snap: Snapshot, user: User | None, group_id: int) -> bool:
    """GroupPolicy read_group: visibility, admin, membership, or access below it."""
    if user is not None and user.is_admin:
        return True
    if _sees_level(user, snap.groups[group_id].visibility):
        return True
    return user is not None and group_id in access_for(snap, user).readable_groups


def can_read_project(snap: Snapshot, user: User | None, project_id: int) -> bool:
    """ProjectPolicy read_project: visibility, admin or any authorization."""
    if user is not None and user.is_admin:
        return True
    if _sees_level(user, snap.projects[project_id].visibility):
        return True
    return user is not None and project_id in access_for(snap, user).projects


# -- members/all --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    member: Member
    level: int  # effective level (capped by a link)
    own: bool  # a row of the requested source itself
    via_group: int | None  # invited group the row came through, if any


def members_all(
    snap: Snapshot, profile: Profile, kind: SourceKind, source_id: int, caller: User
) -> list[Member]:
    """``…/members/all`` rows for a source, one per user, as the profile's era computes them.

    Rows come back by member id (GitLab's default order); Minimal Access (5) never shows.
    """
    if profile.members_all == "project_first":
        chosen = _members_all_12(snap, kind, source_id, caller)
    else:
        chosen = _members_all_13(snap, profile, kind, source_id, caller)
    return sorted((m for m in chosen if m.access_level >= 10), key=lambda m: m.id)


def _members_all_12(snap: Snapshot, kind: SourceKind, source_id: int, caller: User) -> list[Member]:
    """~12.x: the first row of the source, its group chain (nearest first), then — projects
    only — members of invited groups the caller can see, each row with its own level."""
    chosen: dict[int, Member] = {}
    for cand in _all_candidates(snap, kind, source_id, chain_shares=False, invited_ancestors=False):
        if cand.via_group is not None and not can_read_group(snap, caller, cand.via_group):
            continue
        chosen.setdefault(cand.member.user_id, cand.member)
    return list(chosen.values())


def _members_all_13(
    snap: Snapshot, profile: Profile, kind: SourceKind, source_id: int, caller: User
) -> list[Member]:
    """13.11+: groups take each user's highest row; projects keep their own row when there is
    one, and every project row shows the effective (highest, link-capped) level."""
    candidates = list(
        _all_candidates(snap, kind, source_id, chain_shares=True, invited_ancestors=True)
    )
    effective: dict[int, int] = {}
    for cand in candidates:
        effective[cand.member.user_id] = max(effective.get(cand.member.user_id, 0), cand.level)
    chosen: dict[int, _Candidate] = {}
    for cand in candidates:
        if not _invited_visible(snap, profile, cand, kind, source_id, caller):
            continue
        best = chosen.get(cand.member.user_id)
        if best is None or _better(cand, best, prefer_own=kind == "project"):
            chosen[cand.member.user_id] = cand
    if kind == "project":
        return [replace(c.member, access_level=effective[uid]) for uid, c in chosen.items()]
    return [replace(c.member, access_level=c.level) for c in chosen.values()]


def _better(a: _Candidate, b: _Candidate, *, prefer_own: bool) -> bool:
    """Highest level; ties -> the requested source's row, latest expiry, oldest row.

    Projects (MembersFinder's DISTINCT ON ... ORDER BY type) keep their own row first.
    """
    far = (9999, 12, 31)
    a_exp = a.member.expires_at.timetuple()[:3] if a.member.expires_at else far
    b_exp = b.member.expires_at.timetuple()[:3] if b.member.expires_at else far
    first_a, first_b = (a.own, b.own) if prefer_own else (False, False)
    key_a = (first_a, a.level, a.own, a_exp, -a.member.created_at.timestamp())
    key_b = (first_b, b.level, b.own, b_exp, -b.member.created_at.timestamp())
    return key_a > key_b


def _all_candidates(
    snap: Snapshot, kind: SourceKind, source_id: int, *, chain_shares: bool, invited_ancestors: bool
) -> Iterable[_Candidate]:
    """Rows in precedence order: the source, its group chain, groups shared into the chain
    (13.11+), then a project's invited groups (and, 13.11+, their ancestors)."""
    chain: list[int] = []
    if kind == "project":
        for m in snap.direct_members("project", source_id):
            yield _Candidate(m, m.access_level, True, None)
        ns = snap.projects[source_id].namespace_id
        if ns in snap.groups:
            chain = [ns, *snap.ancestor_ids(ns)]
    else:
        chain = [source_id, *snap.ancestor_ids(source_id)]
    for gid in chain:
        own = kind == "group" and gid == source_id
        for m in snap.direct_members("group", gid):
            yield _Candidate(m, m.access_level, own, None)
    if chain_shares:
        for gid in chain:
            for link in snap.links("group", gid):
                for m in snap.direct_members("group", link.group_id):
                    yield _Candidate(
                        m, min(m.access_level, link.group_access), False, link.group_id
                    )
    if kind == "project":
        for link in snap.links("project", source_id):
            groups = (
                [link.group_id, *snap.ancestor_ids(link.group_id)]
                if invited_ancestors
                else [link.group_id]
            )
            for gid in groups:
                for m in snap.direct_members("group", gid):
                    level = (
                        min(m.access_level, link.group_access) if chain_shares else m.access_level
                    )
                    yield _Candidate(m, level, False, gid)


def _invited_visible(
    snap: Snapshot,
    profile: Profile,
    cand: _Candidate,
    kind: SourceKind,
    source_id: int,
    caller: User,
) -> bool:
    """Invited groups' members show to callers who can read that group (17.x: or the source)."""
    if cand.via_group is None:
        return True
    if can_read_group(snap, caller, cand.via_group):
        return True
    if profile.members_all == "highest_invited_private":
        access = access_for(snap, caller)
        table = access.projects if kind == "project" else access.groups
        return source_id in table
    return False


# -- /projects/:id/groups -----------------------------------------------------------------


# Gitlab::SQL::Pattern: a quoted phrase counts only when bounded by the ends or spaces.
_QUOTED = re.compile(r'(?:^|(?<= ))"[^"]+"(?= |\Z)')
MIN_CHARS_FOR_PARTIAL_MATCHING = 3


def fuzzy_terms(query: str) -> list[str]:
    """``select_fuzzy_words``: quoted phrases and words, keeping those of 3 characters or more."""
    query = " ".join(query.split())  # Ruby's squish
    quoted = _QUOTED.findall(query)
    for phrase in quoted:
        query = query.replace(phrase, "", 1)
    words = query.split() + [phrase[1:-1] for phrase in quoted]
    return [w for w in words if len(w) >= MIN_CHARS_FOR_PARTIAL_MATCHING]


def fuzzy_match(query: str, name: str, path: str) -> bool:
    """``fuzzy_search(query, [:name, :path])``: per column, every term ILIKE %term%; columns OR-ed.

    With no term of 3+ characters a column matches when it equals the squished query, ignoring
    case (ILIKE without wildcards; ``%`` and ``_`` are escaped, hence literal).
    """
    terms = [t.lower() for t in fuzzy_terms(query)]
    columns = (name.lower(), path.lower())
    if terms:
        return any(all(t in column for t in terms) for column in columns)
    whole = " ".join(query.split()).lower()
    return bool(whole) and whole in columns


def project_groups(
    snap: Snapshot,
    project: Project,
    *,
    caller: User | None,
    with_shared: bool = False,
    shared_min_access_level: int | None = None,
    shared_visible_only: bool = False,
    skip_groups: Sequence[int] = (),
    search: str | None = None,
) -> list[int]:
    """Ids of a project's ancestor groups and (optionally) shared groups, id descending."""
    ns = project.namespace_id
    ids = set([ns, *snap.ancestor_ids(ns)] if ns in snap.groups else [])
    if with_shared:
        for link in snap.links("project", project.id):
            if shared_min_access_level is not None and link.group_access < shared_min_access_level:
                continue
            if shared_visible_only and not _shared_group_visible(snap, caller, link.group_id):
                continue
            ids.add(link.group_id)
    ids -= set(skip_groups)
    if search:
        ids = {g for g in ids if fuzzy_match(search, snap.groups[g].name, snap.groups[g].path)}
    return sorted(ids, reverse=True)


def _shared_group_visible(snap: Snapshot, caller: User | None, group_id: int) -> bool:
    """Shared visible only: public, internal to signed-in non-external users, admins, members."""
    group = snap.groups[group_id]
    if _sees_level(caller, group.visibility):
        return True
    if caller is None:
        return False
    if caller.is_admin:
        return True
    row = snap.members.get(("group", group_id), {}).get(caller.id)
    return row is not None and row.access_level >= 10
