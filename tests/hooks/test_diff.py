"""The pure differ of bridge.hooks.diff: tables per resource, round-trip and ordering properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.hooks.diff import (
    apply,
    diff_groups,
    diff_members,
    diff_projects,
    diff_shares,
    diff_users,
    order,
    project_shares,
)
from bridge.model.changes import Change
from bridge.model.records import Group, Member, Namespace, Project, Share, SourceKind, User

T = TypeVar("T")
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


# --- record factories for the tables ------------------------------------------------------------


def user(uid: int, **changes: Any) -> User:
    """A user with plain defaults."""
    base = User(
        id=uid,
        username=f"user{uid}",
        name=f"User {uid}",
        state="active",
        email=None,
        public_email=None,
        is_admin=False,
        external=False,
        bot=False,
        created_at=T0,
        web_url=f"https://gl.example/user{uid}",
        avatar_url=None,
    )
    return dataclasses.replace(base, **changes)


def group(gid: int, parent_id: int | None = None, **changes: Any) -> Group:
    """A group with plain defaults."""
    base = Group(
        id=gid,
        name=f"G{gid}",
        path=f"g{gid}",
        full_path=f"g{gid}",
        full_name=f"G{gid}",
        parent_id=parent_id,
        visibility="private",
        created_at=T0,
        web_url=f"https://gl.example/groups/g{gid}",
        avatar_url=None,
    )
    return dataclasses.replace(base, **changes)


def namespace(nid: int) -> Namespace:
    """A group namespace."""
    return Namespace(
        id=nid, name=f"G{nid}", path=f"g{nid}", kind="group", full_path=f"g{nid}", parent_id=None
    )


def share(kind: SourceKind, source_id: int, group_id: int, **changes: Any) -> Share:
    """A share link with plain defaults."""
    base = Share(
        source_kind=kind,
        source_id=source_id,
        group_id=group_id,
        group_name=f"G{group_id}",
        group_full_path=f"g{group_id}",
        access_level=30,
        expires_at=None,
    )
    return dataclasses.replace(base, **changes)


def project(pid: int, **changes: Any) -> Project:
    """A project in namespace 1 with plain defaults."""
    base = Project(
        id=pid,
        name=f"P{pid}",
        path=f"p{pid}",
        path_with_namespace=f"g1/p{pid}",
        namespace=namespace(1),
        visibility="private",
        archived=False,
        description=None,
        default_branch="main",
        topics=(),
        created_at=T0,
        updated_at=None,
        owner_id=None,
        shares=(),
        web_url=f"https://gl.example/g1/p{pid}",
    )
    return dataclasses.replace(base, **changes)


def member(kind: SourceKind, source_id: int, user_id: int, **changes: Any) -> Member:
    """A direct member row with plain defaults."""
    base = Member(
        source_kind=kind,
        source_id=source_id,
        user_id=user_id,
        username=f"user{user_id}",
        name=f"User {user_id}",
        state="active",
        access_level=30,
        expires_at=None,
        created_at=T0,
        member_role=None,
    )
    return dataclasses.replace(base, **changes)


def summary(changes: tuple[Change[Any], ...]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(resource, kind, key) of each change, for compact expectations."""
    return [(c.record, c.kind, c.key) for c in changes]


# --- tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {1: user(1)}, [("user", "added", (1,))]),
        ({1: user(1)}, {}, [("user", "removed", (1,))]),
        ({1: user(1)}, {1: user(1, username="renamed")}, [("user", "changed", (1,))]),
        ({1: user(1)}, {1: user(1, state="blocked")}, [("user", "changed", (1,))]),
        ({1: user(1), 2: user(2)}, {1: user(1), 2: user(2)}, []),
        (
            {3: user(3), 1: user(1)},
            {2: user(2), 1: user(1, name="x")},
            [("user", "changed", (1,)), ("user", "added", (2,)), ("user", "removed", (3,))],
        ),
    ],
    ids=["added", "removed", "rename", "other-field", "unchanged", "mixed-sorted"],
)
def test_diff_users_table(
    old: dict[int, User], new: dict[int, User], expected: list[tuple[str, str, tuple[int, ...]]]
) -> None:
    """Users: new, gone and any differing field are changes, ascending by id."""
    assert summary(diff_users(old, new)) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {5: group(5)}, [("group", "added", (5,))]),
        ({5: group(5)}, {}, [("group", "removed", (5,))]),
        ({5: group(5)}, {5: group(5, path="new")}, [("group", "changed", (5,))]),
        ({5: group(5)}, {5: group(5, name="New")}, [("group", "changed", (5,))]),
        ({5: group(5)}, {5: group(5, parent_id=1)}, [("group", "changed", (5,))]),
        ({5: group(5, 1)}, {5: group(5, 1)}, []),
    ],
    ids=["added", "removed", "path", "name-only", "new-parent", "unchanged"],
)
def test_diff_groups_table(
    old: dict[int, Group], new: dict[int, Group], expected: list[tuple[str, str, tuple[int, ...]]]
) -> None:
    """Groups: path, name and parent changes are all record changes."""
    assert summary(diff_groups(old, new)) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {7: project(7)}, [("project", "added", (7,))]),
        ({7: project(7)}, {}, [("project", "removed", (7,))]),
        ({7: project(7)}, {7: project(7, namespace=namespace(2))}, [("project", "changed", (7,))]),
        ({7: project(7)}, {7: project(7, path="other")}, [("project", "changed", (7,))]),
        ({7: project(7)}, {7: project(7, topics=("a",))}, [("project", "changed", (7,))]),
        ({7: project(7)}, {7: project(7, shares=(share("project", 7, 9),))}, []),
        ({7: project(7)}, {7: project(7)}, []),
    ],
    ids=["added", "removed", "transfer", "rename", "topics", "shares-only", "unchanged"],
)
def test_diff_projects_table(
    old: dict[int, Project],
    new: dict[int, Project],
    expected: list[tuple[str, str, tuple[int, ...]]],
) -> None:
    """Projects: any field but ``shares`` makes a change; a shares-only difference does not."""
    assert summary(diff_projects(old, new)) == expected


@pytest.mark.parametrize("kind", ["group", "project"])
@pytest.mark.parametrize(
    ("old_fields", "new_fields", "expected_kind"),
    [
        (None, {}, "added"),
        ({}, None, "removed"),
        ({}, {"access_level": 40}, "changed"),
        ({}, {"expires_at": dt.date(2030, 1, 1)}, "changed"),
        ({}, {"member_role": "auditor"}, "changed"),
        ({"expires_at": dt.date(2030, 1, 1)}, {"expires_at": dt.date(2030, 1, 1)}, None),
    ],
    ids=["added", "removed", "access-level", "expires-at", "member-role", "unchanged"],
)
def test_diff_members_table(
    kind: SourceKind,
    old_fields: dict[str, Any] | None,
    new_fields: dict[str, Any] | None,
    expected_kind: str | None,
) -> None:
    """Member rows keyed (source, user): level, expiry and role changes are changes."""
    old = {} if old_fields is None else {(3, 8): member(kind, 3, 8, **old_fields)}
    new = {} if new_fields is None else {(3, 8): member(kind, 3, 8, **new_fields)}
    expected = [] if expected_kind is None else [(f"{kind}_member", expected_kind, (3, 8))]
    assert summary(diff_members(kind, old, new)) == expected


@pytest.mark.parametrize("kind", ["group", "project"])
@pytest.mark.parametrize(
    ("old_fields", "new_fields", "expected_kind"),
    [
        (None, {}, "added"),
        ({}, None, "removed"),
        ({}, {"access_level": 40}, "changed"),
        ({}, {"expires_at": dt.date(2030, 1, 1)}, "changed"),
        ({}, {}, None),
    ],
    ids=["added", "removed", "access-level", "expires-at", "unchanged"],
)
def test_diff_shares_table(
    kind: SourceKind,
    old_fields: dict[str, Any] | None,
    new_fields: dict[str, Any] | None,
    expected_kind: str | None,
) -> None:
    """Share links keyed (source, invited group) under ``group_share``/``project_share``."""
    old = {} if old_fields is None else {(3, 9): share(kind, 3, 9, **old_fields)}
    new = {} if new_fields is None else {(3, 9): share(kind, 3, 9, **new_fields)}
    expected = [] if expected_kind is None else [(f"{kind}_share", expected_kind, (3, 9))]
    assert summary(diff_shares(kind, old, new)) == expected


def test_project_shares_flattens_by_project_and_group() -> None:
    """project_shares keys every project's links by (project id, invited group id)."""
    a, b, c = share("project", 7, 2), share("project", 7, 1), share("project", 8, 2)
    projects = {8: project(8, shares=(c,)), 7: project(7, shares=(a, b)), 9: project(9)}
    assert project_shares(projects) == {(7, 2): a, (7, 1): b, (8, 2): c}


def test_project_share_change_shows_in_diff_shares_only() -> None:
    """A project's new share is a project_share add and no project change."""
    old = {7: project(7)}
    new = {7: project(7, shares=(share("project", 7, 9),))}
    assert diff_projects(old, new) == ()
    changes = diff_shares("project", project_shares(old), project_shares(new))
    assert summary(changes) == [("project_share", "added", (7, 9))]


def test_apply_rejects_a_change_that_does_not_fit() -> None:
    """apply raises ValueError for an add of a present key or a removal of an absent one."""
    added = Change(record="user", kind="added", key=(1,), old=None, new=user(1))
    removed = Change(record="user", kind="removed", key=(2,), old=user(2), new=None)
    with pytest.raises(ValueError, match="user:1"):
        apply({1: user(1)}, [added])
    with pytest.raises(ValueError, match="user:2"):
        apply({1: user(1)}, [removed])


def test_order_follows_the_poll_order() -> None:
    """order: creates, changes, member adds/updates, shares, member removes, destroys."""
    old_groups = {1: group(1), 2: group(2, 1), 3: group(3, 2)}
    new_groups = {1: group(1), 4: group(4), 5: group(5, 4)}
    changes: list[Change[Any]] = [
        *diff_users({9: user(9), 8: user(8)}, {9: user(9, username="x"), 7: user(7)}),
        *diff_groups(old_groups, new_groups),
        *diff_projects({6: project(6)}, {6: project(6, archived=True), 5: project(5)}),
        *diff_members("project", {(6, 1): member("project", 6, 1)}, {}),
        *diff_members("group", {}, {(1, 1): member("group", 1, 1)}),
        *diff_shares("group", {}, {(1, 4): share("group", 1, 4)}),
    ]
    result = order(reversed(changes), old_groups=old_groups, new_groups=new_groups)
    assert summary(result) == [
        ("user", "added", (7,)),
        ("group", "added", (4,)),
        ("group", "added", (5,)),
        ("project", "added", (5,)),
        ("user", "changed", (9,)),
        ("project", "changed", (6,)),
        ("group_member", "added", (1, 1)),
        ("group_share", "added", (1, 4)),
        ("project_member", "removed", (6, 1)),
        ("group", "removed", (3,)),
        ("group", "removed", (2,)),
        ("user", "removed", (8,)),
    ]


# --- strategies ---------------------------------------------------------------------------------

UTC_TIMES = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
)
DATES = st.none() | st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2025, 1, 3))
WORDS = st.sampled_from(["a", "b"])
LEVELS = st.sampled_from([10, 30, 50])
VISIBILITY = st.sampled_from(["private", "public"])


def users_for(uid: int) -> st.SearchStrategy[User]:
    """Users with id ``uid`` and fields from small pools, so equal records are common."""
    return st.builds(
        User,
        id=st.just(uid),
        username=WORDS,
        name=WORDS,
        state=st.sampled_from(["active", "blocked"]),
        email=st.none() | WORDS,
        public_email=st.none(),
        is_admin=st.none() | st.booleans(),
        external=st.booleans(),
        bot=st.booleans(),
        created_at=st.none() | UTC_TIMES,
        web_url=st.just(f"https://gl.example/u{uid}"),
        avatar_url=st.none(),
    )


def groups_for(gid: int) -> st.SearchStrategy[Group]:
    """Groups with id ``gid`` whose parent, if any, has a smaller id (so no cycles)."""
    parents = st.none() if gid == 1 else st.none() | st.integers(1, gid - 1)
    return st.builds(
        Group,
        id=st.just(gid),
        name=WORDS,
        path=WORDS,
        full_path=WORDS,
        full_name=WORDS,
        parent_id=parents,
        visibility=VISIBILITY,
        created_at=st.none() | UTC_TIMES,
        web_url=st.just(f"https://gl.example/g{gid}"),
        avatar_url=st.none(),
    )


def shares_for(kind: SourceKind, key: tuple[int, int]) -> st.SearchStrategy[Share]:
    """Share links for key (source_id, group_id)."""
    return st.builds(
        Share,
        source_kind=st.just(kind),
        source_id=st.just(key[0]),
        group_id=st.just(key[1]),
        group_name=WORDS,
        group_full_path=st.none() | WORDS,
        access_level=LEVELS,
        expires_at=DATES,
    )


@st.composite
def projects_for(draw: st.DrawFn, pid: int) -> Project:
    """Projects with id ``pid`` and a few shares keyed by distinct invited groups."""
    group_ids = draw(st.sets(st.integers(1, 4), max_size=2))
    return draw(
        st.builds(
            Project,
            id=st.just(pid),
            name=WORDS,
            path=WORDS,
            path_with_namespace=WORDS,
            namespace=st.builds(
                Namespace,
                id=st.integers(1, 2),
                name=WORDS,
                path=WORDS,
                kind=st.sampled_from(["group", "user"]),
                full_path=WORDS,
                parent_id=st.none(),
            ),
            visibility=VISIBILITY,
            archived=st.booleans(),
            description=st.none() | WORDS,
            default_branch=st.just("main"),
            topics=st.lists(WORDS, max_size=2, unique=True).map(tuple),
            created_at=UTC_TIMES,
            updated_at=st.none() | UTC_TIMES,
            owner_id=st.none(),
            shares=st.tuples(*(shares_for("project", (pid, g)) for g in sorted(group_ids))),
            web_url=st.just(f"https://gl.example/p{pid}"),
        )
    )


def members_for(kind: SourceKind, key: tuple[int, int]) -> st.SearchStrategy[Member]:
    """Member rows for key (source_id, user_id)."""
    return st.builds(
        Member,
        source_kind=st.just(kind),
        source_id=st.just(key[0]),
        user_id=st.just(key[1]),
        username=WORDS,
        name=WORDS,
        state=st.just("active"),
        access_level=LEVELS,
        expires_at=DATES,
        created_at=st.none() | UTC_TIMES,
        member_role=st.none() | st.just("auditor"),
    )


@st.composite
def snapshot_pairs(
    draw: st.DrawFn, keys: st.SearchStrategy[Any], records: Callable[[Any], st.SearchStrategy[T]]
) -> tuple[dict[Any, T], dict[Any, T]]:
    """Two snapshots sharing some keys; a shared key keeps its record about half the time."""
    old = {key: draw(records(key)) for key in draw(st.sets(keys, max_size=6))}
    new = {}
    for key in draw(st.sets(keys, max_size=6)):
        keep = key in old and draw(st.booleans())
        new[key] = old[key] if keep else draw(records(key))
    return old, new


IDS = st.integers(1, 8)
PAIRS = st.tuples(st.integers(1, 3), st.integers(1, 3))
Differ = Callable[[Mapping[Any, Any], Mapping[Any, Any]], tuple[Change[Any], ...]]
CASES: dict[str, tuple[Differ, st.SearchStrategy[tuple[dict[Any, Any], dict[Any, Any]]]]] = {
    "user": (diff_users, snapshot_pairs(IDS, users_for)),
    "group": (diff_groups, snapshot_pairs(IDS, groups_for)),
    "project": (diff_projects, snapshot_pairs(IDS, projects_for)),
    "group_member": (
        partial(diff_members, "group"),
        snapshot_pairs(PAIRS, partial(members_for, "group")),
    ),
    "project_member": (
        partial(diff_members, "project"),
        snapshot_pairs(PAIRS, partial(members_for, "project")),
    ),
    "group_share": (
        partial(diff_shares, "group"),
        snapshot_pairs(PAIRS, partial(shares_for, "group")),
    ),
    "project_share": (
        partial(diff_shares, "project"),
        snapshot_pairs(PAIRS, partial(shares_for, "project")),
    ),
}


def without_shares(snapshot: Mapping[Any, Any]) -> dict[Any, Any]:
    """Projects stripped of their shares; other records unchanged."""
    return {
        k: dataclasses.replace(r, shares=()) if isinstance(r, Project) else r
        for k, r in snapshot.items()
    }


def snapshot_key(key: tuple[int, ...]) -> int | tuple[int, ...]:
    """A Change.key as the key of the snapshot mapping."""
    return key[0] if len(key) == 1 else key


# --- properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", CASES)
@given(data=st.data())
def test_diff_of_a_snapshot_with_itself_is_empty(resource: str, data: st.DataObject) -> None:
    """diff(s, s) == () for every resource."""
    differ, pairs = CASES[resource]
    snapshot, _ = data.draw(pairs)
    assert differ(snapshot, snapshot) == ()


@pytest.mark.parametrize("resource", CASES)
@given(data=st.data())
def test_apply_of_diff_round_trips(resource: str, data: st.DataObject) -> None:
    """apply(old, diff(old, new)) == new (projects up to their shares)."""
    differ, pairs = CASES[resource]
    old, new = data.draw(pairs)
    rebuilt = apply(old, differ(old, new))
    assert without_shares(rebuilt) == without_shares(new)


@pytest.mark.parametrize("resource", CASES)
@given(data=st.data())
def test_changes_are_sorted_and_match_their_inputs(resource: str, data: st.DataObject) -> None:
    """Keys strictly ascend; each change names its resource and carries old[key] and new[key]."""
    differ, pairs = CASES[resource]
    old, new = data.draw(pairs)
    changes = differ(old, new)
    keys = [c.key for c in changes]
    assert keys == sorted(set(keys))
    for change in changes:
        assert change.record == resource
        assert change.old == old.get(snapshot_key(change.key))
        assert change.new == new.get(snapshot_key(change.key))


@given(pair=snapshot_pairs(IDS, projects_for))
def test_projects_and_their_shares_round_trip_together(
    pair: tuple[dict[int, Project], dict[int, Project]],
) -> None:
    """Project changes plus project_share changes rebuild both the projects and their links."""
    old, new = pair
    projects = apply(old, diff_projects(old, new))
    old_links, new_links = project_shares(old), project_shares(new)
    assert without_shares(projects) == without_shares(new)
    assert apply(old_links, diff_shares("project", old_links, new_links)) == new_links


@st.composite
def polls(
    draw: st.DrawFn,
) -> tuple[list[Change[Any]], dict[int, Group], dict[int, Group]]:
    """One poll's unordered changes over all resources, with the group snapshots."""
    old_groups, new_groups = draw(snapshot_pairs(IDS, groups_for))
    changes: list[Change[Any]] = list(diff_groups(old_groups, new_groups))
    for resource, (differ, pairs) in CASES.items():
        if resource != "group":
            changes.extend(differ(*draw(pairs)))
    random.Random(draw(st.integers(0, 2**16))).shuffle(changes)
    return changes, old_groups, new_groups


@given(poll=polls())
def test_order_is_a_deterministic_permutation(
    poll: tuple[list[Change[Any]], dict[int, Group], dict[int, Group]],
) -> None:
    """order returns its input rearranged, the same whatever the input order."""
    changes, old_groups, new_groups = poll
    result = order(changes, old_groups=old_groups, new_groups=new_groups)
    assert Counter(result) == Counter(changes)
    again = order(reversed(changes), old_groups=old_groups, new_groups=new_groups)
    assert again == result


@given(poll=polls())
def test_order_creates_parents_first_and_destroys_children_first(
    poll: tuple[list[Change[Any]], dict[int, Group], dict[int, Group]],
) -> None:
    """A created parent precedes its created child; a destroyed child precedes its parent."""
    changes, old_groups, new_groups = poll
    result = order(changes, old_groups=old_groups, new_groups=new_groups)
    position: dict[tuple[str, str, tuple[int, ...]], int] = {
        (c.record, c.kind, c.key): i for i, c in enumerate(result)
    }
    for (resource, kind, key), i in position.items():
        if resource != "group" or kind == "changed":
            continue
        groups = new_groups if kind == "added" else old_groups
        parent = groups[key[0]].parent_id
        j = None if parent is None else position.get(("group", kind, (parent,)))
        if j is not None:
            assert (j < i) if kind == "added" else (i < j)
