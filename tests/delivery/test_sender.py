"""The HTTP sender against real sockets: every failure is an answer, the deadline is total,
and nothing from the environment (``~/.netrc``) is added to a request (docs/delivery.md)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.delivery.sender import HttpSender
from bridge.delivery.wire import HookRequest
from bridge.testing.receiver import Receiver, Reply
from tests.delivery.misbehaving import CA, RawReceiver, ok, trickle, truncated

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SLACK = 1.0  # seconds past a deadline allowed for a busy machine; without one: 12 s and more


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or netrc from the machine running the tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("NETRC", raising=False)


@pytest.fixture
def sender() -> Iterator[HttpSender]:
    """A sender, closed afterwards."""
    opened = HttpSender()
    yield opened
    opened.close()


def request(
    url: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    auth: tuple[str, str] | None = None,
    timeout: float = 1.0,
) -> HookRequest:
    """A small JSON POST to ``url``."""
    return HookRequest(
        url=url,
        headers=(("Content-Type", "application/json"), *headers),
        body=b'{"event_name":"user_create"}',
        auth=auth,
        timeout=timeout,
        verify_tls=True,
    )


def test_a_body_shorter_than_its_content_length_is_a_failed_answer(sender: HttpSender) -> None:
    """Content-Length 100 with 5 bytes sent: a failed attempt in one line, not an exception."""
    with RawReceiver(truncated) as rx:
        answer = sender.send("a", request(rx.url_for("/a")))
    assert answer.status is None
    assert (answer.error or "").startswith("response broken after HTTP 200: ")
    assert "\n" not in (answer.error or "")


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("X-Team", "plätform €", "its value is not latin-1"),
        ("X-Gitlab-Token", "tökén€", "its value is not latin-1"),
        ("X-Team", "a\r\nX-Injected: 1", "its value contains a line break or NUL"),
        ("X-Team", " padded", "its value starts with whitespace"),
        ("X Team", "platform", "its name is not an HTTP token"),
    ],
    ids=["custom-not-latin-1", "token-not-latin-1", "line-break", "leading-space", "bad-name"],
)
def test_a_header_that_cannot_be_sent_is_a_failed_answer_naming_it(
    sender: HttpSender, receiver: Receiver, name: str, value: str, why: str
) -> None:
    """Such a header fails the attempt; the error names the header, never its value."""
    answer = sender.send("a", request(receiver.url_for("/a"), headers=((name, value),)))
    assert (answer.status, answer.error) == (None, f"header {name!r} cannot be sent: {why}")
    assert receiver.deliveries() == []


def test_url_credentials_outside_latin_1_are_sent_as_utf_8(
    sender: HttpSender, receiver: Receiver
) -> None:
    """Basic auth from ``user:pass@`` is UTF-8 (RFC 7617), not a crash on a non-latin-1 char."""
    answer = sender.send("a", request(receiver.url_for("/a"), auth=("björn", "p€ss")))
    assert answer.status == 200
    (got,) = receiver.deliveries()
    expected = base64.b64encode("björn:p€ss".encode()).decode()
    assert got.header("Authorization") == f"Basic {expected}"


@pytest.mark.parametrize(
    ("head", "data"),
    [
        (b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", b"x" * 40),
    ],
    ids=["headers", "body"],
)
def test_a_trickling_receiver_is_cut_off_at_the_total_deadline(
    sender: HttpSender, head: bytes, data: bytes
) -> None:
    """A byte every 0.3 s keeps each read alive; the attempt still ends at its 1 s deadline."""
    with RawReceiver(trickle(0.3, data, head=head)) as rx:
        started = time.monotonic()
        answer = sender.send("a", request(rx.url_for("/a"), timeout=1.0))
        elapsed = time.monotonic() - started
    assert (answer.status, answer.error) == (None, "timed out after 1 s")
    assert 0.9 < elapsed < 1.0 + SLACK


def test_a_slow_name_lookup_counts_against_the_deadline(
    sender: HttpSender, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resolver that hangs for 5 s ends the attempt at its 1 s deadline."""
    real = socket.getaddrinfo

    def slow(host: str, *args: object, **kwargs: object) -> object:
        if host == "slow.example.test":
            time.sleep(5)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    port = receiver.url.rsplit(":", 1)[1]
    answer = sender.send("a", request(f"http://slow.example.test:{port}/a"))
    assert (answer.status, answer.error) == (None, "timed out after 1 s")
    assert time.monotonic() - started < 1.0 + SLACK


def test_the_deadline_survives_a_kept_alive_connection(
    sender: HttpSender, receiver: Receiver
) -> None:
    """The second attempt on a pooled connection has its own deadline, not the first one's."""
    receiver.set_default(Reply(status=200, delay=0.6))
    first = sender.send("a", request(receiver.url_for("/a"), timeout=1.0))
    second = sender.send("a", request(receiver.url_for("/a"), timeout=1.0))
    assert (first.status, second.status) == (200, 200)
    assert {d.connection for d in receiver.deliveries()} == {1}


def test_netrc_credentials_are_never_sent(
    sender: HttpSender, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~/.netrc entry for the receiver's host adds no Authorization header."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    answer = sender.send("a", request(receiver.url_for("/a")))
    assert answer.status == 200
    (got,) = receiver.deliveries()
    assert got.header("Authorization") is None


def test_a_proxy_from_the_environment_is_used_unless_no_proxy_says_otherwise(
    sender: HttpSender, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY carries the request (absolute URL); NO_PROXY sends it directly."""
    monkeypatch.setenv("HTTP_PROXY", receiver.url)
    proxied = sender.send("a", request("http://hooks.example.test/gitlab"))
    assert proxied.status == 200
    assert [d.path for d in receiver.deliveries()] == ["http://hooks.example.test/gitlab"]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = sender.send("a", request(receiver.url_for("/direct")))
    assert direct.status == 200
    assert receiver.deliveries()[-1].path == "/direct"


def test_https_to_a_pinned_address_is_verified_for_the_name(
    sender: HttpSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting to the resolved address keeps SNI and the certificate check on the name; the
    CA bundle of REQUESTS_CA_BUNDLE is still honoured (passed explicitly)."""
    monkeypatch.setattr(socket, "getaddrinfo", _resolving("hooks.example.test", "127.0.0.1"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CA))
    with RawReceiver(ok, tls=True) as rx:
        answer = sender.send("a", request(rx.url_for("/a", host="hooks.example.test")))
        wrong = sender.send("b", request(rx.url_for("/a")))  # 127.0.0.1 is not on the cert
    assert (answer.status, answer.body) == (200, "ok")
    assert rx.server_names[0] == "hooks.example.test"
    assert (wrong.error or "").startswith("TLS error: ")


def test_a_trickling_https_body_is_cut_off_at_the_total_deadline(
    sender: HttpSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline cuts a TLS connection too, in the middle of its body."""
    monkeypatch.setattr(socket, "getaddrinfo", _resolving("hooks.example.test", "127.0.0.1"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CA))
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
    with RawReceiver(trickle(0.3, b"x" * 40, head=head), tls=True) as rx:
        started = time.monotonic()
        answer = sender.send("a", request(rx.url_for("/a", host="hooks.example.test")))
        elapsed = time.monotonic() - started
    assert (answer.status, answer.error) == (None, "timed out after 1 s")
    assert elapsed < 1.0 + SLACK


def test_a_trickling_tls_handshake_is_cut_off_at_the_total_deadline(sender: HttpSender) -> None:
    """A server sending its TLS record one byte every 0.3 s is cut at the 1 s deadline (ssl
    bounds the whole handshake by the socket timeout, which is what is left of the deadline)."""
    record = b"\x16\x03\x03\x00\x40" + b"\x00" * 64  # a handshake record that never completes
    with RawReceiver(trickle(0.3, record), read=False) as rx:
        started = time.monotonic()
        answer = sender.send("a", request(rx.url_for("/a").replace("http:", "https:")))
        elapsed = time.monotonic() - started
    assert (answer.status, answer.error) == (None, "timed out after 1 s")
    assert elapsed < 1.0 + SLACK


def _resolving(name: str, address: str) -> Callable[..., Any]:
    """``socket.getaddrinfo`` that resolves ``name`` to ``address``, and the rest as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    return getaddrinfo


def test_an_unknown_charset_in_the_answer_does_not_undo_a_success(
    sender: HttpSender, receiver: Receiver
) -> None:
    """A 200 whose Content-Type names a charset Python does not know is still a 200."""
    bogus = (("Content-Type", "text/plain; charset=no-such-charset"),)
    receiver.set_default(Reply(status=200, headers=bogus, body=b"ok \xff"))
    answer = sender.send("a", request(receiver.url_for("/a")))
    assert (answer.status, answer.error, answer.body) == (200, None, "ok \ufffd")
