"""The GraphQL batch client without a server: query text, sizing from scores, answers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import pytest

from bridge.errors import FatalSourceError, RetriableSourceError
from bridge.model.signals import Fingerprint
from bridge.source import graphql
from bridge.source.graphql import (
    MAX_TEXT,
    TEXT_MARGIN,
    Dialect,
    Fit,
    GraphQL,
    fits,
    members_of,
)

DIALECT = Dialect(count=False, projects_by_id=True, groups_by_id=False)


def _node(
    user_id: int, level: int = 30, *, updated: str = "2024-01-02T03:04:05Z"
) -> dict[str, Any]:
    return {
        "accessLevel": {"integerValue": level},
        "expiresAt": "2025-06-30",
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": updated,
        "user": {"id": f"gid://gitlab/User/{user_id}", "username": f"u{user_id}",
                 "name": f"U {user_id}", "state": "active"},
    }  # fmt: skip


class FakeGitLab:
    """Answers like GitLab: a per-source score, a limit, and a refusal past it."""

    def __init__(self, per_source: int, limit: int = 250, base: int = 3) -> None:
        self.per_source, self.limit, self.base = per_source, limit, base
        self.sent: list[int] = []  # sources per request

    def __call__(self, query: str, variables: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        groups = re.findall(r"s(\d+):group\(fullPath:\$s", query)
        chunks = {k: [g.rsplit("/", 1)[1] for g in v] for k, v in variables.items() if k[0] == "c"}
        projects = [p for chunk in chunks.values() for p in chunk]
        n = len(groups) + len(projects)
        self.sent.append(n)
        score = self.base + self.per_source * n
        if score > self.limit:
            msg = f"Query has complexity of {score}, which exceeds max complexity of {self.limit}"
            return {"errors": [{"message": msg}]}
        data: dict[str, Any] = {"queryComplexity": {"score": score, "limit": self.limit}}

        def members(ident: str) -> dict[str, Any]:
            return {"nodes": [_node(int(ident) + 1000)], "pageInfo": {"hasNextPage": False}}

        for g in groups:
            data[f"s{g}"] = {"id": f"gid://gitlab/Group/{g}", "groupMembers": members(g)}
        for alias, ids in chunks.items():
            data[alias] = {
                "nodes": [
                    {"id": f"gid://gitlab/Project/{p}", "projectMembers": members(p)}
                    for p in ids
                    if int(p) % 7  # every seventh project is not visible: absent
                ]
            }
        return {"data": data}


def test_a_refusal_resizes_from_gitlabs_numbers_and_every_source_is_answered() -> None:
    gitlab = FakeGitLab(per_source=30)
    client = GraphQL(post=gitlab, dialect=DIALECT)
    client.fits_[("group", "list")] = Fit(size=20)  # too many: 3 + 600 > 250
    sources = [(g, f"acme/team-{g}") for g in range(1, 41)]
    lists = client.lists("group", sources)
    assert set(lists) == {g for g, _ in sources}
    assert all(rows is not None and rows[0].user_id == g + 1000 for g, rows in lists.items())
    # 20 refused (603 > 250): resized to floor(250 * 0.9 / (603 / 20)) = 7, then learnt
    # from 7 answered at 213: floor(225 / (213 / 7)) = 7.
    assert gitlab.sent[0] == 20
    assert gitlab.sent[1] == 7
    assert max(gitlab.sent[1:]) <= 7
    assert sum(gitlab.sent[1:]) == 40


def test_projects_go_by_id_and_an_absent_one_is_read_over_rest() -> None:
    gitlab = FakeGitLab(per_source=0, base=37)
    client = GraphQL(post=gitlab, dialect=DIALECT)
    lists = client.lists("project", [(p, "") for p in range(1, 1501)])
    assert gitlab.sent == [500, 1000]  # the first guess, then as many as a request may hold
    assert lists[7] is None
    assert lists[14] is None
    assert lists[8] is not None


def test_fingerprints_are_the_newest_update_and_a_missing_source_is_none() -> None:
    client = GraphQL(post=FakeGitLab(per_source=17), dialect=DIALECT)
    found = client.fingerprints("group", [(1, "a"), (2, "b")])
    assert found == {1: Fingerprint(None, "2024-01-02T03:04:05Z"),
                     2: Fingerprint(None, "2024-01-02T03:04:05Z")}  # fmt: skip
    assert Fingerprint.parse(Fingerprint(3, "x").text()) == Fingerprint(3, "x")
    assert Fingerprint.parse(Fingerprint(None, None).text()) == Fingerprint(None, None)


def test_one_source_over_the_limit_is_fatal_and_other_errors_are_named() -> None:
    client = GraphQL(post=FakeGitLab(per_source=300), dialect=DIALECT)
    with pytest.raises(FatalSourceError, match="one source is over the limit"):
        client.lists("group", [(1, "a")])

    def unknown(query: str, variables: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        return {"errors": [{"message": "Field 'queryComplexity' doesn't exist on type 'Query'"}]}

    with pytest.raises(FatalSourceError, match="doesn't exist on type 'Query'"):
        GraphQL(post=unknown, dialect=DIALECT).lists("group", [(1, "a")])

    def slow(query: str, variables: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        return {"errors": [{"message": "Request timed out. Please try a less complex query"}]}

    client = GraphQL(post=slow, dialect=DIALECT)
    client.fits_[("group", "list")] = Fit(size=6)
    with pytest.raises(RetriableSourceError):
        client.lists("group", [(g, "a") for g in range(6)])
    assert client.fit("group", "list").size == 3  # a timeout halves the next batch


def test_members_of_reads_a_complete_first_page_only() -> None:
    page = {"pageInfo": {"hasNextPage": False}, "nodes": [_node(2, 40), {**_node(0), "user": None}]}
    rows = members_of("group", 5, page)
    assert rows is not None
    assert len(rows) == 1
    row = rows[0]
    assert (row.user_id, row.access_level, row.username, row.state) == (2, 40, "u2", "active")
    assert row.expires_at == dt.date(2025, 6, 30)
    assert row.created_at == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert members_of("group", 5, {"pageInfo": {"hasNextPage": True}, "nodes": []}) is None


def test_the_query_text_stays_under_gitlabs_size_limit() -> None:
    """Paths and ids travel as variables, which GitLab does not count; the text grows with
    every alias, and stops below the limit."""
    many = [(g, "deep/" * 40 + f"g{g}") for g in range(1, 400)]
    n = fits("group", "list", DIALECT, many)
    assert 1 <= n < len(many)
    assert len(graphql.query("group", "list", DIALECT, many[:n])[0]) <= MAX_TEXT - TEXT_MARGIN
    assert len(graphql.query("group", "list", DIALECT, many[: n + 1])[0]) > MAX_TEXT - TEXT_MARGIN
    sources = [(p, "") for p in range(1, 151)]
    text, variables = graphql.query("project", "fingerprint", DIALECT, sources)
    assert "c0:projects(ids:$c0,first:100)" in text
    assert "c1:projects(ids:$c1,first:50)" in text
    assert variables["c1"][0] == "gid://gitlab/Project/101"
    assert "sort:UPDATED_DESC" in text
    assert "first:1" in text
    assert "relations:[DIRECT]" in text


def test_fit_learns_upwards_and_never_retries_a_refused_size() -> None:
    fit = Fit(size=5)
    fit.learn(score=40, limit=250, sources=5)  # 8 a source: 225 / 8 = 28
    assert fit.size == 28
    fit.refused(score=260, limit=250, sources=8)  # 32.5 a source: 225 / 32.5 = 6
    assert fit.size == 6
    fit.learn(score=37, limit=250, sources=100)
    assert fit.size == 608  # 225 / 0.37


def test_a_graphql_timeout_nulls_what_it_did_not_reach_and_halves_the_next_batch() -> None:
    """graphql-ruby's 30 s timeout (``Timeout on Type.field``) nulls the fields it did not
    reach: those sources go to REST, the others are good, and the next batch is half."""

    def slow(query: str, variables: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        ids = variables["c0"]
        nodes = [
            {"id": gid, "projectMembers": None if n % 2 else
             {"nodes": [_node(1)], "pageInfo": {"hasNextPage": False}}}
            for n, gid in enumerate(ids)
        ]  # fmt: skip
        error = {"message": "Timeout on ProjectMember.projectMembers",
                 "path": ["c0", "nodes", 1, "projectMembers"]}  # fmt: skip
        return {"data": {"queryComplexity": {"score": 40, "limit": 300}, "c0": {"nodes": nodes}},
                "errors": [error]}  # fmt: skip

    client = GraphQL(post=slow, dialect=DIALECT)
    client.fits_[("project", "list")] = Fit(size=4)
    lists = client.lists("project", [(p, "") for p in (1, 2, 3, 4)])
    assert [p for p, rows in lists.items() if rows is None] == [2, 4]
    assert client.fit("project", "list").size == 2
