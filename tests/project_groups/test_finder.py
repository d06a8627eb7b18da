"""The bridge's ``GET /projects/:id/groups``: the pure finder, its parser and GitLab's search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import InvalidParameter
from bridge.model.records import Group, Member, Namespace, Project, Visibility
from bridge.project_groups.finder import (
    LEVELS_16,
    LEVELS_17_7,
    Caller,
    Query,
    fuzzy_match,
    fuzzy_terms,
    parse_query,
    project_groups,
    public_group_details,
)
from tests.store.factories import group, member, project, share

READER = Caller(user_id=100)  # signed in, reads the project, member of nothing
GUEST = Caller(user_id=101)  # a direct Guest of dev-share (#3)


def in_group(pid: int, gid: int, groups: Mapping[int, Group], **kwargs: object) -> Project:
    """A project in group ``gid`` with the given shares (none unless told)."""
    g = groups[gid]
    ns = Namespace(
        id=gid, name=g.name, path=g.path, kind="group", full_path=g.full_path, parent_id=g.parent_id
    )
    values: dict[str, object] = {"namespace": ns, "shares": ()} | kwargs
    return project(pid, **values)


def personal(pid: int, **kwargs: object) -> Project:
    """A project in user 100's personal namespace."""
    ns = Namespace(
        id=900, name="Reader", path="reader", kind="user", full_path="reader", parent_id=None
    )
    values: dict[str, object] = {"namespace": ns, "shares": (), "owner_id": 100} | kwargs
    return project(pid, **values)


def by_id(*groups: Group) -> dict[int, Group]:
    """Groups keyed by id."""
    return {g.id: g for g in groups}


def ids(found: Sequence[Group]) -> list[int]:
    """The ids of a result, in order."""
    return [g.id for g in found]


# -- docs/project-groups.md#worked-example: GitLab's own finder spec -------------------------

EXAMPLE = by_id(
    group(1, name="Root Group", path="root-group", visibility="public"),
    group(2, 1, name="Project Group", path="project-group", visibility="public"),
    group(3, 1, name="Dev Share", path="dev-share", visibility="private"),
    group(4, name="Reporter Share", path="reporter-share", visibility="public"),
)
EXAMPLE_SHARES = (
    share("project", 7, 3, access_level=30, group_name="Dev Share"),
    share("project", 7, 4, access_level=20, group_name="Reporter Share"),
)
EXAMPLE_PROJECT = in_group(7, 2, EXAMPLE, shares=EXAMPLE_SHARES, visibility="public")
EXAMPLE_MEMBERS = {(3, 101): member("group", 3, 101, access_level=10)}


@pytest.mark.parametrize(
    ("query", "caller", "expected"),
    [
        ({}, READER, [2, 1]),
        ({"with_shared": "true"}, READER, [4, 3, 2, 1]),
        ({"with_shared": "true", "shared_min_access_level": "30"}, READER, [3, 2, 1]),
        ({"with_shared": "true", "shared_visible_only": "true"}, READER, [4, 2, 1]),
        ({"with_shared": "true", "shared_visible_only": "true"}, GUEST, [4, 3, 2, 1]),
        ({"skip_groups": ["2"]}, READER, [1]),
        ({"with_shared": "true", "search": "share"}, READER, [4, 3]),
        ({"with_shared": "true", "search": "ro"}, READER, []),
    ],
    ids=[
        "ancestors",
        "with-shared",
        "min-level-30",
        "visible-only",
        "visible-only-as-guest-of-3",
        "skip-2",
        "search-share",
        "search-too-short",
    ],
)
def test_gitlabs_finder_example(query: dict[str, str], caller: Caller, expected: list[int]) -> None:
    """Every row of GitLab's own finder example comes out, in id DESC order."""
    found = project_groups(
        EXAMPLE_PROJECT, EXAMPLE, EXAMPLE_MEMBERS, parse_query(query, levels=LEVELS_16), caller
    )
    assert ids(found) == expected


def test_gitlabs_finder_example_in_a_personal_namespace() -> None:
    """A personal project has no ancestors: with_shared gives only its shares, [4, 3]."""
    moved = personal(7, shares=EXAMPLE_SHARES)
    found = project_groups(moved, EXAMPLE, EXAMPLE_MEMBERS, Query(with_shared=True), READER)
    assert ids(found) == [4, 3]
    assert project_groups(moved, EXAMPLE, EXAMPLE_MEMBERS, Query(), READER) == []


# -- the finder ------------------------------------------------------------------------------

DEEP = by_id(
    group(40, name="Top", path="top", visibility="public"),
    group(12, 40, name="Mid", path="mid"),
    group(31, 12, name="Low", path="low", visibility="private"),
    group(5, 31, name="Leaf", path="leaf", visibility="private"),
    group(60, name="Other", path="other", visibility="private"),
)


def test_deep_nesting_is_ordered_by_id_not_by_depth() -> None:
    """Four levels of ancestors come back id DESC, whatever their depth or visibility."""
    found = project_groups(in_group(1, 5, DEEP), DEEP, {}, Query(), Caller())
    assert ids(found) == [40, 31, 12, 5]


def test_shares_of_ancestors_appear_once() -> None:
    """A group both an ancestor and shared (and shared twice) is listed once."""
    shares = (share("project", 1, 12), share("project", 1, 60), share("project", 1, 60))
    found = project_groups(
        in_group(1, 5, DEEP, shares=shares), DEEP, {}, Query(with_shared=True), Caller()
    )
    assert ids(found) == [60, 40, 31, 12, 5]


def test_min_level_filters_shares_only() -> None:
    """shared_min_access_level compares the share's level and never drops an ancestor."""
    shares = (share("project", 1, 60, access_level=20), share("project", 1, 40, access_level=40))
    p = in_group(1, 31, DEEP, shares=shares)
    query = Query(with_shared=True, shared_min_access_level=30)
    assert ids(project_groups(p, DEEP, {}, query, Caller())) == [40, 31, 12]
    assert ids(
        project_groups(p, DEEP, {}, replace(query, shared_min_access_level=50), Caller())
    ) == [
        40,
        31,
        12,
    ]


def test_without_with_shared_the_share_filters_are_ignored() -> None:
    """Level and visibility filters only matter when with_shared is on."""
    p = in_group(1, 31, DEEP, shares=(share("project", 1, 60),))
    query = Query(shared_min_access_level=50, shared_visible_only=True)
    assert ids(project_groups(p, DEEP, {}, query, Caller())) == [40, 31, 12]


def test_skip_groups_removes_ancestors_and_shares() -> None:
    """skip_groups drops ids from both lists; unknown ids are harmless."""
    p = in_group(1, 5, DEEP, shares=(share("project", 1, 60),))
    query = Query(with_shared=True, skip_groups=(12, 60, 999, 0))
    assert ids(project_groups(p, DEEP, {}, query, Caller(is_admin=True, user_id=1))) == [40, 31, 5]


def test_snapshot_gaps_are_skipped_never_invented() -> None:
    """A missing ancestor or shared group is left out; the namespace still knows its parent."""
    p = in_group(1, 5, DEEP, shares=(share("project", 1, 77),))
    without_leaf = {gid: g for gid, g in DEEP.items() if gid != 5}
    assert ids(project_groups(p, without_leaf, {}, Query(with_shared=True), Caller())) == [
        40,
        31,
        12,
    ]
    without_mid = {gid: g for gid, g in DEEP.items() if gid != 12}
    assert ids(project_groups(p, without_mid, {}, Query(), Caller())) == [31, 5]


def test_a_parent_cycle_terminates() -> None:
    """A corrupt hierarchy (a cycle) cannot loop forever."""
    cyclic = by_id(group(1, 2), group(2, 1))
    assert ids(project_groups(in_group(9, 1, cyclic), cyclic, {}, Query(), Caller())) == [2, 1]


# -- shared_visible_only (docs/project-groups.md#shared-visible-only) -----------------------

VIS = by_id(
    group(1, name="Home", path="home", visibility="private"),
    group(20, name="Pub", path="pub", visibility="public"),
    group(21, name="Int", path="int", visibility="internal"),
    group(22, name="Priv", path="priv", visibility="private"),
    group(23, 22, name="Sub", path="sub", visibility="private"),
)
VIS_PROJECT = in_group(
    8,
    1,
    VIS,
    shares=tuple(share("project", 8, gid) for gid in (20, 21, 22, 23)),
    visibility="public",
)
VISIBLE = Query(with_shared=True, shared_visible_only=True)


@pytest.mark.parametrize(
    ("caller", "rows", "expected"),
    [
        (Caller(), {}, [20, 1]),
        (Caller(user_id=5), {}, [21, 20, 1]),
        (Caller(user_id=5, external=True), {}, [20, 1]),
        (Caller(user_id=5, is_admin=True), {}, [23, 22, 21, 20, 1]),
        (Caller(user_id=5, is_admin=True, external=True), {}, [23, 22, 21, 20, 1]),
        (Caller(user_id=5, auditor=True), {}, [23, 22, 21, 20, 1]),
        (Caller(user_id=5), {(22, 5): 10}, [22, 21, 20, 1]),
        (Caller(user_id=5, external=True), {(22, 5): 30}, [22, 20, 1]),
        (Caller(user_id=5), {(23, 5): 50}, [23, 21, 20, 1]),
        (Caller(user_id=5), {(22, 5): 5}, [21, 20, 1]),
        (Caller(user_id=5), {(22, 6): 50}, [21, 20, 1]),
        (Caller(), {(22, 5): 50}, [20, 1]),
    ],
    ids=[
        "anonymous-public-only",
        "signed-in-internal-too",
        "external-public-only",
        "admin-everything",
        "external-admin-everything",
        "auditor-everything",
        "direct-guest-of-private",
        "external-direct-member",
        "member-of-subgroup-not-parent",
        "minimal-access-is-not-enough",
        "someone-elses-row",
        "anonymous-ignores-rows",
    ],
)
def test_shared_visible_only(
    caller: Caller, rows: dict[tuple[int, int], int], expected: list[int]
) -> None:
    """Shared groups stay if public to the caller, for admins and auditors, or direct members."""
    members = {
        key: member("group", key[0], key[1], access_level=level) for key, level in rows.items()
    }
    assert ids(project_groups(VIS_PROJECT, VIS, members, VISIBLE, caller)) == expected


def test_visibility_needs_a_direct_membership() -> None:
    """Membership of a parent does not reveal a private shared subgroup (no inheritance)."""
    members = {(22, 5): member("group", 22, 5, access_level=50)}
    found = project_groups(VIS_PROJECT, VIS, members, VISIBLE, Caller(user_id=5))
    assert 23 not in ids(found)


def test_expired_memberships_count_until_gitlab_removes_them() -> None:
    """An expired row still in the snapshot counts, as in GitLab until its cleanup worker runs."""
    members = {(22, 5): member("group", 22, 5, access_level=10, expires_at=dt.date(2000, 1, 1))}
    assert 22 in ids(project_groups(VIS_PROJECT, VIS, members, VISIBLE, Caller(user_id=5)))


def test_ancestors_show_whatever_their_visibility() -> None:
    """Private ancestors are listed even for anonymous callers with shared_visible_only."""
    assert ids(project_groups(in_group(1, 5, DEEP), DEEP, {}, VISIBLE, Caller())) == [40, 31, 12, 5]


# -- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name", "path", "expected"),
    [
        ("share", "Dev Share", "dev-share", True),
        ("SHARE", "Dev Share", "dev-share", True),
        ("dev share", "Dev Share", "dev-share", True),
        ("share dev", "Dev Share", "x", True),  # every term, in any order, in the name
        ("dev backend", "Dev Team", "backend", False),  # terms split across name and path
        ("backend", "Server Side", "backend", True),  # a path substring
        ("acken", "Server Side", "backend", True),
        ("Server Side", "Server Side", "backend", True),
        ('"server side"', "Server Side", "backend", True),
        ('"side server"', "Server Side", "backend", False),
        ('"server side" back', "Server Side", "backend", False),  # phrase in name, word in path
        ('x"server side"', "Server Side", "backend", False),  # unbounded quotes are literal
        ('"ab" tea', "Tea", "t", True),  # a short quoted phrase is dropped like a short word
        ("qa", "Qa", "qa", True),  # no 3-char term: exact match ignoring case
        ("QA", "Qa Team", "qa", True),
        ("qa", "Qa Team", "qa-team", False),
        ("qa ok", "qa ok", "p", True),  # two short words: the whole query must equal a column
        ("qa  ok ", "QA OK", "p", True),  # squished first
        ("q", "q", "p", True),
        ("ro", "Root Group", "root-group", False),
        ("r_d", "Cyber_dyne", "cyberdyne", True),  # _ is literal
        ("r_d", "Cyberdyne", "cyberdyne", False),
        ("r%d", "Cyberdyne", "cyberdyne", False),  # % is literal
        ("10%", "Ten 10% off", "p", True),
        ("a%", "a%", "p", True),
        ("a_", "ab", "p", False),
        ("acme/platform", "Platform", "platform", False),  # full paths are not searched
        ("é", "É", "e", True),
        ("  ", "Anything", "p", True),  # blank: no filter
        ("", "Anything", "p", True),
        ("dev\u00a0share", "Dev Share", "dev-share", True),  # Unicode whitespace splits terms
    ],
)
def test_fuzzy_match(query: str, name: str, path: str, expected: bool) -> None:
    """GitLab's fuzzy_search(query, [:path, :name]) on one group."""
    assert fuzzy_match(query, name, path) is expected


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ('"dev share" team', ["team", "dev share"]),
        ('team "dev share"', ["team", "dev share"]),
        ('"dev share"x', ['"dev', 'share"x']),
        ('a"bcd" "bcd"', ['"bcd"', "bcd"]),
        ("ab cd efg", ["efg"]),
    ],
)
def test_fuzzy_terms(query: str, terms: list[str]) -> None:
    """Quoted phrases bounded by spaces are one term; the first literal copy of each is cut."""
    assert fuzzy_terms(query) == terms


def test_search_runs_after_the_union_and_blank_search_is_ignored() -> None:
    """search filters ancestors and shares alike; a blank search filters nothing."""
    p = EXAMPLE_PROJECT
    found = project_groups(p, EXAMPLE, {}, Query(with_shared=True, search="group"), READER)
    assert ids(found) == [2, 1]
    found = project_groups(p, EXAMPLE, {}, Query(with_shared=True, search=" \t"), READER)
    assert ids(found) == [4, 3, 2, 1]


# -- parse_query -----------------------------------------------------------------------------

Params = dict[str, str | list[str]]
BOTH_LEVEL_ERRORS = (
    "shared_min_access_level is invalid, shared_min_access_level does not have a valid value"
)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, Query()),
        ({"page": "2", "per_page": "100", "unknown": "x"}, Query()),
        ({"with_shared": "true"}, Query(with_shared=True)),
        (
            {"with_shared": "TRUE", "shared_visible_only": "Yes"},
            Query(with_shared=True, shared_visible_only=True),
        ),
        (
            {"with_shared": "1", "shared_visible_only": "on"},
            Query(with_shared=True, shared_visible_only=True),
        ),
        ({"with_shared": "t"}, Query(with_shared=True)),
        ({"with_shared": "Y"}, Query(with_shared=True)),
        ({"with_shared": "0", "shared_visible_only": "No"}, Query()),
        ({"with_shared": "off"}, Query()),
        ({"with_shared": ""}, Query()),  # Grape: an empty value is nil, then the default
        ({"shared_min_access_level": "30"}, Query(shared_min_access_level=30)),
        ({"shared_min_access_level": " 30 "}, Query(shared_min_access_level=30)),
        ({"shared_min_access_level": "+3_0"}, Query(shared_min_access_level=30)),
        ({"shared_min_access_level": "030"}, Query(shared_min_access_level=30)),
        ({"shared_min_access_level": ""}, Query()),
        ({"skip_groups": ["1", "2"]}, Query(skip_groups=(1, 2))),
        ({"skip_groups": "1,2"}, Query(skip_groups=(1, 2))),
        ({"skip_groups": " 1 , 2 ,"}, Query(skip_groups=(1, 2))),  # Ruby drops trailing ""
        ({"skip_groups": "1,,2"}, Query(skip_groups=(1, 0, 2))),  # "".to_i is 0
        ({"skip_groups": ["1,2", "3"]}, Query(skip_groups=(1, 2, 3))),
        ({"skip_groups": "abc"}, Query(skip_groups=(0,))),  # Ruby's "abc".to_i
        ({"skip_groups": "12abc,1.5,-3,1_000"}, Query(skip_groups=(12, 1, -3, 1000))),
        ({"skip_groups": ""}, Query()),
        ({"skip_groups": []}, Query()),
        ({"search": "dev share"}, Query(search="dev share")),
        ({"search": ""}, Query(search="")),
    ],
)
def test_parse_query_accepts(params: Params, expected: Query) -> None:
    """Grape's coercion: dry-types booleans, Ruby integers, comma-separated skip_groups."""
    assert parse_query(params) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"with_shared": "maybe"}, "with_shared is invalid"),
        ({"with_shared": "tRuE"}, "with_shared is invalid"),
        ({"with_shared": " true"}, "with_shared is invalid"),
        ({"with_shared": ["true"]}, "with_shared is invalid"),
        ({"shared_visible_only": "2"}, "shared_visible_only is invalid"),
        ({"shared_min_access_level": "7"}, "shared_min_access_level does not have a valid value"),
        ({"shared_min_access_level": "60"}, "shared_min_access_level does not have a valid value"),
        ({"shared_min_access_level": "0"}, "shared_min_access_level does not have a valid value"),
        (
            {"shared_min_access_level": "abc"},
            BOTH_LEVEL_ERRORS,
        ),
        (
            {"shared_min_access_level": "3.0e1"},
            BOTH_LEVEL_ERRORS,
        ),
        (
            {"shared_min_access_level": ["30"]},
            BOTH_LEVEL_ERRORS,
        ),
        ({"shared_min_access_level": "\uff13\uff10"}, BOTH_LEVEL_ERRORS),  # fullwidth "30"
        ({"search": ["a", "b"]}, "search is invalid"),
        (
            {"shared_min_access_level": "7", "with_shared": "x", "shared_visible_only": "x"},
            "with_shared is invalid, shared_visible_only is invalid, "
            "shared_min_access_level does not have a valid value",
        ),
        ({"search": ["a"], "with_shared": "x"}, "search is invalid, with_shared is invalid"),
    ],
)
def test_parse_query_refuses_with_gitlabs_400_text(params: Params, message: str) -> None:
    """Each invalid parameter gives GitLab's text; several are joined in declaration order."""
    with pytest.raises(InvalidParameter) as refused:
        parse_query(params)
    assert str(refused.value) == message


def test_planner_is_a_level_only_from_17_7() -> None:
    """15 (Planner) is refused with 16.x levels and accepted with 17.7's."""
    assert parse_query({"shared_min_access_level": "15"}).shared_min_access_level == 15
    with pytest.raises(
        InvalidParameter, match=r"^shared_min_access_level does not have a valid value$"
    ):
        parse_query({"shared_min_access_level": "15"}, levels=LEVELS_16)
    assert set(LEVELS_17_7) - set(LEVELS_16) == {15}


def test_skip_groups_without_comma_support_take_arrays_only() -> None:
    """Without CommaSeparatedToIntegerArray, a scalar or a non-integer element is invalid."""
    assert parse_query({"skip_groups": ["1", " 2"]}, csv_skip_groups=False).skip_groups == (1, 2)
    for bad in ("1,2", "1", ["1,2"], ["x"]):
        with pytest.raises(InvalidParameter, match=r"^skip_groups is invalid$"):
            parse_query({"skip_groups": bad}, csv_skip_groups=False)


def test_invalid_parameter_is_a_value_error() -> None:
    """Callers can catch it as a ValueError; str() is the body's error text."""
    assert issubclass(InvalidParameter, ValueError)


# -- serialisation ---------------------------------------------------------------------------


def test_public_group_details_in_gitlabs_key_order() -> None:
    """PublicGroupDetails: id, web_url, name, avatar_url, full_name, full_path from the record."""
    g = group(3, 1, name="Dev Share", path="dev-share", full_path="root-group/dev-share")
    g = replace(
        g, full_name="Root Group / Dev Share", web_url="https://gl.test/groups/root-group/dev-share"
    )
    details = public_group_details(g)
    assert list(details) == ["id", "web_url", "name", "avatar_url", "full_name", "full_path"]
    assert details == {
        "id": 3,
        "web_url": "https://gl.test/groups/root-group/dev-share",
        "name": "Dev Share",
        "avatar_url": "https://gitlab.example.test/a.png",
        "full_name": "Root Group / Dev Share",
        "full_path": "root-group/dev-share",
    }
    assert public_group_details(replace(g, avatar_url=None))["avatar_url"] is None


# -- properties ------------------------------------------------------------------------------

VISIBILITIES: tuple[Visibility, ...] = ("private", "internal", "public")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Project, dict[int, Group], dict[tuple[int, int], Member]]:
    """A random forest of up to 12 groups, a project somewhere, shares and memberships."""
    n = draw(st.integers(1, 12))
    groups: dict[int, Group] = {}
    for gid in range(1, n + 1):
        parent = draw(st.sampled_from([None, *range(1, gid)]))
        vis = draw(st.sampled_from(VISIBILITIES))
        groups[gid] = group(
            gid, parent, name=draw(st.sampled_from(["Dev", "Ops", "Qa"])), visibility=vis
        )
    shares = tuple(
        share("project", 1, gid, access_level=draw(st.sampled_from(LEVELS_16)))
        for gid in draw(st.lists(st.integers(1, n + 2), max_size=6))  # n+1, n+2: gaps
    )
    home = draw(st.sampled_from([None, *groups]))
    p = personal(1, shares=shares) if home is None else in_group(1, home, groups, shares=shares)
    rows = draw(
        st.dictionaries(
            st.tuples(st.integers(1, n), st.integers(1, 3)), st.sampled_from((5, 10, 30))
        )
    )
    members = {
        key: member("group", key[0], key[1], access_level=level) for key, level in rows.items()
    }
    return p, groups, members


queries = st.builds(
    Query,
    with_shared=st.booleans(),
    shared_min_access_level=st.sampled_from([None, *LEVELS_16]),
    shared_visible_only=st.booleans(),
    skip_groups=st.lists(st.integers(0, 14), max_size=3).map(tuple),
    search=st.sampled_from([None, "", "dev", "qa", "OPS", "group 1", "g1", '"Dev"']),
)
callers = st.builds(
    Caller,
    user_id=st.sampled_from([None, 1, 2, 3]),
    is_admin=st.booleans(),
    external=st.booleans(),
    auditor=st.booleans(),
)


@given(worlds(), queries, callers)
def test_results_are_unique_sorted_known_and_never_skipped(
    world: tuple[Project, dict[int, Group], dict[tuple[int, int], Member]],
    query: Query,
    caller: Caller,
) -> None:
    """Whatever the input: id DESC, no duplicates, only snapshot groups, no skipped id."""
    p, groups, members = world
    found = ids(project_groups(p, groups, members, query, caller))
    assert found == sorted(set(found), reverse=True)
    assert set(found) <= set(groups)
    assert not set(found) & set(query.skip_groups)


@given(worlds(), queries, callers)
def test_each_option_only_widens_or_narrows(
    world: tuple[Project, dict[int, Group], dict[tuple[int, int], Member]],
    query: Query,
    caller: Caller,
) -> None:
    """with_shared only adds; visible_only, a level, skip_groups and search only remove."""
    p, groups, members = world

    def run(q: Query) -> set[int]:
        return set(ids(project_groups(p, groups, members, q, caller)))

    result = run(query)
    assert run(replace(query, with_shared=False)) <= run(replace(query, with_shared=True))
    assert result <= run(replace(query, shared_visible_only=False))
    assert result <= run(replace(query, shared_min_access_level=None))
    assert result <= run(replace(query, skip_groups=()))
    assert result <= run(replace(query, search=None))
    admin = replace(caller, user_id=caller.user_id or 1, is_admin=True)
    assert result <= set(ids(project_groups(p, groups, members, query, admin)))
