"""Pagination: the pure functions, then GitLab's headers and links over real HTTP."""

from __future__ import annotations

import re

import pytest
import requests

from bridge.testing.sim.pagination import (
    LinkBase,
    PaginationError,
    check_offset_cap,
    decode_cursor,
    encode_cursor,
    keyset_by_id,
    offset_page,
    page_params,
    to_query,
)
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory, client

BASE = LinkBase("http://gitlab.example.com", "/api/v4/projects/5/members")


def _rels(link: str) -> list[str]:
    return re.findall(r'rel="(\w+)"', link)


def test_to_query_sorts_encoded_pairs_like_rails() -> None:
    """Hash#to_query encodes each pair, writes arrays as key[]=v, and sorts the pairs."""
    query = to_query(
        {"per_page": "2", "id": "acme/platform", "skip_groups": ["3", "1"], "a b": "x y"}
    )
    assert query == "a+b=x+y&id=acme%2Fplatform&per_page=2&skip_groups%5B%5D=3&skip_groups%5B%5D=1"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (1, 20)),
        ({"page": "3", "per_page": "50"}, (3, 50)),
        ({"per_page": "1000"}, (1, 100)),
        ({"page": "0", "per_page": "0"}, (1, 20)),
    ],
)
def test_page_params_defaults_and_clamping(
    params: dict[str, str], expected: tuple[int, int]
) -> None:
    """per_page defaults to 20 and is clamped to 100; page starts at 1."""
    assert page_params(params) == expected


def test_page_params_rejects_non_integers() -> None:
    """A non-integer page is Grape's 400 ``page is invalid``."""
    with pytest.raises(PaginationError) as err:
        page_params({"page": "two"})
    assert (err.value.status, err.value.body) == (400, {"error": "page is invalid"})


def test_offset_headers_in_gitlab_order_with_empty_neighbours() -> None:
    """First page: X-Prev-Page is an empty string, rels are next, first, last."""
    items, headers = offset_page(list(range(45)), {"per_page": "20"}, BASE)
    assert list(items) == list(range(20))
    names = [name for name, _ in headers]
    assert names == [
        "X-Per-Page",
        "X-Page",
        "X-Next-Page",
        "X-Prev-Page",
        "Link",
        "X-Total",
        "X-Total-Pages",
    ]
    values = dict(headers)
    assert (values["X-Next-Page"], values["X-Prev-Page"]) == ("2", "")
    assert (values["X-Total"], values["X-Total-Pages"]) == ("45", "3")
    assert _rels(values["Link"]) == ["next", "first", "last"]
    assert (
        "<http://gitlab.example.com/api/v4/projects/5/members?page=2&per_page=20>" in values["Link"]
    )


def test_offset_middle_and_last_pages() -> None:
    """The middle page links prev and next; the last page has an empty X-Next-Page."""
    _, middle = offset_page(list(range(45)), {"page": "2", "per_page": "20"}, BASE)
    assert _rels(dict(middle)["Link"]) == ["prev", "next", "first", "last"]
    items, last = offset_page(list(range(45)), {"page": "3", "per_page": "20"}, BASE)
    assert list(items) == list(range(40, 45))
    assert (dict(last)["X-Next-Page"], dict(last)["X-Prev-Page"]) == ("", "2")
    assert _rels(dict(last)["Link"]) == ["prev", "first", "last"]


def test_offset_empty_list_and_past_the_end() -> None:
    """Empty: X-Total 0, X-Total-Pages 1, first/last page 1; past the end: [] and no neighbours."""
    items, headers = offset_page([], {}, BASE)
    values = dict(headers)
    assert list(items) == []
    assert (values["X-Total"], values["X-Total-Pages"], values["X-Next-Page"]) == ("0", "1", "")
    assert values["Link"].count("page=1&") == 2
    items, headers = offset_page(list(range(5)), {"page": "9"}, BASE)
    assert list(items) == []
    assert (dict(headers)["X-Prev-Page"], dict(headers)["X-Next-Page"]) == ("", "")


def test_totals_and_last_link_vanish_above_the_count_limit() -> None:
    """Above the threshold (10,000 by default) X-Total, X-Total-Pages and rel=last are omitted."""
    _, headers = offset_page(list(range(10_001)), {"per_page": "100"}, BASE)
    values = dict(headers)
    assert "X-Total" not in values
    assert "X-Total-Pages" not in values
    assert _rels(values["Link"]) == ["next", "first"]
    _, at_limit = offset_page(list(range(10_000)), {"per_page": "100"}, BASE)
    assert dict(at_limit)["X-Total"] == "10000"


def test_offset_cap_at_fifty_thousand() -> None:
    """page x per_page above 50,000 is a 405 naming the type; exactly 50,000 is allowed."""
    check_offset_cap({"page": "500", "per_page": "100"}, "Project")
    with pytest.raises(PaginationError) as err:
        check_offset_cap({"page": "501", "per_page": "100"}, "Project")
    assert err.value.status == 405
    assert "objects of type Project" in str(err.value.body["error"])


@pytest.mark.parametrize("newer", [True, False])
def test_keyset_by_id_walk(newer: bool) -> None:
    """id_after pages cover every row once; newer GitLab ends on an empty page, older does not."""
    rows, params, seen, requests_made = list(range(1, 8)), {"per_page": "3", "sort": "asc"}, [], 0
    while True:
        requests_made += 1
        items, headers = keyset_by_id(rows, params, BASE, lambda r: r, next_when_nonempty=newer)
        seen += list(items)
        if not headers:
            break
        assert [name for name, _ in headers] == ["Link"]
        params = {**params, "id_after": re.search(r"id_after=(\d+)", headers[0][1]).group(1)}  # type: ignore[union-attr]
    assert seen == rows
    assert requests_made == (4 if newer else 3)


def test_cursor_round_trip_and_garbage() -> None:
    """Cursors are url-safe base64 JSON with _kd=n; garbage is a 400."""
    cursor = encode_cursor({"id": "42"})
    assert decode_cursor(cursor) == {"id": "42"}
    with pytest.raises(PaginationError):
        decode_cursor("!!!not-base64")


# -- over HTTP ----------------------------------------------------------------------------


def test_links_follow_external_url_and_echo_route_params(make_sim: SimFactory) -> None:
    """Link URLs use the configured external URL, carry the route's id and sorted defaults."""
    sim: Simulator = make_sim(external_url="https://gitlab.example.test")
    snap = sim.world.snapshot()
    gid = next(g for g, rows in snap.members.items() if g[0] == "group" and len(rows) > 3)[1]
    path = snap.group_full_paths[gid].replace("/", "%2F")
    response = requests.get(
        f"{sim.url}/api/v4/groups/{path}/members",
        params={"per_page": 2},
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    link = response.headers["Link"]
    expected_id = "id=" + snap.group_full_paths[gid].replace("/", "%2F")
    assert link.startswith(
        f"<https://gitlab.example.test/api/v4/groups/{path}/members?{expected_id}&page=2&per_page=2>"
    )
    assert response.json()[0]["web_url"].startswith("https://gitlab.example.test/")


def test_python_gitlab_keeps_base_url_behind_a_proxy(make_sim: SimFactory) -> None:
    """With another external host, python-gitlab's keep_base_url still pages to the real server."""
    sim = make_sim(external_url="https://gitlab.example.test")
    gl = client(sim, keep_base_url=True)
    users = gl.users.list(get_all=True, per_page=7)
    assert len(users) == len(sim.world.snapshot().users)


def test_totals_vanish_over_http_with_a_low_threshold(make_sim: SimFactory) -> None:
    """The count threshold is configurable; python-gitlab then reports total None."""
    sim = make_sim(count_limit=20)
    gl = client(sim)
    listing = gl.users.list(iterator=True, per_page=10)
    assert listing.total is None
    assert listing.total_pages is None
    assert len(list(listing)) == len(sim.world.snapshot().users)


def test_keyset_projects_link_walk_over_http(small_sim: Simulator) -> None:
    """/projects keyset: only a Link header, with id_after, until the list ends."""
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = small_sim.tokens["admin"]
    url: str | None = (
        f"{small_sim.url}/api/v4/projects?pagination=keyset&order_by=id&sort=asc&per_page=7"
    )
    ids: list[int] = []
    while url:
        response = session.get(url, timeout=10)
        assert not any(h.startswith("X-") for h in response.headers)
        ids += [p["id"] for p in response.json()]
        url = response.links.get("next", {}).get("url")
        assert url is None or "id_after=" in url
    assert ids == sorted(small_sim.world.snapshot().projects)


def test_keyset_on_unsupported_order_is_405(small_sim: Simulator) -> None:
    """/projects keyset with order_by=name is GitLab's 405."""
    response = requests.get(
        f"{small_sim.url}/api/v4/projects",
        params={"pagination": "keyset", "order_by": "name"},
        headers={"PRIVATE-TOKEN": small_sim.tokens["admin"]},
        timeout=10,
    )
    assert response.status_code == 405
    assert response.json() == {
        "error": "Keyset pagination is not yet available for this type of request"
    }


@pytest.mark.parametrize(("version", "keyset"), [("13.12", False), ("16.11", True)])
def test_users_keyset_from_16_5_only(make_sim: SimFactory, version: str, keyset: bool) -> None:
    """/users honours pagination=keyset from 16.5 (cursor links); before, offset headers return."""
    sim = make_sim(version=version)
    response = requests.get(
        f"{sim.url}/api/v4/users",
        params={"pagination": "keyset", "order_by": "id", "sort": "asc", "per_page": 5},
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    assert ("X-Total" in response.headers) is not keyset
    assert ("cursor=" in response.links["next"]["url"]) is keyset
    gl = client(sim)
    users = gl.users.list(get_all=True, pagination="keyset", order_by="id", sort="asc", per_page=5)
    assert [u.id for u in users] == sorted(sim.world.snapshot().users)


@pytest.mark.parametrize(
    ("path", "version", "capped", "type_name"),
    [
        ("users", "16.11", False, "User"),
        ("users", "17.5", True, "User"),
        ("projects", "12.10", False, "Project"),
        ("projects", "13.12", True, "Project"),
    ],
)
def test_offset_cap_where_the_version_has_it(
    make_sim: SimFactory, path: str, version: str, capped: bool, type_name: str
) -> None:
    """405 past offset 50,000: /projects from 13.0, /users from 17.0."""
    sim = make_sim(version=version)
    response = requests.get(
        f"{sim.url}/api/v4/{path}",
        params={"page": 501, "per_page": 100},
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    assert response.status_code == (405 if capped else 200)
    if capped:
        assert f"type {type_name}." in response.json()["error"]


def test_delete_between_pages_skips_a_row_like_gitlab(make_sim: SimFactory) -> None:
    """Offset pages are separate queries: deleting a row already read skips one on the next page."""
    sim = make_sim()
    admin = {"PRIVATE-TOKEN": sim.tokens["admin"]}
    url = f"{sim.url}/api/v4/users"
    query = {"order_by": "id", "sort": "asc", "per_page": 10}
    before = sorted(sim.world.snapshot().users)
    page1 = requests.get(url, params=query, headers=admin, timeout=10).json()
    token_users = set(sim.world.snapshot().tokens.values())
    victim = next(u["id"] for u in page1 if u["id"] not in token_users)
    sim.world.remove_user(victim)
    page2 = requests.get(url, params={**query, "page": 2}, headers=admin, timeout=10).json()
    assert [u["id"] for u in page1] == before[:10]
    assert page2[0]["id"] == before[11]  # before[10] was skipped, as GitLab does
