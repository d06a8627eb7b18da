"""The simulator's POST /api/graphql: schema per version, GitLab's scores, limits and errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from graphql.language import ast, parse

from bridge.testing.sim.graphql_complexity import complexity, depth
from bridge.testing.sim.graphql_doc import Doc
from bridge.testing.sim.graphql_schema import schema_for
from bridge.testing.sim.profiles import GraphqlScoring, get_profile
from bridge.testing.sim.ratelimit import RateLimiter, Throttle
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory

VERSIONS = ("12.10", "13.12", "16.11", "17.5", "17.7")
HOOLI, BACKEND_QA, PRIVATE_PROJECT, PUBLIC_PROJECT = 7, 50, 1, 7  # small dataset, seed 0
MEMBER = (
    "id accessLevel { integerValue stringValue } expiresAt createdAt updatedAt "
    "user { id username name state }"
)
PAGE = "pageInfo { hasNextPage endCursor }"
QC = "queryComplexity { score limit }"


def full_list(path: str, after: str | None = None) -> str:
    """The bridge's one-source list: every direct member, 100 per page."""
    cursor = f', after: "{after}"' if after else ""
    return (
        f'p0: project(fullPath: "{path}") {{ id projectMembers(relations: [DIRECT], '
        f"first: 100{cursor}) {{ {PAGE} nodes {{ {MEMBER} }} }} }}"
    )


def fingerprints(paths: list[str], *, sort: bool = True) -> str:
    """The bridge's fingerprint shape: each group's most recently updated member."""
    order = ", sort: UPDATED_DESC" if sort else ""
    return " ".join(
        f'g{i}: group(fullPath: "{p}") {{ id fullPath groupMembers(relations: [DIRECT], '
        f"first: 1{order}) {{ nodes {{ updatedAt }} }} }}"
        for i, p in enumerate(paths)
    )


def projects_by_ids(ids: list[int]) -> str:
    """Many projects' member lists in one request."""
    gids = ", ".join(f'"gid://gitlab/Project/{i}"' for i in ids)
    return (
        f"projects(ids: [{gids}], first: 100) {{ {PAGE} nodes {{ id "
        f"projectMembers(relations: [DIRECT], first: 100) {{ {PAGE} nodes {{ ...M }} }} }} }}"
        f"}} fragment M on MemberInterface {{ {MEMBER} "
    )


def score(text: str, version: str = "16.11", scoring: GraphqlScoring = "gitlab_proc") -> int:
    """The pure complexity of a document's only operation."""
    document = parse(text)
    op = next(d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)
    }
    return complexity(Doc(op, fragments), schema_for(get_profile(version)), scoring)


@pytest.fixture(scope="module", params=VERSIONS)
def any_sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A read-only small simulator of each version."""
    sim = Simulator.from_dataset("small", version=request.param, now=NOW).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def sim_ee() -> Iterator[Simulator]:
    """A read-only small 16.11-ee simulator."""
    sim = Simulator.from_dataset("small", version="16.11-ee", now=NOW).start()
    yield sim
    sim.stop()


def gql(
    sim: Simulator, query: Any, role: str | None = "admin", *, bearer: bool = False, **kw: Any
) -> requests.Response:
    """POST /api/graphql with a query string (or a whole JSON body) as ``role``."""
    headers = {}
    if role:
        token = sim.tokens.get(role, role)
        headers = {"Authorization": f"Bearer {token}"} if bearer else {"PRIVATE-TOKEN": token}
    body = {"query": query, **kw} if isinstance(query, str) else query
    return requests.post(f"{sim.url}/api/graphql", json=body, headers=headers, timeout=30)


def rest_members(sim: Simulator, kind: str, source_id: int) -> list[tuple[int, int]]:
    """(user id, access level) of REST's direct member rows, all pages."""
    rows: list[tuple[int, int]] = []
    for page in range(1, 100):
        response = requests.get(
            f"{sim.url}/api/v4/{kind}s/{source_id}/members",
            params={"per_page": 100, "page": page},
            headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
            timeout=30,
        )
        assert response.status_code == 200
        rows += [(m["id"], m["access_level"]) for m in response.json()]
        if not response.headers.get("X-Next-Page"):
            return sorted(rows)
    raise AssertionError("too many pages")


# -- availability per version ---------------------------------------------------------------

PROBES = {
    "queryComplexity": ("{ queryComplexity { score } }", "Query", "queryComplexity"),
    "projectMembers": (
        '{ project(fullPath: "x") { projectMembers { nodes { id } } } }',
        "Project",
        "projectMembers",
    ),
    "count": (
        '{ group(fullPath: "x") { groupMembers { count } } }',
        "GroupMemberConnection",
        "count",
    ),
    "groups": ("{ groups(first: 1) { nodes { id } } }", "Query", "groups"),
}
AVAILABLE = {
    "12.10": set(),
    "13.12": {"queryComplexity", "projectMembers"},
    "16.11": {"queryComplexity", "projectMembers", "groups"},
    "17.5": {"queryComplexity", "projectMembers", "groups"},
    "17.7": {"queryComplexity", "projectMembers", "groups"},
}


def test_fields_exist_per_version_and_missing_ones_are_graphql_ruby_errors(
    any_sim: Simulator,
) -> None:
    """Each version has its fields; a missing one is graphql-ruby's undefinedField error."""
    version = any_sim.profile.version.rsplit(".", 1)[0]
    for probe, (query, owner, name) in PROBES.items():
        response = gql(any_sim, query)
        assert response.status_code == 200
        body = response.json()
        if probe in AVAILABLE[version]:
            assert "errors" not in body, (probe, body)
            continue
        type_name, field = owner, name
        if probe == "count" and "projectMembers" not in AVAILABLE[version]:
            type_name, field = "Group", "groupMembers"
        first = body["errors"][0]
        assert first["message"] == f"Field '{field}' doesn't exist on type '{type_name}'"
        assert first["extensions"] == {
            "code": "undefinedField",
            "typeName": type_name,
            "fieldName": field,
        }
        assert first["locations"][0]["line"] == 1
        assert first["path"][0] == "query"
        assert "data" not in body


def test_relations_and_sort_arguments_per_version(any_sim: Simulator) -> None:
    """relations from 13.7, sort from 15.5: older versions answer argumentNotAccepted."""
    version = any_sim.profile.minor
    response = gql(any_sim, "{ " + fingerprints(["hooli"]) + " }").json()
    if version < (13, 0):
        assert response["errors"][0]["extensions"]["code"] == "undefinedField"
    elif version < (15, 5):
        assert response["errors"] == [
            {
                "message": "Field 'groupMembers' doesn't accept argument 'sort'",
                "locations": [{"line": 1, "column": 90}],
                "path": ["query", "g0", "groupMembers", "sort"],
                "extensions": {
                    "code": "argumentNotAccepted",
                    "name": "groupMembers",
                    "typeName": "Field",
                    "argumentName": "sort",
                },
            }
        ]
    else:
        assert response["data"]["g0"]["groupMembers"]["nodes"][0]["updatedAt"].endswith("Z")


def test_enum_value_and_required_argument_errors() -> None:
    """An unknown enum value and a missing fullPath are graphql-ruby's errors."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        body = gql(
            sim,
            '{ group(fullPath: "hooli") { groupMembers(relations: [NOPE]) '
            "{ nodes { id } } } group2: group { id } }",
        ).json()
    finally:
        sim.stop()
    assert [e["message"] for e in body["errors"]] == [
        "Argument 'relations' on Field 'groupMembers' has an invalid value ([NOPE]). "
        "Expected type '[GroupMemberRelation!]'.",
        "Field 'group' is missing required arguments: fullPath",
    ]
    assert body["errors"][1]["extensions"] == {
        "code": "missingRequiredArguments",
        "className": "Field",
        "name": "group",
        "arguments": "fullPath",
    }


# -- scores ---------------------------------------------------------------------------------


def test_score_of_one_full_source_list() -> None:
    """queryComplexity 3 + project 36: nodes 13, pageInfo 3, (16+1)*(1+100*0.01) = 34, +1, +id."""
    # member = id 1 + accessLevel 1+2 + expiresAt, createdAt, updatedAt 3 + user 1+4 = 12
    # nodes 1+12 = 13; pageInfo 1+2 = 3; projectMembers (13+3 + resolver 1) * 2 = 34
    # project = resolver 1 + (id 1 + 34) = 36; queryComplexity = 1 + score 1 + limit 1 = 3
    query = "{ " + QC + " " + full_list("a/b") + " }"
    assert score(query) == 39
    assert score(query, "13.12") == 39
    # graphql-ruby's connection rule: 1 + 100 * (16 - metadata 4) + 4 = 1205; project 1207
    assert score(query, scoring="graphql_ruby_connection") == 1210


def test_score_of_ten_fingerprints() -> None:
    """Ten aliased groups: each id 1 + fullPath 1 + groupMembers 4 + resolver 1 = 7."""
    paths = [f"g/{i}" for i in range(10)]
    # groupMembers: (nodes{updatedAt} 2 + resolver 1 + sort 1) * (1 + 1*0.01) = 4.04 -> 4
    assert score("{ " + QC + " " + fingerprints(paths) + " }") == 3 + 10 * 7
    # 13.12 has no sort: (2 + 1) * 1.01 = 3.03 -> 3, so 6 per group
    assert score("{ " + QC + " " + fingerprints(paths, sort=False) + " }", "13.12") == 3 + 60
    # graphql-ruby's rule: 1 + 1 * (2 - 1) + 1 = 3 per connection, 6 per group
    assert score("{ " + fingerprints(paths) + " }", scoring="graphql_ruby_connection") == 60


def test_score_of_projects_by_fifty_ids() -> None:
    """ids neither multiply nor zero the multiplier: (39 + 1) * 2 = 80, whatever their number."""
    # inner projectMembers 34 (as above); nodes 1 + id 1 + 34 = 36; + pageInfo 3 = 39
    # projects = (39 + resolver 1) * (1 + 100 * 0.01) = 80
    query = "{ " + projects_by_ids(list(range(1, 51))) + " }"
    assert score(query) == 80
    assert score("{ " + projects_by_ids([1]) + " }") == 80
    # graphql-ruby's rule: inner 1205; items id 1 + 1205; outer 1 + 100 * 1206 + metadata 4
    assert score(query, scoring="graphql_ruby_connection") == 120_605


def test_query_complexity_reports_the_whole_score_and_callers_limit(any_sim: Simulator) -> None:
    """queryComplexity { score limit } over HTTP: the pure score, 300/250/200 by caller."""
    if not any_sim.profile.graphql_query_complexity:
        pytest.skip("no queryComplexity before 13.9")
    query = "{ " + QC + " " + full_list("hooli/swift-dashboard-7") + " }"
    for role, limit in (("admin", 300), ("user", 250), (None, 200)):
        body = gql(any_sim, query, role).json()
        assert body["data"]["queryComplexity"] == {"score": 39, "limit": limit}


def test_depth_and_fragments_are_pure() -> None:
    """Depth counts field nesting (not __typename); fragments score as if inlined."""
    inline = '{ project(fullPath: "a") { projectMembers { nodes { ' + MEMBER + " } } } }"
    spread = (
        '{ project(fullPath: "a") { projectMembers { nodes { ...M __typename } } } } '
        "fragment M on ProjectMember { " + MEMBER + " }"
    )
    # nodes 1 + 12 = 13, (13 + 1) * 2 = 28, project 29; __typename counts 1 inside the
    # connection, which doubles: (14 + 1) * 2 = 30, project 31
    assert (score(inline), score(spread)) == (29, 31)
    document = parse(spread)
    op = document.definitions[0]
    assert isinstance(op, ast.OperationDefinitionNode)
    frag = document.definitions[1]
    assert isinstance(frag, ast.FragmentDefinitionNode)
    assert depth(Doc(op, {"M": frag}), schema_for(get_profile("16.11"))) == 5


# -- limits ---------------------------------------------------------------------------------


def test_complexity_over_the_limit_is_graphql_ruby_error(any_sim: Simulator) -> None:
    """Ten full lists (10 x 36 = 360) exceed 250 for a user: 200 with the message, no data."""
    if not any_sim.profile.graphql_member_fields:
        pytest.skip("no member lists")
    query = "{ " + " ".join(full_list("x").replace("p0:", f"p{i}:") for i in range(10)) + " }"
    response = gql(any_sim, query, "user")
    assert response.status_code == 200
    assert response.json() == {
        "errors": [{"message": "Query has complexity of 360, which exceeds max complexity of 250"}]
    }
    admin = gql(any_sim, query, "admin").json()
    assert admin["errors"][0]["message"].endswith("max complexity of 300")


def nested(levels: int) -> str:
    """project > projectMembers > nodes > project ..., ``levels`` cycles, cheap (first: 0)."""
    inner = "id"
    for _ in range(levels):
        member = f"... on ProjectMember {{ project {{ {inner} }} }}"
        inner = f"projectMembers(first: 0) {{ nodes {{ {member} }} }}"
    return f'{{ project(fullPath: "hooli/swift-dashboard-7") {{ {inner} }} }}'


def test_depth_limit_15_anonymous_20_signed_in() -> None:
    """Depth 17 passes for a user, not for anonymous callers; 23 fails for everyone."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        ok = gql(sim, nested(5), "user").json()  # 1 + 5 * 3 + id = 17
        anonymous = gql(sim, nested(5), None).json()
        deep = gql(sim, nested(7), "admin").json()  # 23
    finally:
        sim.stop()
    assert "errors" not in ok
    assert anonymous == {
        "errors": [{"message": "Query has depth of 17, which exceeds max depth of 15"}]
    }
    assert deep["errors"][0] == {"message": "Query has depth of 23, which exceeds max depth of 20"}


def test_query_size_limit_from_16_11(any_sim: Simulator) -> None:
    """More than 10,000 characters is 422 "Query too large" where the version limits it."""
    query = "{ " + QC if any_sim.profile.graphql_query_complexity else "{ __typename"
    query += " " * (10_001 - len(query) - 2) + " }"
    response = gql(any_sim, query)
    if any_sim.profile.graphql_query_size_limit:
        assert response.status_code == 422
        assert response.json() == {"errors": [{"message": "Query too large"}]}
    else:
        assert response.status_code == 200
        assert "data" in response.json()


def test_page_size_is_clamped_to_100(make_sim: SimFactory) -> None:
    """first: 500 returns 100 nodes and says there are more."""
    sim = make_sim("small", version="16.11")
    group = _big_group(sim, 130)
    body = gql(
        sim,
        f'{{ group(fullPath: "{group}") {{ groupMembers(relations: [DIRECT], '
        f"first: 500) {{ {PAGE} nodes {{ id }} }} }} }}",
    ).json()
    members = body["data"]["group"]["groupMembers"]
    assert len(members["nodes"]) == 100
    assert members["pageInfo"]["hasNextPage"] is True


def test_multiplex_sums_scores_against_the_callers_limit(sim_ee: Simulator) -> None:
    """A JSON array is a multiplex: an array answer; over the summed limit, every query fails."""
    one = {"query": "{ " + QC + " " + full_list("hooli/swift-dashboard-7") + " }"}
    pair = gql(sim_ee, [one, one], "user")
    assert pair.status_code == 200
    assert [r["data"]["queryComplexity"] for r in pair.json()] == [{"score": 39, "limit": 250}] * 2
    seven = gql(sim_ee, [one] * 7, "user").json()  # 7 x 39 = 273 > 250
    error = {"message": "Query has complexity of 273, which exceeds max complexity of 250"}
    assert seven == [{"errors": [error]}] * 7


# -- rows, order, pagination ---------------------------------------------------------------


def _big_group(sim: Simulator, n: int) -> str:
    """A new public group with ``n`` direct members; its full path."""
    group = sim.world.add_group("crowd", visibility="public")
    for i in range(n):
        user = sim.world.add_user(f"crowd{i}")
        sim.world.add_member("group", group.id, user.id, (10, 20, 30, 40, 50)[i % 5])
    return "crowd"


def _walk(sim: Simulator, path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page of a group's direct members, following endCursor."""
    nodes: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    after = ""
    while True:
        cursor = f', after: "{after}"' if after else ""
        body = gql(
            sim,
            f'{{ group(fullPath: "{path}") {{ groupMembers(relations: [DIRECT], '
            f"first: 100{cursor}) {{ pageInfo {{ hasNextPage hasPreviousPage "
            f"endCursor }} nodes {{ {MEMBER} }} }} }} }}",
        ).json()
        page = body["data"]["group"]["groupMembers"]
        nodes += page["nodes"]
        infos.append(page["pageInfo"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, infos
        after = page["pageInfo"]["endCursor"]


def test_pages_through_a_big_source_by_id_descending(make_sim: SimFactory) -> None:
    """130 members: pages of 100 and 31 (the owner too), ids descending, no row twice."""
    sim = make_sim("small", version="17.7")
    _big_group(sim, 130)
    nodes, infos = _walk(sim, "crowd")
    assert [len(nodes), len(infos)] == [130, 2]
    assert [i["hasNextPage"] for i in infos] == [True, False]
    assert [i["hasPreviousPage"] for i in infos] == [False, True]
    ids = [int(n["id"].rsplit("/", 1)[1]) for n in nodes]
    assert ids == sorted(ids, reverse=True)
    assert all(n["id"].startswith("gid://gitlab/GroupMember/") for n in nodes)
    group_id = sim.world.snapshot().groups_by_full_path["crowd"]
    graphql_rows = sorted(
        (int(n["user"]["id"].rsplit("/", 1)[1]), n["accessLevel"]["integerValue"]) for n in nodes
    )
    assert graphql_rows == rest_members(sim, "group", group_id)


def test_invalid_cursor_is_an_execution_error(sim_ee: Simulator) -> None:
    """A bad ``after`` nulls the field and reports GitLab's message with location and path."""
    body = gql(sim_ee, "{ " + full_list("hooli/swift-dashboard-7", after="bm9wZQ") + " }").json()
    assert body["data"] == {"p0": {"id": "gid://gitlab/Project/7", "projectMembers": None}}
    assert body["errors"] == [
        {
            "message": "Please provide a valid cursor",
            "locations": [{"line": 1, "column": 57}],
            "path": ["p0", "projectMembers"],
        }
    ]


@pytest.mark.parametrize(
    ("kind", "source_id"), [("group", 50), ("group", 35), ("project", 7), ("project", 4)]
)
def test_direct_rows_equal_rest_rows(any_sim: Simulator, kind: str, source_id: int) -> None:
    """DIRECT gives REST's /members rows: same users, same levels."""
    if not any_sim.profile.graphql_member_relations:
        pytest.skip("no relations argument")
    snap = any_sim.world.snapshot()
    path = (
        snap.group_full_paths[source_id]
        if kind == "group"
        else snap.project_full_path(snap.projects[source_id])
    )
    field = "groupMembers" if kind == "group" else "projectMembers"
    nodes_of = "nodes { accessLevel { integerValue } user { id } }"
    query = (
        f'{{ s: {kind}(fullPath: "{path}") {{ {field}(relations: [DIRECT]) {{ {nodes_of} }} }} }}'
    )
    body = gql(any_sim, query).json()
    nodes = body["data"]["s"][field]["nodes"]
    rows = sorted(
        (int(n["user"]["id"].rsplit("/", 1)[1]), n["accessLevel"]["integerValue"]) for n in nodes
    )
    assert rows == rest_members(any_sim, kind, source_id)


def test_ee_group_members_keep_minimal_access_where_rest_hides_it(sim_ee: Simulator) -> None:
    """16.11-ee: GroupMembersFinder's EE override keeps level 5; REST /members leaves it out."""
    nodes_of = "nodes { accessLevel { integerValue stringValue } user { id } }"
    query = (
        f'{{ group(fullPath: "hooli") {{ groupMembers(relations: [DIRECT]) {{ {nodes_of} }} }} }}'
    )
    body = gql(sim_ee, query).json()
    nodes = body["data"]["group"]["groupMembers"]["nodes"]
    minimal = [n for n in nodes if n["accessLevel"]["integerValue"] == 5]
    assert minimal
    assert {n["accessLevel"]["stringValue"] for n in minimal} == {"MINIMAL_ACCESS"}
    rest = rest_members(sim_ee, "group", HOOLI)
    assert len(nodes) == len(rest) + len(minimal)


def test_count_counts_filtered_rows_where_a_profile_has_it(make_sim: SimFactory) -> None:
    """No version has member ``count``; a profile that switches it on counts DIRECT rows."""
    sim = make_sim("small", version="16.11")
    query = (
        '{ group(fullPath: "hooli/backend/qa") { groupMembers(relations: [DIRECT], first: 2) '
        "{ count nodes { id } } } }"
    )
    assert gql(sim, query).json()["errors"][0]["message"] == (
        "Field 'count' doesn't exist on type 'GroupMemberConnection'"
    )
    sim.profile = dataclasses.replace(sim.profile, graphql_member_count=True)
    members = gql(sim, query).json()["data"]["group"]["groupMembers"]
    assert members["count"] == len(rest_members(sim, "group", BACKEND_QA)) == 18
    assert len(members["nodes"]) == 2


def test_role_change_moves_updated_at_to_the_top(make_sim: SimFactory) -> None:
    """The fingerprint (UPDATED_DESC, first: 1) shows a member whose role just changed."""
    sim = make_sim("small", version="17.5")
    snap = sim.world.snapshot()
    oldest = min(snap.direct_members("group", BACKEND_QA), key=lambda m: m.updated_at or NOW)
    query = (
        "{ "
        + fingerprints(["hooli/backend/qa"]).replace("updatedAt", "updatedAt user { id }")
        + " }"
    )
    before = gql(sim, query).json()["data"]["g0"]["groupMembers"]["nodes"][0]
    assert before["user"]["id"] != f"gid://gitlab/User/{oldest.user_id}"
    requests.post(f"{sim.url}/-/sim/clock", json={"advance_seconds": 3600}, timeout=10)
    level = 40 if oldest.access_level != 40 else 30
    changed = requests.put(
        f"{sim.url}/-/sim/groups/{BACKEND_QA}/members/{oldest.user_id}",
        json={"access_level": level},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    after = gql(sim, query).json()["data"]["g0"]["groupMembers"]["nodes"][0]
    assert after["user"]["id"] == f"gid://gitlab/User/{oldest.user_id}"
    assert after["updatedAt"] > before["updatedAt"]
    assert after["updatedAt"].endswith("Z")
    assert "." not in after["updatedAt"]  # whole seconds


# -- lookups, visibility, auth ----------------------------------------------------------------


def test_unknown_and_hidden_sources_are_null_and_ids_filter(sim_ee: Simulator) -> None:
    """Unknown paths are null without error; projects(ids:) keeps readable known ids only."""
    listed = projects_by_ids([PRIVATE_PROJECT, PUBLIC_PROJECT, 99999])
    query = (
        '{ a: group(fullPath: "no/such") { id } b: project(fullPath: "JudyStewart/amber-api-1") '
        "{ id } " + listed + " }"
    )
    anonymous = gql(sim_ee, query, None).json()
    assert "errors" not in anonymous
    assert anonymous["data"]["a"] is None
    assert anonymous["data"]["b"] is None  # private
    assert [n["id"] for n in anonymous["data"]["projects"]["nodes"]] == ["gid://gitlab/Project/7"]
    admin = gql(sim_ee, query, bearer=True).json()["data"]
    assert admin["b"] == {"id": "gid://gitlab/Project/1"}
    assert [n["id"] for n in admin["projects"]["nodes"]] == [
        "gid://gitlab/Project/7",
        "gid://gitlab/Project/1",
    ]


def test_bad_global_id_is_an_execution_error(sim_ee: Simulator) -> None:
    """GitlabSchema.parse_gid's messages for a malformed id and another model's id."""
    group7 = "gid://gitlab/Group/7"
    for gid, message in (
        ("7", "7 is not a valid GitLab ID."),
        (group7, f"{group7} is not a valid ID for Project."),
    ):
        body = gql(sim_ee, f'{{ projects(ids: ["{gid}"]) {{ nodes {{ id }} }} }}').json()
        assert body["data"] == {"projects": None}
        assert body["errors"][0]["message"] == message
        assert body["errors"][0]["path"] == ["projects"]


def test_invalid_token_is_401_and_blocked_user_403(sim_ee: Simulator) -> None:
    """GraphqlController's auth errors, in its ``errors`` shape."""
    bad = gql(sim_ee, "{ __typename }", "glpat-nope")
    assert (bad.status_code, bad.json()) == (401, {"errors": [{"message": "Invalid token"}]})
    blocked = next(u for u in sim_ee.world.snapshot().users.values() if u.state == "blocked")
    token = sim_ee.world.add_token(blocked.id)
    refused = gql(sim_ee, "{ __typename }", token)
    assert (refused.status_code, refused.json()) == (
        403,
        {"errors": [{"message": "API not accessible for user"}]},
    )


def test_variables_operation_name_and_parse_errors(sim_ee: Simulator) -> None:
    """Variables and operationName select what runs; a syntax error is graphql-ruby's."""
    doc = "query A($p: ID!) { project(fullPath: $p) { fullPath } } query B { __typename }"
    body = gql(sim_ee, doc, variables={"p": "hooli/swift-dashboard-7"}, operationName="A")
    assert body.json() == {"data": {"project": {"fullPath": "hooli/swift-dashboard-7"}}}
    assert gql(sim_ee, doc).json() == {"errors": [{"message": "An operation name is required"}]}
    broken = gql(sim_ee, "{ project(fullPath: ) { id } }").json()
    assert broken == {
        "errors": [
            {
                "message": 'Parse error on ")" (RPAREN) at [1, 21]',
                "locations": [{"line": 1, "column": 21}],
            }
        ]
    }


def test_graphql_counts_against_the_throttle_like_rest(make_sim: SimFactory) -> None:
    """Rack::Attack counts /api/graphql: the third request of two allowed gets REST's 429."""
    sim = make_sim("small", version="16.11")
    sim.limiter = RateLimiter(throttle=Throttle(limit=2, period=3600))
    rest = requests.get(
        f"{sim.url}/api/v4/groups", headers={"PRIVATE-TOKEN": sim.tokens["admin"]}, timeout=10
    )
    assert rest.status_code == 200
    assert gql(sim, "{ __typename }").status_code == 200
    throttled = gql(sim, "{ __typename }")
    assert (throttled.status_code, throttled.text) == (429, "Retry later\n")
    assert throttled.headers["Retry-After"]
    counters = sim.counters()
    assert counters[("POST /api/graphql", 200)] == 1
    assert counters[("POST /api/graphql", 429)] == 1


def test_variable_values_are_checked_like_graphql_ruby(sim_ee: Simulator) -> None:
    """A missing non-null variable and a string for an Int are errors before execution."""
    doc = (
        "query($p: ID!, $n: Int) "
        "{ project(fullPath: $p) { projectMembers(first: $n) { nodes { id } } } }"
    )
    missing = gql(sim_ee, doc, variables={"n": 1}).json()
    assert missing["errors"][0]["message"] == "Variable $p of type ID! was provided invalid value"
    wrong = gql(sim_ee, doc, variables={"p": "hooli/swift-dashboard-7", "n": "1"}).json()
    assert wrong["errors"][0]["extensions"]["problems"] == [
        {"path": [], "explanation": 'Could not coerce value "1" to Int'}
    ]
    ok = gql(sim_ee, doc, variables={"p": "hooli/swift-dashboard-7", "n": 1}).json()
    assert len(ok["data"]["project"]["projectMembers"]["nodes"]) == 1
