"""Seeded dataset generator: determinism, sizes, id rules and content (docs/simulator.md)."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable

import pytest

from bridge.testing.sim.datasets import Dataset, generate
from bridge.testing.sim.profiles import get_profile
from bridge.testing.sim.rows import (
    USER_STATES,
    VISIBILITIES,
    VISIBILITY_RANK,
    Member,
    Share,
)
from bridge.testing.sim.rules import PATH_RE, SimClock
from bridge.testing.sim.sizes import SIZES
from bridge.testing.sim.snapshot import Snapshot

NOW = dt.datetime(2024, 6, 15, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _small(version: str = "16.11", seed: int = 0) -> Snapshot:
    return generate("small", seed=seed, profile=get_profile(version), now=NOW).world.snapshot()


@pytest.fixture(scope="module")
def small() -> Dataset:
    return generate("small", profile=get_profile("16.11"), now=NOW)


@pytest.fixture(scope="module")
def snap(small: Dataset) -> Snapshot:
    return small.world.snapshot()


def _members(snap: Snapshot) -> list[Member]:
    return sorted((m for rows in snap.members.values() for m in rows.values()), key=lambda m: m.id)


def _shares(snap: Snapshot) -> list[Share]:
    return sorted(snap.iter_links(), key=lambda s: s.id)


def _records(snap: Snapshot) -> tuple[object, ...]:
    return (snap.users, snap.groups, snap.projects, _members(snap), _shares(snap), snap.tokens)


def _depth(snap: Snapshot, group_id: int) -> int:
    return len(snap.chain(group_id))


def _assert_ids_follow_time(rows: Iterable[tuple[int, dt.datetime]]) -> None:
    ordered = sorted(rows)
    assert [t for _, t in ordered] == sorted(t for _, t in ordered)
    assert len({t for _, t in ordered}) == len(ordered)
    for _, t in ordered:
        assert t.tzinfo is not None
        assert t.microsecond % 1000 == 0
        assert t < NOW


# -- determinism and sizes -------------------------------------------------------------------


def test_same_seed_gives_identical_records() -> None:
    """Two small datasets with the same seed, profile and now hold equal records."""
    assert _records(_small()) == _records(_small())


def test_other_seed_gives_other_records() -> None:
    """A different seed changes the data."""
    assert _records(_small(seed=1)) != _records(_small())


def test_unknown_size_names_the_choices() -> None:
    """An unknown size is a ValueError listing small, medium and large."""
    with pytest.raises(ValueError, match="small, medium, large"):
        generate("huge", profile=get_profile("16.11"), now=NOW)


def test_small_counts_match_the_targets(snap: Snapshot) -> None:
    """Small has 50 users, 10 groups, 30 projects and about 200 direct memberships."""
    assert (len(snap.users), len(snap.groups), len(snap.projects)) == (50, 10, 30)
    assert 180 <= len(_members(snap)) <= 220


def test_world_clock_stands_at_now_unless_given(small: Dataset) -> None:
    """Without a clock the world's clock reads ``now``; a given clock is used as is."""
    assert small.world.clock.now() == NOW
    clock = SimClock(lambda: NOW + dt.timedelta(days=1))
    world = generate("small", profile=get_profile("16.11"), now=NOW, clock=clock).world
    assert world.clock is clock


# -- ids and timestamps ----------------------------------------------------------------------


def test_user_and_group_namespaces_share_one_sequence(snap: Snapshot) -> None:
    """User ids run 1..U; personal namespaces and groups together use ids 1..U+G once each."""
    assert sorted(snap.users) == list(range(1, 51))
    namespace_ids = [u.namespace_id for u in snap.users.values()] + list(snap.groups)
    assert sorted(namespace_ids) == list(range(1, 61))
    assert snap.users[1].namespace_id == 1
    # Interleaved by creation time, so a namespace id grows with the namespace's created_at.
    by_time = [u.created_at for u in snap.users.values()] + [
        g.created_at for g in snap.groups.values()
    ]
    assert [t for _, t in sorted(zip(namespace_ids, by_time, strict=True))] == sorted(by_time)


def test_created_at_grows_with_id_in_every_kind(snap: Snapshot) -> None:
    """Per kind, created_at strictly grows with id, is aware, whole-millisecond, before now."""
    _assert_ids_follow_time((u.id, u.created_at) for u in snap.users.values())
    _assert_ids_follow_time((g.id, g.created_at) for g in snap.groups.values())
    _assert_ids_follow_time((p.id, p.created_at) for p in snap.projects.values())
    _assert_ids_follow_time((m.id, m.created_at) for m in _members(snap))
    _assert_ids_follow_time((s.id, s.created_at) for s in _shares(snap))
    assert _members(snap)[0].id == 1
    assert [s.id for s in _shares(snap)] == list(range(1, len(_shares(snap)) + 1))


def test_rows_are_younger_than_what_they_refer_to(snap: Snapshot) -> None:
    """Projects follow their namespace and members follow their user and source."""
    for p in snap.projects.values():
        ns = snap.namespace(p.namespace_id)
        owner = snap.groups[ns.id] if ns.kind == "group" else snap.users[snap.personal[ns.id]]
        assert owner.created_at <= p.created_at <= p.updated_at <= p.last_activity_at <= NOW
    for m in _members(snap):
        source = (
            snap.groups[m.source_id] if m.source_kind == "group" else snap.projects[m.source_id]
        )
        assert m.created_at >= max(source.created_at, snap.users[m.user_id].created_at)


# -- users -----------------------------------------------------------------------------------


def test_user_kinds_are_all_present(snap: Snapshot) -> None:
    """Root is admin 1; there are more admins, externals, project bots and the internal users."""
    users = list(snap.users.values())
    assert (snap.users[1].username, snap.users[1].is_admin) == ("root", True)
    assert sum(u.is_admin for u in users) >= 3
    assert sum(u.external for u in users) >= 2
    bots = [u for u in users if u.user_type == "project_bot"]
    assert len(bots) >= 2
    assert all(u.bot and not u.internal for u in bots)
    internal = {u.user_type: u.username for u in users if u.internal}
    assert internal == {"ghost": "ghost", "support_bot": "support-bot"}


def test_every_user_state_occurs(snap: Snapshot) -> None:
    """Each state of records.USER_STATES belongs to at least one user."""
    assert {u.state for u in snap.users.values()} == set(USER_STATES)


def test_public_email_is_set_for_some(snap: Snapshot) -> None:
    """Some users show a public email and some do not."""
    assert {bool(u.public_email) for u in snap.users.values()} == {True, False}


def test_usernames_and_paths_are_valid_and_unique(snap: Snapshot) -> None:
    """Usernames and paths match GitLab's rule and are unique where GitLab requires it."""
    usernames = [u.username.lower() for u in snap.users.values()]
    assert len(set(usernames)) == len(usernames)
    paths = [*usernames, *(g.path for g in snap.groups.values())]
    paths += [p.path for p in snap.projects.values()]
    assert all(PATH_RE.match(p) and not p.endswith((".git", ".atom")) for p in paths)
    top = [g.path.lower() for g in snap.groups.values() if g.parent_id is None]
    assert len(set(top)) == len(top)
    assert not set(top) & set(usernames)
    siblings = [(g.parent_id, g.path.lower()) for g in snap.groups.values()]
    assert len(set(siblings)) == len(siblings)
    in_namespace = [(p.namespace_id, p.path.lower()) for p in snap.projects.values()]
    assert len(set(in_namespace)) == len(in_namespace)


# -- groups and projects ---------------------------------------------------------------------


def test_groups_nest_up_to_four_levels(snap: Snapshot) -> None:
    """Groups occur at every depth from 1 to 4 and never deeper."""
    assert {_depth(snap, gid) for gid in snap.groups} == {1, 2, 3, 4}


def test_visibility_never_opens_below_a_group(snap: Snapshot) -> None:
    """Subgroups and group projects are at most as visible as their parent group."""
    for g in snap.groups.values():
        if g.parent_id is not None:
            parent = snap.groups[g.parent_id]
            assert VISIBILITY_RANK[g.visibility] <= VISIBILITY_RANK[parent.visibility]
    for p in snap.projects.values():
        if p.namespace_id in snap.groups:
            group = snap.groups[p.namespace_id]
            assert VISIBILITY_RANK[p.visibility] <= VISIBILITY_RANK[group.visibility]
    assert {g.visibility for g in snap.groups.values()} == set(VISIBILITIES)
    assert {p.visibility for p in snap.projects.values()} == set(VISIBILITIES)


def test_projects_sit_in_personal_namespaces_and_groups_at_all_depths(snap: Snapshot) -> None:
    """About 15% of projects are personal; group projects occur at every group depth."""
    personal = [p for p in snap.projects.values() if p.namespace_id in snap.personal]
    assert 3 <= len(personal) <= 6
    depths = {_depth(snap, p.namespace_id) for p in snap.projects.values() if p not in personal}
    assert depths == {1, 2, 3, 4}


def test_projects_have_archived_topics_and_real_creators(snap: Snapshot) -> None:
    """Some projects are archived, some have topics, and every creator is a user."""
    projects = list(snap.projects.values())
    assert any(p.archived for p in projects)
    assert not all(p.archived for p in projects)
    assert any(p.topics for p in projects)
    assert all(p.creator_id in snap.users for p in projects)


# -- members ---------------------------------------------------------------------------------


def test_every_group_has_a_direct_owner(snap: Snapshot) -> None:
    """Each group has at least one direct member at Owner (50)."""
    for gid in snap.groups:
        assert any(m.access_level == 50 for m in snap.direct_members("group", gid))


def test_personal_project_owner_is_a_member_at_50(snap: Snapshot) -> None:
    """A personal project's namespace owner is its direct member at level 50."""
    for p in snap.projects.values():
        if p.namespace_id in snap.personal:
            rows = snap.members[("project", p.id)]
            assert rows[snap.personal[p.namespace_id]].access_level == 50


def test_member_rows_cover_every_level(snap: Snapshot) -> None:
    """Groups use every level of the profile and projects levels 10 to 50."""
    members = _members(snap)
    levels = set(get_profile("16.11").access_levels())
    assert {m.access_level for m in members if m.source_kind == "group"} == levels
    assert {m.access_level for m in members if m.source_kind == "project"} == {10, 20, 30, 40, 50}


def test_member_rows_are_unique_and_never_internal(snap: Snapshot) -> None:
    """No (source, user) pair repeats, every row points at real records, none at internal users."""
    members = _members(snap)
    assert len({(m.source_kind, m.source_id, m.user_id) for m in members}) == len(members)
    for m in members:
        assert not snap.users[m.user_id].internal
        assert m.source_id in (snap.groups if m.source_kind == "group" else snap.projects)


def test_some_memberships_expire_past_soon_and_later(snap: Snapshot) -> None:
    """About 5% of rows expire: some already past, some within 7 days, some later."""
    members = _members(snap)
    dates = [m.expires_at for m in members if m.expires_at is not None]
    assert all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in dates)
    assert 0.03 <= len(dates) / len(members) <= 0.07
    today = NOW.date()
    soon = today + dt.timedelta(days=7)
    assert any(d < today for d in dates)
    assert any(today < d <= soon for d in dates)
    assert any(d > soon for d in dates)


def test_small_has_a_source_larger_than_a_default_page(snap: Snapshot) -> None:
    """50 users cannot fill 100 seats, so small's big source takes them all (> per_page=20)."""
    assert max(len(rows) for rows in snap.members.values()) > 40


@pytest.mark.parametrize(
    ("version", "level5"), [("12.10", False), ("16.11", False), ("16.11-ee", True)]
)
def test_minimal_access_only_on_top_level_groups_of_ee(version: str, level5: bool) -> None:
    """Level 5 rows exist only where the profile has it, and then only on top-level groups."""
    snap = _small(version)
    minimal = [m for m in _members(snap) if m.access_level == 5]
    assert bool(minimal) is level5
    assert all(m.source_kind == "group" for m in minimal)
    assert all(snap.groups[m.source_id].parent_id is None for m in minimal)


# -- shares and tokens -----------------------------------------------------------------------


def test_shares_have_both_kinds_and_reach_a_private_group(snap: Snapshot) -> None:
    """At least 3 project and 2 group links; each kind invites a private group at least once."""
    shares = _shares(snap)
    for kind, least in (("project", 3), ("group", 2)):
        links = [s for s in shares if s.source_kind == kind]
        assert len(links) >= least
        assert any(snap.groups[s.group_id].visibility == "private" for s in links)
    assert {s.group_access for s in shares} <= {10, 20, 30, 40, 50}
    assert any(s.expires_at is not None for s in shares)


def test_shares_respect_gitlabs_link_rules(snap: Snapshot) -> None:
    """No link to itself, an ancestor, a descendant, or a project's own group or its ancestors."""
    for s in _shares(snap):
        if s.source_kind == "group":
            related = {
                s.shared_id,
                *snap.ancestor_ids(s.shared_id),
                *snap.descendant_ids(s.shared_id),
            }
            assert s.group_id not in related
        else:
            ns = snap.projects[s.shared_id].namespace_id
            if ns in snap.groups:
                assert s.group_id not in {ns, *snap.ancestor_ids(ns)}


def test_tokens_resolve_to_admin_regular_and_external_users(small: Dataset, snap: Snapshot) -> None:
    """The three tokens belong to an admin, a regular member and an external active user."""
    assert set(small.tokens) == {"admin", "user", "external"}
    assert all(len(token) >= 20 for token in small.tokens.values())
    admin, user, external = (snap.user_for_token(small.tokens[r]) for r in small.tokens)
    assert admin is not None
    assert admin.is_admin
    assert user is not None
    assert (user.state, user.user_type, user.is_admin, user.external) == (
        "active",
        "human",
        False,
        False,
    )
    kinds = Counter(m.source_kind for m in snap.memberships_by_user[user.id])
    assert min(kinds["group"], kinds["project"]) >= 1
    assert external is not None
    assert (external.state, external.external, external.is_admin) == ("active", True, False)
    assert external.id in snap.memberships_by_user


# -- medium ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_medium_counts_and_large_lists() -> None:
    """Medium is within 10% of its targets, has lists over 10,000 rows and dozens of big sources."""
    started = time.perf_counter()
    snap = generate("medium", profile=get_profile("16.11-ee"), now=NOW).world.snapshot()
    print(f"medium generated in {time.perf_counter() - started:.1f} s")
    target = SIZES["medium"]
    members = _members(snap)
    counts = (len(snap.users), len(snap.groups), len(snap.projects), len(members))
    goals = (target.users, target.groups, target.projects, target.memberships)
    for count, goal in zip(counts, goals, strict=True):
        assert abs(count - goal) <= goal / 10
    assert min(len(snap.users), len(snap.projects)) > 10_000
    sizes = [len(rows) for rows in snap.members.values()]
    assert sum(size > 100 for size in sizes) >= 24
    assert sum(size > 1_000 for size in sizes) >= 2
    assert {_depth(snap, gid) for gid in snap.groups} == {1, 2, 3, 4}
    personal = sum(p.namespace_id in snap.personal for p in snap.projects.values())
    assert 0.13 <= personal / len(snap.projects) <= 0.17
    shared = {s.shared_id for s in snap.iter_links() if s.source_kind == "project"}
    assert len(shared) >= 0.03 * len(snap.projects)
    assert all(m.access_level != 5 or snap.groups[m.source_id].parent_id is None for m in members)


@pytest.mark.slow
def test_large_counts() -> None:
    """Large has just over 50k users, 10k groups, 100k projects and about a million memberships."""
    started = time.perf_counter()
    snap = generate("large", profile=get_profile("16.11"), now=NOW).world.snapshot()
    print(f"large generated in {time.perf_counter() - started:.1f} s")
    members = _members(snap)
    assert len(snap.users) > 50_000
    assert (len(snap.groups), len(snap.projects)) == (10_000, 100_000)
    assert 900_000 <= len(members) <= 1_100_000
    assert max(len(snap.group_full_paths[g].split("/")) for g in snap.groups) == 4
