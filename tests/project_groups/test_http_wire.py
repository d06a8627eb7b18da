"""The HTTP layer's pure parts: request heads, replies, Ruby integers, ids and GitLab's refusals."""

from __future__ import annotations

import datetime as dt

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import InvalidParameter
from bridge.project_groups.auth import Credential, GitLabAuthorizer, Refused
from bridge.project_groups.finder import HUGE, ruby_integer
from bridge.project_groups.pagination import page_errors, page_params
from bridge.project_groups.view import SnapshotView
from bridge.project_groups.wire import Limits, Refusal, Reply, encode, head_end, parse_head

LIMITS = Limits()


def head(text: str) -> bytes:
    """A head from readable text."""
    return text.encode("utf-8", "surrogateescape")


def test_a_plain_request_head_is_parsed() -> None:
    """Method, origin-form target, lower-cased fields, keep-alive by default in HTTP/1.1."""
    parsed = parse_head(
        head("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN:  t \r\nX-A: 1\r\nx-a: 2\r\n\r\n"),
        "127.0.0.1",
        LIMITS,
    )
    assert (parsed.request.method, parsed.request.target) == ("GET", "/a?b=1")
    assert parsed.request.headers == {"host": "x", "private-token": "t", "x-a": "1, 2"}
    assert (parsed.body, parsed.keep_alive, parsed.closes) == (0, True, False)


@pytest.mark.parametrize(
    ("text", "keep"),
    [
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", True),
        ("GET / HTTP/1.0\r\n\r\n", False),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection(text: str, keep: bool) -> None:
    """HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when asked."""
    assert parse_head(head(text), "", LIMITS).keep_alive is keep


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-length: 1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \uff15\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413),
        ("GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nX\x7fA: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / http/1.1\r\nHost: x\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        ("GET /\udcff HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_anything_two_parsers_could_read_differently_is_refused(text: str, status: int) -> None:
    """Strictness is the defence against smuggling: each of these is a Refusal."""
    with pytest.raises(Refusal) as refused:
        parse_head(head(text), "", LIMITS)
    assert refused.value.status == status


def test_a_body_and_an_expectation_are_reported() -> None:
    """The declared length is read and dropped; with Expect it is never read (close after)."""
    plain = parse_head(head("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n"), "", LIMITS)
    assert (plain.body, plain.closes) == (7, False)
    text = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"
    assert parse_head(head(text), "", LIMITS).closes


@pytest.mark.parametrize(
    ("target", "path"),
    [("http://h/a?b", "/a?b"), ("HTTPS://h:1", "/"), ("http://h?x", "/?x")],
)
def test_an_absolute_form_target_keeps_its_path(target: str, path: str) -> None:
    """RFC 9112 3.2.2: servers accept absolute-form; only the path and query matter here."""
    parsed = parse_head(head(f"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n"), "", LIMITS)
    assert parsed.request.target == path


@pytest.mark.parametrize(
    ("buffer", "end"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest", 27),
        (b"GET /\n\nX", 7),
        (b"GET / HTTP/1.1\r\n", -1),
    ],
)
def test_the_end_of_a_head_is_found(buffer: bytes, end: int) -> None:
    """The blank line ends a head, a bare-LF one too (so it can be refused at once)."""
    assert head_end(buffer) == end


def test_a_reply_is_framed_and_a_splitting_header_refused() -> None:
    """Content-Length always; none and no body for 204; HEAD keeps the length, drops the body."""
    data = encode(Reply(200, {"a": "é"}, [("X-A", "1")]), head_only=False, close=True)
    top, body = data.split(b"\r\n\r\n")
    assert body == '{"a":"é"}'.encode()
    assert b"Content-Length: 10\r\n" in top
    assert top.endswith(b"X-A: 1\r\nConnection: close")
    bare = encode(Reply(200, {"a": "é"}), head_only=True, close=False)
    assert bare.endswith(b"Content-Length: 10\r\n\r\n")
    empty = encode(Reply(204, b"", [("Allow", "GET")]), head_only=False, close=False)
    assert b"Content-Length" not in empty
    assert empty.endswith(b"Allow: GET\r\n\r\n")
    for name, value in (("X-A", "a\r\nB: c"), ("X-A", "a\nb"), ("X A", "b"), ("X-A", "\u00e9")):
        with pytest.raises(ValueError, match="split"):
            encode(Reply(200, b"", [(name, value)]), head_only=False, close=False)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("+12", 12),
        ("-0", 0),
        ("1_000", 1000),
        ("0d12", 12),
        ("007", 7),
        ("7" * 5000, HUGE),
        ("-" + "7" * 5000, -HUGE),
        ("0" * 5000 + "1", 1),
        ("²", None),
        ("\u0661\u0662", None),
        ("1e3", None),
        ("1.0", None),
        ("0x1f", None),
        ("1__0", None),
        ("_1", None),
        ("", None),
        ("12\n3", None),
    ],
)
def test_ruby_integer(text: str, value: int | None) -> None:
    """Ruby's Integer(s, 10), which Grape's Integer parameters use; huge stays huge."""
    assert ruby_integer(text) == value


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_ruby_integer_reads_what_ruby_writes(number: int) -> None:
    """Every integer's decimal form reads back as itself."""
    assert ruby_integer(str(number)) == number


@pytest.mark.parametrize(
    ("params", "errors", "paging"),
    [
        ({}, [], (1, 20)),
        ({"page": "", "per_page": ""}, [], (1, 20)),
        ({"page": "-3", "per_page": "-1"}, [], (1, 20)),
        ({"page": "2", "per_page": "500"}, [], (2, 100)),
        ({"per_page": "7" * 5000}, [], (1, 100)),
        ({"page": "7" * 5000}, ["page is invalid"], None),
        ({"page": "461168601842738791"}, [], (461168601842738791, 20)),
        ({"page": "461168601842738792"}, ["page is invalid"], None),
        ({"per_page": "0"}, ["per_page has a value not allowed"], None),
        ({"per_page": "-0"}, ["per_page has a value not allowed"], None),
        (
            {"page": "x", "per_page": "0"},
            ["page is invalid", "per_page has a value not allowed"],
            None,
        ),
        ({"page": ["1"], "per_page": "x"}, ["page is invalid", "per_page is invalid"], None),
    ],
)
def test_page_parameters_as_grape_and_kaminari_read_them(
    params: dict[str, str | list[str]], errors: list[str], paging: tuple[int, int] | None
) -> None:
    """Grape's messages in declared order; Kaminari's fallbacks; offsets past bigint refused."""
    assert page_errors(params) == errors
    if paging is None:
        with pytest.raises(InvalidParameter, match=r"invalid|not allowed"):
            page_params(params)
    else:
        assert page_params(params) == paging


def test_projects_are_found_as_gitlabs_find_project_finds_them() -> None:
    """ASCII digits are an id, anything with a slash a path, the rest (², -1, 5,000 digits)
    nothing, never an exception."""
    view = SnapshotView(
        groups={},
        projects={7: "p7"},
        by_path={"a/b": 7},
        group_members={},
        polled_at=None,  # type: ignore[dict-item]
    )
    found = ("7", "007", "0" * 5000 + "7", "A/B", "a/b")
    assert [view.project(i) for i in found] == ["p7"] * len(found)
    for ident in ("²", "\u0667", "-7", "+7", " 7", "7 ", "1e3", "7" * 5000, "b", ""):
        assert view.project(ident) is None, ident
    assert view.age(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) is None


API = "https://gitlab.test/api/v4"
BLOCKED = {"message": "403 Forbidden - Your account has been blocked."}


@responses.activate
def test_gitlab_refusals_are_passed_on_as_worded() -> None:
    """401 and 403 from either check come back with GitLab's body; a blocked EE user whose
    GET /user still answers is refused at the project check, not shown a 404."""
    auth = GitLabAuthorizer("https://gitlab.test")
    token = Credential("PRIVATE-TOKEN", "glpat-blocked")
    responses.get(f"{API}/user", json={"id": 5, "is_admin": False})
    responses.get(f"{API}/projects/9", status=403, json=BLOCKED)
    assert auth.caller(token).user_id == 5
    with pytest.raises(Refused) as refused:
        auth.can_read_project(token, 9)
    assert (refused.value.status, refused.value.body) == (403, BLOCKED)
    scope = {"error": "insufficient_scope", "scope": "api read_api"}
    responses.get(f"{API}/user", status=403, json=scope)
    with pytest.raises(Refused) as refused:
        GitLabAuthorizer("https://gitlab.test").caller(Credential("PRIVATE-TOKEN", "other"))
    assert (refused.value.status, refused.value.body) == (403, scope)


@responses.activate
def test_an_unwieldy_refusal_body_becomes_gitlabs_default() -> None:
    """A 401 without JSON, or a huge one, is answered with GitLab's plain wording."""
    responses.get(f"{API}/user", status=401, body="nope")
    with pytest.raises(Refused) as refused:
        GitLabAuthorizer("https://gitlab.test").caller(Credential("PRIVATE-TOKEN", "a"))
    assert (refused.value.status, refused.value.body) == (401, {"message": "401 Unauthorized"})
    responses.get(f"{API}/user", status=403, json={"message": "x" * 5000})
    with pytest.raises(Refused) as refused:
        GitLabAuthorizer("https://gitlab.test").caller(Credential("PRIVATE-TOKEN", "b"))
    assert refused.value.body == {"message": "403 Forbidden"}


@responses.activate
@pytest.mark.parametrize(
    "credential",
    [
        Credential("PRIVATE-TOKEN", "a\r\nX-Evil: 1"),
        Credential("PRIVATE-TOKEN", "t\u00e9"),
        Credential("PRIVATE-TOKEN", "t" * 4097),
        Credential("PRIVATE-TOKEN", "a b"),
        Credential("Authorization", "Bearer \x00"),
    ],
    ids=["crlf", "non-ascii", "too-long", "space", "nul"],
)
def test_a_token_that_cannot_be_one_is_refused_without_asking(credential: Credential) -> None:
    """No request leaves for a token GitLab could never accept (requests would even raise)."""
    with pytest.raises(Refused) as refused:
        GitLabAuthorizer("https://gitlab.test").caller(credential)
    assert refused.value.status == 401
    assert len(responses.calls) == 0
