"""Hostile requests to the simulator: ids, integers, routing, lazy authentication, framing.

What GitLab answers, and where its source says so, is in docs/simulator.md#hostile-requests.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests

from bridge.testing.sim.api import normalize_path, record_id
from bridge.testing.sim.pagination import HUGE, paging_errors, ruby_integer, ruby_to_i
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory

DIGITS = "7" * 5000  # past the 4,300 digits Python's int() reads


@pytest.mark.parametrize(
    ("text", "integer", "to_i"),
    [
        (DIGITS, HUGE, HUGE),
        ("-" + DIGITS, -HUGE, -HUGE),
        (DIGITS + "x", None, HUGE),
        ("1" + "0" * 30, HUGE, HUGE),
        ("9" * 30, 10**30 - 1, 10**30 - 1),
        ("\u00b2", None, 0),  # superscript two: str.isdigit() says yes, Ruby says no
        ("\u0661\u0662", None, 0),  # Arabic-Indic digits
    ],
)
def test_ruby_integers_never_crash_and_cap_at_huge(
    text: str, integer: int | None, to_i: int
) -> None:
    """Integer() and to_i read ASCII digits only and any number of them, capped at HUGE."""
    assert (ruby_integer(text), ruby_to_i(text)) == (integer, to_i)


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ("12", 12),
        ("0012", 12),
        ("-1", -1),
        ("1\nfoo", 1),  # ^ and $ are line anchors in Ruby
        ("foo\n2", 0),  # a digit line makes it an id; "foo\n2".to_i is 0
        (DIGITS, HUGE),
        ("\u00b2", None),
        ("\u0661", None),
        ("1e3", None),
        ("+1", None),
        (" 1", None),
        ("acme/platform", None),
    ],
)
def test_ids_follow_integer_id_regex(ident: str, expected: int | None) -> None:
    """INTEGER_ID_REGEX decides id or path; the id is what Rails casts the string to."""
    assert record_id(ident) == expected


@pytest.mark.parametrize(
    ("query", "refused", "errors"),
    [
        ({}, True, []),
        ({"page": " 2 ", "per_page": "1_0"}, True, []),
        ({"per_page": "0"}, True, ["per_page has a value not allowed"]),
        ({"per_page": "0"}, False, []),
        ({"per_page": "abc"}, True, ["per_page is invalid"]),
        ({"per_page": "x", "page": ["1"]}, True, ["page is invalid", "per_page is invalid"]),
        ({"page": "\u00b2", "per_page": DIGITS}, True, ["page is invalid"]),
    ],
)
def test_paging_errors_in_declaration_order(
    query: dict[str, str | list[str]], refused: bool, errors: list[str]
) -> None:
    """``use :pagination``: page before per_page; per_page=0 only where except_values has 0."""
    assert paging_errors(query, zero_per_page_refused=refused) == errors


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/api/v4//projects/1//groups", "/api/v4/projects/1/groups"),
        ("//api/v4/projects/", "/api/v4/projects"),
        ("/api/v4/projects/1/../2", "/api/v4/projects/1/../2"),
        ("", "/"),
    ],
)
def test_paths_are_normalised_like_grapes_router(path: str, normal: str) -> None:
    """Runs of / squeezed, trailing ones dropped, dot segments left alone."""
    assert normalize_path(path) == normal


# -- over HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A 16.11 simulator with a private project, its member and a blocked member."""

    sim: Simulator
    pid: int
    token: str
    blocked: str

    def get(self, path: str, token: str | None = None, method: str = "GET") -> requests.Response:
        """One request to the API."""
        headers = {"PRIVATE-TOKEN": token} if token else {}
        return requests.request(method, f"{self.sim.url}/api/v4{path}", headers=headers, timeout=10)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """The world every HTTP test here reads."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    w = sim.world
    root = w.add_group("hostile-sim", name="Hostile Sim", visibility="private")
    project = w.add_project("target", name="Target", namespace_id=root.id)
    member, blocked = w.add_user("hostile-sim-member"), w.add_user("hostile-sim-blocked")
    w.add_member("project", project.id, member.id, 30)
    w.add_member("project", project.id, blocked.id, 30)
    tokens = w.add_token(member.id), w.add_token(blocked.id)
    w.update_user(blocked.id, state="blocked")
    try:
        yield Target(sim, project.id, *tokens)
    finally:
        sim.stop()


def test_an_id_with_a_digit_line_is_that_project(target: Target) -> None:
    """``1%0Afoo`` matches INTEGER_ID_REGEX line-wise: GitLab serves project 1."""
    answer = target.get(f"/projects/{target.pid}%0Afoo", target.token)
    assert (answer.status_code, answer.json()["id"]) == (200, target.pid)


@pytest.mark.parametrize("ident", ["%C2%B2", quote("\u0661"), DIGITS, "-1", "0"])
def test_ids_that_name_no_project_are_404(target: Target, ident: str) -> None:
    """Non-ASCII digits are a path without /, huge and negative ids find nothing: 404."""
    answer = target.get(f"/projects/{ident}", target.token)
    assert (answer.status_code, answer.json()) == (404, {"message": "404 Project Not Found"})


@pytest.mark.parametrize(
    ("ident", "status"), [("%202%20", 200), ("-1", 404), ("%C2%B2", 400), (DIGITS, 404)]
)
def test_integer_route_arguments_are_coerced_like_grape(
    target: Target, ident: str, status: int
) -> None:
    """``requires :id, type: Integer``: Ruby's Integer() decides, and never crashes."""
    admin = target.sim.tokens["admin"]
    assert target.get(f"/users/{ident}", admin).status_code == status


def test_integer_parameters_never_crash(target: Target) -> None:
    """A superscript digit in an Integer parameter is 400, not a dropped connection."""
    answer = target.get("/projects?min_access_level=%C2%B2", target.token)
    assert (answer.status_code, answer.json()) == (400, {"error": "min_access_level is invalid"})


@pytest.mark.parametrize(("version", "status"), [("13.12", 200), ("16.11", 400)])
def test_per_page_zero_is_refused_from_14_8(
    make_sim: SimFactory, version: str, status: int
) -> None:
    """``except_values: [0]`` arrived in 14.8; before it per_page=0 is read as the default."""
    sim = make_sim("small", version=version)
    answer = requests.get(
        f"{sim.url}/api/v4/projects?per_page=0",
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    assert answer.status_code == status
    if status == 200:
        assert answer.headers["X-Per-Page"] == "20"
    else:
        assert answer.json() == {"error": "per_page has a value not allowed"}


def test_parameters_are_judged_before_a_blocked_token(target: Target) -> None:
    """Projects authenticate lazily: bad parameters are 400, good ones meet the 403."""
    bad = target.get(f"/projects/{target.pid}/groups?with_shared=maybe&page=x", target.blocked)
    good = target.get(f"/projects/{target.pid}/groups", target.blocked)
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "with_shared is invalid, page is invalid"},
    )
    assert good.status_code == 403


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("archived=maybe", "archived is invalid"),
        ("simple=maybe", "simple is invalid"),
        ("id_after=x", "id_after is invalid"),
        ("per_page=0", "per_page has a value not allowed"),
    ],
)
def test_project_listing_parameters_come_before_the_token(
    target: Target, query: str, error: str
) -> None:
    """/projects validates what it declares before asking who calls, anonymous or blocked."""
    for token in (target.blocked, None):
        answer = target.get(f"/projects?{query}", token)
        assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert target.get("/projects", target.blocked).status_code == 403


def test_members_authenticate_before_their_parameters(target: Target) -> None:
    """API::Members has ``before { authenticate! }``: a blocked token is 403 whatever the query."""
    answer = target.get(f"/projects/{target.pid}/members?user_ids=abc", target.blocked)
    assert answer.status_code == 403
    assert target.get(f"/projects/{target.pid}/members?user_ids=abc", target.token).status_code == (
        400
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("who", ["token", "blocked", None])
def test_methods_a_path_lacks_fall_to_the_catch_all(
    target: Target, method: str, who: str | None
) -> None:
    """``route :any, '*path'`` answers them before Grape's 405, without authenticating."""
    token = getattr(target, who) if who else None
    answer = target.get(f"/projects/{target.pid}/groups", token, method=method)
    assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})


@pytest.mark.parametrize(("who", "status"), [("token", 204), ("blocked", 403), (None, 401)])
def test_options_authenticates_then_lists_the_methods(
    target: Target, who: str | None, status: int
) -> None:
    """OPTIONS runs the API's before filter (it authenticates), then 204 with Allow."""
    token = getattr(target, who) if who else None
    answer = target.get(f"/projects/{target.pid}/groups", token, method="OPTIONS")
    assert answer.status_code == status
    if status == 204:
        assert answer.headers["Allow"] == "OPTIONS, GET, HEAD"
        assert "Content-Length" not in answer.headers
        assert "Content-Type" not in answer.headers


def test_options_on_an_unknown_path_is_the_catch_alls(target: Target) -> None:
    """The catch-all accepts every method, so OPTIONS there lists them all, unauthenticated."""
    answer = target.get("/nothing-here", method="OPTIONS")
    assert (answer.status_code, answer.headers["Allow"]) == (
        204,
        "OPTIONS, GET, POST, PUT, PATCH, DELETE, HEAD",
    )


# -- framing ------------------------------------------------------------------------------------


def exchange(sim: Simulator, data: bytes) -> bytes:
    """Send raw bytes; everything the server says until it closes or goes quiet for 1 s."""
    host, port = sim.url.removeprefix("http://").rsplit(":", 1)
    received = b""
    with socket.create_connection((host, int(port)), timeout=1) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def statuses(data: bytes) -> list[int]:
    """The status codes of the responses in a byte stream (bodies here never hold a status line)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def head(target: Target, path: str = "") -> str:
    """A request head without its blank line."""
    path = path or f"/api/v4/projects/{target.pid}/groups"
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {target.token}\r\n"


def test_a_chunked_body_is_read_and_ignored(target: Target) -> None:
    """One chunked request is one answer; a request inside its chunk is never served; the next
    request on the connection is."""
    inner = f"DELETE /api/v4/projects/{target.pid} HTTP/1.1\r\nHost: x\r\n\r\n"
    chunked = head(target) + "Transfer-Encoding: chunked\r\n\r\n"
    chunked += f"{len(inner):x};ext=1\r\n{inner}\r\n0\r\nX-Trailer: 1\r\n\r\n"
    last = head(target, "/api/v4/version") + "Connection: close\r\n\r\n"
    assert statuses(exchange(target.sim, (chunked + last).encode())) == [200, 200]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ("Content-Length: abc\r\n", 400),
        ("Content-Length: -5\r\n", 400),
        ("Content-Length: 0\r\nContent-Length: 0\r\n", 400),
        ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 501),
    ],
)
def test_framing_nginx_refuses_closes_the_connection(
    target: Target, fields: str, status: int
) -> None:
    """nginx's HTML error, Connection: close, and nothing behind it is answered."""
    behind = head(target) + "\r\n"
    answer = exchange(target.sim, (head(target) + fields + "\r\n" + behind).encode())
    assert statuses(answer) == [status]
    assert b"Connection: close" in answer
    assert b"<center>nginx</center>" in answer


def test_a_bad_chunk_size_is_400(target: Target) -> None:
    """A chunk-size line that is not hexadecimal ends the connection with a 400."""
    text = head(target) + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    assert statuses(exchange(target.sim, text.encode())) == [400]


def test_a_huge_declared_length_is_read_as_it_comes(target: Target) -> None:
    """A body declared at 100 GB is never allocated up front; when the client stops sending
    short of it, the answer is nginx's 400."""
    host, port = target.sim.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall((head(target) + "Content-Length: 99999999999\r\n\r\nabc").encode())
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert statuses(received) == [400]
