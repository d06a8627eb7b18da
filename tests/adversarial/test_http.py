"""Crafted requests to the bridge's ``/projects/:id/groups`` and to a simulated GitLab's own.

Each case states what GitLab answers, from its source (docs/project-groups.md#hostile-requests
cites it). The bridge must answer exactly that; the simulator, which serves the endpoint natively
from 13.10, is held to the same table over the same raw bytes, so a difference between the two is
found and attributed: what the simulator still gets wrong is an xfail naming the defect.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest

from bridge.errors import ConfigError
from bridge.project_groups.auth import GitLabAuthorizer
from bridge.project_groups.http import BridgeServer, Limits, Reply, _operator
from bridge.project_groups.view import SnapshotView, ViewCache, load
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.simulator import Simulator
from tests.conftest import baseline

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
NOT_FOUND = {"error": "404 Not Found"}
NO_PROJECT = {"message": "404 Project Not Found"}
UNAUTHORIZED = {"message": "401 Unauthorized"}
BLOCKED = {"message": "403 Forbidden - Your account has been blocked."}
NOT_ALLOWED = {"error": "405 Not Allowed"}
DIGITS = "7" * 5000


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response as read off the socket; status None: the server answered nothing."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> object:
        """The body as JSON."""
        return json.loads(self.body)


def exchange(address: tuple[str, int], data: bytes, *, head: bool = False) -> list[Answer]:
    """Send raw bytes and read every answer until the server closes or goes quiet."""
    received = b""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return parse_answers(received, head=head)


def parse_answers(data: bytes, *, head: bool = False) -> list[Answer]:
    """Split a byte stream into responses (Content-Length framed); trailing bytes that are no
    response count as one answer of status None."""
    answers = []
    while b"\r\n\r\n" in data:
        top, data = data.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        status = int(lines[0].split()[1])
        length = 0 if head or status in (204, 304) else int(headers.get("content-length", 0))
        answers.append(Answer(status, headers, data[:length]))
        data = data[length:]
    if data or not answers:  # bytes that are no response (an HTTP/0.9 error page, say)
        answers.append(Answer(None, body=data))
    return answers


@dataclass(frozen=True, slots=True)
class World:
    """A 16.11 simulator (which has the endpoint natively) and the bridge over its snapshot."""

    sim: Simulator
    bridge: BridgeServer
    values: dict[str, str]

    def address(self, who: str) -> tuple[str, int]:
        """``bridge`` or ``sim``."""
        url = self.bridge.url if who == "bridge" else self.sim.url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A private project in a group, a member, a blocked and a deactivated user."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    w = sim.world
    root = w.add_group("hostile-root", name="Hostile Root", visibility="public")
    project = w.add_project("target", name="Target", namespace_id=root.id)
    member = w.add_user("hostile-member")
    w.add_member("project", project.id, member.id, 30)
    blocked = w.add_user("hostile-blocked")
    w.add_member("project", project.id, blocked.id, 30)
    deactivated = w.add_user("hostile-deactivated")
    values = {
        "pid": str(project.id),
        "path": quote("hostile-root/target", safe=""),
        "arabic": quote("".join(chr(0x660 + int(d)) for d in str(project.id))),
        "token": w.add_token(member.id),
        "blocked": w.add_token(blocked.id),
        "deactivated": w.add_token(deactivated.id),
    }
    w.update_user(blocked.id, state="blocked")
    w.update_user(deactivated.id, state="deactivated")
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('http') / 'bridge.db'}")
    baseline(GitLabSource(sim.url, sim.tokens["admin"]), store, now=lambda: NOW)
    views = ViewCache(lambda: load(store), refresh=3600, clock=time.monotonic)
    authorizer = GitLabAuthorizer(sim.url, ttl=60)
    bridge = BridgeServer(views, authorizer, external_url="http://bridge.test").start()
    try:
        yield World(sim, bridge, values)
    finally:
        bridge.stop()
        store.close()
        sim.stop()


@dataclass(frozen=True, slots=True)
class Case:
    """A request (``{pid}``, ``{token}``... filled in) and GitLab's answer to it."""

    name: str
    target: str
    status: int
    body: object = None  # GitLab's JSON body, where known
    method: str = "GET"
    fields: tuple[str, ...] = ()  # extra header lines, raw (may hold any byte)
    expect: tuple[tuple[str, str], ...] = ()  # response headers GitLab sends
    sim_defect: str | None = None  # why the simulator answers otherwise
    bridge_defect: str | None = None  # a fix the bridge still needs elsewhere
    payload: str = ""  # a request body
    json: bool = True  # GitLab's error body is JSON (False: its front end answers)

    def raw(self, values: dict[str, str]) -> bytes:
        """The request bytes."""
        lines = [f"{self.method} {self.target} HTTP/1.1", "Host: gitlab.test"]
        lines += [*self.fields, "Connection: close", "", self.payload]
        return "\r\n".join(lines).format(**values).encode("utf-8", "surrogateescape")


G = "/api/v4/projects/{pid}/groups"
TOKEN = "PRIVATE-TOKEN: {token}"
CASES = [
    Case("member", G, 200, fields=(TOKEN,)),
    Case("by-path", "/api/v4/projects/{path}/groups", 200, fields=(TOKEN,)),
    Case("leading-zeros", "/api/v4/projects/000{pid}/groups", 200, fields=(TOKEN,)),
    Case("id-5000-digits", f"/api/v4/projects/{DIGITS}/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-superscript-two", "/api/v4/projects/%C2%B2/groups", 404, NO_PROJECT,
         fields=(TOKEN,)),
    Case("id-arabic-indic", "/api/v4/projects/{arabic}/groups", 404, NO_PROJECT,
         fields=(TOKEN,)),
    Case("id-negative", "/api/v4/projects/-1/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-exponent", "/api/v4/projects/1e3/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-zero", "/api/v4/projects/0/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-plus", "/api/v4/projects/%2B{pid}/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-space", "/api/v4/projects/%20{pid}/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-dot-dot", "/api/v4/projects/%2E%2E/groups", 404, NO_PROJECT, fields=(TOKEN,)),
    Case("id-double-encoded", "/api/v4/projects/hostile-root%252Ftarget/groups", 404,
         NO_PROJECT, fields=(TOKEN,)),
    Case("trailing-slash", G + "/", 200, fields=(TOKEN,)),
    Case("double-slash", "/api/v4//projects/{pid}//groups", 200, fields=(TOKEN,)),
    Case("dot-segment", "/api/v4/projects/{pid}/../{pid}/groups", 404, NOT_FOUND,
         fields=(TOKEN,)),
    Case("unknown-route", "/api/v4/nothing-here", 404, NOT_FOUND, fields=(TOKEN,)),
    Case("extra-segment", G + "/1", 404, NOT_FOUND, fields=(TOKEN,)),
    Case("wrong-case", "/api/v4/Projects/{pid}/groups", 404, NOT_FOUND, fields=(TOKEN,)),
    Case("page-word", G + "?page=abc", 400, {"error": "page is invalid"}, fields=(TOKEN,)),
    Case("per-page-word", G + "?per_page=abc", 400, {"error": "per_page is invalid"},
         fields=(TOKEN,)),
    Case("page-superscript", G + "?page=%C2%B2", 400, {"error": "page is invalid"},
         fields=(TOKEN,)),
    Case("page-exponent", G + "?page=1e3", 400, {"error": "page is invalid"}, fields=(TOKEN,)),
    Case("page-array", G + "?page[]=1", 400, {"error": "page is invalid"}, fields=(TOKEN,)),
    Case("per-page-zero", G + "?per_page=0", 400, {"error": "per_page has a value not allowed"},
         fields=(TOKEN,)),
    Case("page-negative", G + "?page=-1", 200, fields=(TOKEN,), expect=(("x-page", "1"),)),
    Case("per-page-negative", G + "?per_page=-5", 200, fields=(TOKEN,),
         expect=(("x-per-page", "20"),)),
    Case("per-page-5000-digits", G + f"?per_page={DIGITS}", 200, fields=(TOKEN,),
         expect=(("x-per-page", "100"),)),
    Case("page-underscores", G + "?page=1_0", 200, fields=(TOKEN,), expect=(("x-page", "10"),)),
    Case("page-spaces", G + "?page=%202%20", 200, fields=(TOKEN,), expect=(("x-page", "2"),)),
    Case("errors-together", G + "?with_shared=maybe&page=x", 400,
         {"error": "with_shared is invalid, page is invalid"}, fields=(TOKEN,)),
    Case("level-5000-digits", G + f"?shared_min_access_level={DIGITS}", 400,
         {"error": "shared_min_access_level does not have a valid value"}, fields=(TOKEN,)),
    Case("skip-groups-5000-digits", G + f"?skip_groups={DIGITS}", 200, fields=(TOKEN,)),
    Case("token-non-ascii", G, 401, UNAUTHORIZED, fields=("PRIVATE-TOKEN: \udcc3\udca9",)),
    Case("token-5000-chars", G, 401, UNAUTHORIZED, fields=("PRIVATE-TOKEN: " + "t" * 5000,)),
    Case("token-crlf-in-query", G + "?private_token=%0D%0AX-Evil:%201", 401, UNAUTHORIZED),
    Case("token-nul-in-query", G + "?access_token=%00", 401, UNAUTHORIZED),
    Case("token-unknown", G, 401, UNAUTHORIZED, fields=("PRIVATE-TOKEN: glpat-not-a-token",)),
    Case("bearer-empty", G, 404, NO_PROJECT, fields=("Authorization: Bearer",)),
    Case("bearer-non-ascii", G, 401, UNAUTHORIZED, fields=("Authorization: Bearer \udce9",)),
    Case("basic-auth-ignored", G, 404, NO_PROJECT, fields=("Authorization: Basic Zm9vOmJhcg==",)),
    Case("token-empty", G, 404, NO_PROJECT, fields=("PRIVATE-TOKEN:",)),
    Case("blocked", G, 403, BLOCKED, fields=("PRIVATE-TOKEN: {blocked}",)),
    Case("deactivated", G, 403, None, fields=("PRIVATE-TOKEN: {deactivated}",)),
    Case("blocked-bad-params", G + "?with_shared=maybe", 400,
         {"error": "with_shared is invalid"}, fields=("PRIVATE-TOKEN: {blocked}",)),
    Case("bad-token-unknown-route", "/api/v4/nothing-here", 404, NOT_FOUND,
         fields=("PRIVATE-TOKEN: glpat-not-a-token",)),
    Case("head", G, 200, method="HEAD", fields=(TOKEN,), expect=(("x-total", "1"),)),
    # Grape 1.2+ tries a route :any before it would answer 405: GitLab's catch-all takes every
    # other method, unauthenticated (lib/api/api.rb, docs/simulator.md#hostile-requests).
    Case("post", G, 404, NOT_FOUND, method="POST", fields=(TOKEN,)),
    Case("post-anonymous", G, 404, NOT_FOUND, method="POST"),
    Case("delete", G, 404, NOT_FOUND, method="DELETE", fields=(TOKEN,)),
    Case("options", G, 204, method="OPTIONS", fields=(TOKEN,),
         expect=(("allow", "OPTIONS, GET, HEAD"),)),
    Case("patch-blocked", G, 404, NOT_FOUND, method="PATCH",
         fields=("PRIVATE-TOKEN: {blocked}",)),
    Case("post-unknown-route", "/api/v4/nothing-here", 404, NOT_FOUND, method="POST"),
    Case("get-with-body", G, 200, fields=(TOKEN, "Content-Length: 5"), payload="hello"),
    # nginx in front of GitLab refuses it, with its own HTML page: any body will do.
    Case("content-length-word", G, 400, fields=(TOKEN, "Content-Length: abc"), json=False),
]  # fmt: skip


def _params(cases: list[Case], who: str) -> list[object]:
    out: list[object] = []
    for case in cases:
        marks = []
        if who == "sim" and case.sim_defect:
            marks.append(pytest.mark.xfail(reason=f"simulator: {case.sim_defect}", strict=True))
        if who == "bridge" and case.bridge_defect:
            marks.append(pytest.mark.xfail(reason=case.bridge_defect, strict=True))
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


def check(world: World, who: str, case: Case) -> Answer:
    """Send the case to ``who`` and compare with GitLab's answer."""
    got = exchange(world.address(who), case.raw(world.values), head=case.method == "HEAD")[0]
    assert got.status == case.status, (got.status, got.body[:200])
    if case.body is not None:
        assert got.json() == case.body
    for name, value in case.expect:
        assert got.headers.get(name) == value, name
    if got.status is not None and got.status >= 400 and case.json:
        assert got.headers.get("content-type", "").startswith("application/json")
    return got


@pytest.mark.parametrize("case", _params(CASES, "bridge"))
def test_the_bridge_answers_as_gitlab(world: World, case: Case) -> None:
    """Hostile ids, parameters, tokens and methods get GitLab's status and body, never a 500."""
    check(world, "bridge", case)


@pytest.mark.parametrize("case", _params(CASES, "sim"))
def test_the_simulator_answers_as_gitlab(world: World, case: Case) -> None:
    """The same table against the simulator's native endpoint (its defects are xfail)."""
    check(world, "sim", case)


def test_deactivated_users_get_gitlabs_own_words(world: World) -> None:
    """A refused token's 403 body is passed on as GitLab worded it, link included."""
    case = next(c for c in CASES if c.name == "deactivated")
    ours, theirs = check(world, "bridge", case), check(world, "sim", case)
    assert ours.json() == theirs.json()
    assert "deactivated" in str(ours.json())


def test_head_has_gets_headers_and_no_body(world: World) -> None:
    """HEAD is GET without the body: same status, same paging headers, Content-Length kept."""
    get = next(c for c in CASES if c.name == "member")
    head = next(c for c in CASES if c.name == "head")
    full = exchange(world.address("bridge"), get.raw(world.values))[0]
    bare = exchange(world.address("bridge"), head.raw(world.values), head=True)[0]
    assert bare.body == b""
    for name in ("x-total", "x-page", "link", "content-length"):
        assert bare.headers[name] == full.headers[name]


# -- framing: what a proxy in front could disagree about ----------------------------------------

REQUEST = "GET /api/v4/projects/{pid}/groups HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n"
SMUGGLED = (
    "POST /api/v4/projects/{pid}/groups HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n\r\n"
)
REFUSED = [
    ("transfer-encoding", REQUEST + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-and-length", REQUEST + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("length-twice", REQUEST + "Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("length-list", REQUEST + "Content-Length: 5, 5\r\n\r\nhello", 400),
    ("length-signed", REQUEST + "Content-Length: +5\r\n\r\nhello", 400),
    ("length-huge", REQUEST + "Content-Length: 99999999999\r\n\r\n", 413),
    ("field-20-kib", REQUEST + "X-Big: " + "a" * 20_000 + "\r\n\r\n", 431),
    ("fields-101", REQUEST + "X-A: b\r\n" * 101 + "\r\n", 431),
    ("target-9-kib", "GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("obs-fold", REQUEST + "X-A: b\r\n c\r\n\r\n", 400),
    ("space-before-colon", "GET / HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN : t\r\n\r\n", 400),
    ("no-colon", REQUEST + "Bogus\r\n\r\n", 400),
    ("nul-in-value", REQUEST + "X-A: \x00\r\n\r\n", 400),
    ("no-host", "GET /api/v4/projects/1/groups HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", REQUEST + "Host: y\r\n\r\n", 400),
    ("http-2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http-0.9", "GET /\r\n\r\n", 400),
    ("bare-lf", "GET / HTTP/1.1\nHost: x\n\n", 400),
    ("non-ascii-target", "GET /api/v4/projects/\udcc3\udca9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
]  # fmt: skip


def send(world: World, who: str, text: str) -> list[Answer]:
    """Raw text (``{pid}``, ``{token}`` filled in) to ``bridge`` or ``sim``; every answer."""
    data = text.format(**world.values).encode("utf-8", "surrogateescape")
    return exchange(world.address(who), data)


@pytest.mark.parametrize(("name", "text", "status"), REFUSED, ids=[r[0] for r in REFUSED])
def test_ambiguous_framing_is_refused_and_the_connection_closed(
    world: World, name: str, text: str, status: int
) -> None:
    """Anything two parsers could read differently gets one JSON answer, then the connection
    closes: the request glued behind it is never answered."""
    answers = send(world, "bridge", text + SMUGGLED)
    assert [a.status for a in answers] == [status]
    assert answers[0].headers["connection"] == "close"
    assert str(answers[0].json()).startswith(f"{{'message': '{status} ")


def test_a_chunked_body_cannot_smuggle_a_request(world: World) -> None:
    """A GET with a chunked body holding a second request: one 400, nothing else answered."""
    inner = SMUGGLED.format(**world.values)
    text = (
        REQUEST + "Transfer-Encoding: chunked\r\n\r\n" + f"{len(inner):x}\r\n{inner}\r\n0\r\n\r\n"
    )
    assert [a.status for a in send(world, "bridge", text)] == [400]


CHUNKED_GET = REQUEST + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"


def test_one_chunked_request_gets_one_answer(world: World) -> None:
    """A GET with an (empty) chunked body is one request: one answer, never two."""
    assert len(send(world, "bridge", CHUNKED_GET)) == 1


def test_the_simulator_gives_one_chunked_request_one_answer(world: World) -> None:
    """Behind a proxy that honours chunked, a second answer desynchronises the connection."""
    assert len(send(world, "sim", CHUNKED_GET)) == 1


def test_a_declared_body_is_read_and_dropped(world: World) -> None:
    """A GET whose Content-Length covers a whole request: that request is body, never served;
    the next request on the connection is."""
    inner = SMUGGLED.format(**world.values)
    first = REQUEST + f"Content-Length: {len(inner)}\r\n\r\n{inner}"
    answers = send(world, "bridge", first + REQUEST + "Connection: close\r\n\r\n")
    assert [a.status for a in answers] == [200, 200]


def test_pipelined_requests_are_answered_in_order(world: World) -> None:
    """Three requests in one write: three answers, in the order asked."""
    text = "".join(
        REQUEST.replace("/groups", f"/groups?per_page={n}")
        + ("\r\n" if n < 3 else "Connection: close\r\n\r\n")
        for n in (1, 2, 3)
    )
    answers = send(world, "bridge", text)
    assert [a.headers["x-per-page"] for a in answers] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("absolute-form", "GET http://x/api/v4/projects/{pid}/groups HTTP/1.1\r\nHost: x\r\n"),
        ("leading-crlf", "\r\n\r\n" + REQUEST),
        ("http-1.0", "GET /api/v4/projects/{pid}/groups HTTP/1.0\r\nPRIVATE-TOKEN: {token}\r\n"),
        ("field-tabs", REQUEST + "X-A:\tb\t\r\n"),
    ],
)
def test_unusual_but_valid_requests_are_served(world: World, name: str, text: str) -> None:
    """RFC 9112 allows these; they are answered normally."""
    token = "" if "{token}" in text else "PRIVATE-TOKEN: {token}\r\n"
    answers = send(world, "bridge", text + token + "Connection: close\r\n\r\n")
    assert [a.status for a in answers] == [200]


def test_expect_continue_is_answered_without_waiting_for_the_body(world: World) -> None:
    """``Expect: 100-continue`` with a body never sent: answered at once, then closed."""
    text = REQUEST.format(**world.values) + "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
    started = time.monotonic()
    with socket.create_connection(world.address("bridge"), timeout=5) as sock:
        sock.sendall(text.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert time.monotonic() - started < 2
    assert [a.status for a in parse_answers(data)] == [200]


def test_a_half_closed_client_still_gets_its_answer(world: World) -> None:
    """A client that shuts its sending side after the request is answered, then closed."""
    with socket.create_connection(world.address("bridge"), timeout=5) as sock:
        sock.sendall((REQUEST + "\r\n").format(**world.values).encode())
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert [a.status for a in parse_answers(data)] == [200]


# -- the operator endpoints, bugs and headers -----------------------------------------------------


@dataclass
class Operations:
    """The daemon's endpoints, with a chosen ``server.token`` and /metrics answer."""

    metrics_token: str | None
    metrics_reply: Reply = field(
        default_factory=lambda: Reply(200, b"up 1\n", content_type="text/plain")
    )

    def health(self) -> Reply:
        """Always fine."""
        return Reply(200, {"status": "ok"})

    def ready(self) -> Reply:
        """Always ready."""
        return Reply(200, {"status": "ok"})

    def metrics(self) -> Reply:
        """The chosen answer."""
        return self.metrics_reply


class BrokenViews:
    """A snapshot view that fails: stands for any bug behind a request."""

    def get(self) -> SnapshotView:
        """Raise."""
        raise RuntimeError("boom")


def empty_views() -> ViewCache:
    """A view of an empty snapshot."""
    empty = SnapshotView(groups={}, projects={}, by_path={}, group_members={}, polled_at=None)
    return ViewCache(lambda: empty, refresh=3600, clock=time.monotonic)


@pytest.fixture
def operated() -> Iterator[Callable[..., BridgeServer]]:
    """Start bridges that serve operator endpoints (GitLab is never asked)."""
    started: list[BridgeServer] = []

    def start(ops: Operations, views: object = None, limits: Limits | None = None) -> BridgeServer:
        server = BridgeServer(
            views or empty_views(),  # type: ignore[arg-type]
            GitLabAuthorizer("http://127.0.0.1:9"),
            external_url="http://bridge.test",
            operations=ops,
            limits=limits or Limits(),
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def raw_get(server: BridgeServer, path: str, *fields: str, method: str = "GET") -> Answer:
    """One request with raw header lines (any byte via surrogates)."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", "Host: x", *fields, "Connection: close", "", ""]
    data = "\r\n".join(lines).encode("utf-8", "surrogateescape")
    return exchange((host, int(port)), data, head=method == "HEAD")[0]


def test_an_empty_server_token_is_no_token(operated: Callable[..., BridgeServer]) -> None:
    """``server.token: ""`` must not open /metrics to an empty bearer from anywhere."""
    assert not _operator("", "10.0.0.5", "Bearer ")
    assert not _operator("", "10.0.0.5", "Bearer")
    assert _operator("", "127.0.0.1", "")  # loopback only, as without a token
    server = operated(Operations(""))
    assert raw_get(server, "/metrics", "Authorization: Bearer ").status == 200  # we are loopback


@pytest.mark.parametrize(
    "field",
    [
        "Authorization: Bearer \udcff\udcfe",
        "Authorization: Bearer s3cr\udce9t",
        "Authorization: Bearer " + "s" * 12_000,
        "Authorization: Bearer",
        "Authorization: Bearer  ",
        "Authorization: Basic s3cret",
        "Authorization: s3cret",
        "Authorization: Bearer s3cret, Bearer s3cret",
    ],
    ids=["latin-1", "non-ascii", "long", "bare", "blank", "basic", "no-scheme", "repeated"],
)
def test_a_malformed_bearer_is_401_never_500(
    operated: Callable[..., BridgeServer], field: str
) -> None:
    """Whatever the credential's bytes, the answer is GitLab-shaped 401 JSON."""
    server = operated(Operations("s3cret"))
    for path in ("/metrics", "/-/ready"):
        answer = raw_get(server, path, field)
        assert answer.status == 401
        assert answer.json() == {
            "message": "401 Unauthorized: send Authorization: Bearer <server.token>"
        }
    assert raw_get(server, "/metrics", "Authorization: Bearer s3cret").status == 200


def test_operator_endpoints_answer_head_and_refuse_other_methods(
    operated: Callable[..., BridgeServer],
) -> None:
    """HEAD is GET without a body; POST is a JSON 405 with Allow."""
    server = operated(Operations(None))
    head = raw_get(server, "/-/health", method="HEAD")
    assert (head.status, head.body) == (200, b"")
    post = raw_get(server, "/metrics", method="POST")
    assert (post.status, post.json(), post.headers["allow"]) == (405, NOT_ALLOWED, "GET, HEAD")


def test_a_bug_is_a_json_500_and_one_log_line(
    operated: Callable[..., BridgeServer], caplog: pytest.LogCaptureFixture
) -> None:
    """A handler's exception: GitLab's 500 body, one ERROR line without traceback or token."""
    server = operated(Operations(None), BrokenViews())
    with caplog.at_level(logging.DEBUG, logger="bridge.project_groups"):
        answer = raw_get(server, "/api/v4/projects/1/groups?private_token=tok-SECRET")
    assert (answer.status, answer.json()) == (500, {"message": "500 Internal Server Error"})
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "GET /api/v4/projects/1/groups failed: RuntimeError: boom"
    ]
    assert errors[0].exc_info is None
    assert "tok-SECRET" not in caplog.text


def test_a_header_that_would_split_the_response_is_never_sent(
    operated: Callable[..., BridgeServer],
) -> None:
    """A reply header with CR/LF becomes a 500 instead of a forged header."""
    evil = Reply(200, b"x", [("X-A", "a\r\nSet-Cookie: evil=1")])
    server = operated(Operations(None, evil))
    answer = raw_get(server, "/metrics")
    assert answer.status == 500
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "url",
    [
        "http://bridge.test/\r\nSet-Cookie: a=1",
        'http://bridge.test/>; rel="next"',
        "http://bridge test",
        "http://bridge.test/\u00e9",
        "javascript:alert(1)",
        "",
    ],
)
def test_an_external_url_that_could_forge_link_headers_is_refused(url: str) -> None:
    """``server.external_url`` goes into every Link header: refused unless plain http(s)."""
    with pytest.raises(ConfigError, match=r"server\.external_url"):
        BridgeServer(empty_views(), GitLabAuthorizer("http://127.0.0.1:9"), external_url=url)
    BridgeServer(
        empty_views(),
        GitLabAuthorizer("http://127.0.0.1:9"),
        external_url="https://b.example:8443/x",
    )


def test_a_failed_bind_leaves_no_loop_or_socket_behind(
    operated: Callable[..., BridgeServer],
) -> None:
    """A port in use is an OSError for the caller to name, and nothing is left to leak."""
    port = int(operated(Operations(None)).url.rsplit(":", 1)[1])
    second = BridgeServer(
        empty_views(), GitLabAuthorizer("http://127.0.0.1:9"), external_url="http://b.test"
    )
    with pytest.raises(OSError, match="in use"):
        second.start("127.0.0.1", port)
    gc.collect()  # an unclosed event loop would warn here, and warnings fail the test


@dataclass
class SlowMetrics(Operations):
    """/metrics answers only once released."""

    released: threading.Event = field(default_factory=threading.Event)

    def metrics(self) -> Reply:
        """Wait for the release."""
        self.released.wait(10)
        return super().metrics()


def test_when_every_connection_is_busy_a_newcomer_gets_503(
    operated: Callable[..., BridgeServer],
) -> None:
    """At the cap with no idle connection to evict, a newcomer gets a JSON 503 at once; the
    busy ones still get their answers."""
    ops = SlowMetrics(None)
    server = operated(ops, limits=Limits(max_connections=2))
    results: list[int | None] = []
    busy = [
        threading.Thread(target=lambda: results.append(raw_get(server, "/metrics").status))
        for _ in range(2)
    ]
    for thread in busy:
        thread.start()
    deadline = time.monotonic() + 5
    while server.open_connections < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # both heads parsed, both handlers waiting
    refused = raw_get(server, "/-/health")
    assert (refused.status, refused.json()) == (
        503,
        {"message": "503 Service Unavailable: too many connections"},
    )
    ops.released.set()
    for thread in busy:
        thread.join()
    assert results == [200, 200]
