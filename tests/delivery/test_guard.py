"""``delivery.allow_local_network: false``: local targets refused after resolution, connections
pinned to the vetted address (docs/delivery.md#local-network)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.delivery.guard import local_kind, refusal
from bridge.delivery.sender import HttpSender
from bridge.delivery.transport import own_addresses
from bridge.delivery.wire import HookRequest
from bridge.testing.receiver import Receiver

SUFFIX = "(delivery.allow_local_network is false)"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address judged, not bound
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fec0::1", "site-local"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("172.15.255.255", None),
        ("172.32.0.1", None),
        ("100.63.255.255", None),
        ("100.128.0.1", None),
        ("192.0.2.1", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_which_addresses_are_local(address: str, kind: str | None) -> None:
    """GitLab's UrlBlocker set: loopback, unspecified, RFC 1918, shared, link-local, ULA,
    site-local, broadcast; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    assert local_kind(address) == kind


@given(st.ip_addresses(v=4))
def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address(
    address: ipaddress.IPv4Address,
) -> None:
    """``::ffff:a.b.c.d`` is local exactly when ``a.b.c.d`` is, and for the same reason."""
    assert local_kind(f"::ffff:{address}") == local_kind(str(address))


def test_a_name_is_refused_when_any_of_its_addresses_is_local() -> None:
    """All resolved addresses are checked, not only the first: one public one does not help."""
    assert refusal("hooks.example.com", ["93.184.215.14", "2606:2800::1"]) is None
    assert refusal("metadata.example.com", ["169.254.169.254"]) == (
        "refused: metadata.example.com resolves to 169.254.169.254, a local address "
        f"(link-local) {SUFFIX}"
    )
    assert refusal("mixed.example.com", ["93.184.215.14", "10.0.0.7"]) == (
        f"refused: mixed.example.com resolves to 10.0.0.7, a local address (private) {SUFFIX}"
    )
    assert refusal("127.0.0.1", ["127.0.0.1"]) == (
        f"refused: 127.0.0.1 is a local address (loopback) {SUFFIX}"
    )
    assert refusal("own.example.com", ["203.0.113.5"], own={"203.0.113.5"}) == (
        "refused: own.example.com resolves to 203.0.113.5, a local address "
        f"(this host's own) {SUFFIX}"
    )


@pytest.fixture
def guarded() -> Iterator[HttpSender]:
    """A sender with delivery.allow_local_network false."""
    opened = HttpSender(allow_local_network=False)
    yield opened
    opened.close()


def post(url: str, timeout: float = 1.0) -> HookRequest:
    """A small JSON POST."""
    return HookRequest(
        url=url,
        headers=(("Content-Type", "application/json"),),
        body=b"{}",
        auth=None,
        timeout=timeout,
        verify_tls=True,
    )


def port_of(receiver: Receiver) -> int:
    """The receiver's bound port."""
    return int(receiver.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", "127.0.0.1 is a local address (loopback)"),
        ("[::1]", "::1 is a local address (loopback)"),
        ("0.0.0.0", "0.0.0.0 is a local address (unspecified)"),  # noqa: S104 - a target
        ("localhost", "localhost resolves to "),
    ],
)
def test_local_targets_are_refused_before_connecting(
    guarded: HttpSender, receiver: Receiver, host: str, refused: str
) -> None:
    """A local target is a failed attempt saying why; nothing reaches it."""
    answer = guarded.send("a", post(f"http://{host}:{port_of(receiver)}/a"))
    assert answer.status is None
    assert (answer.error or "").startswith(f"refused: {refused}")
    assert (answer.error or "").endswith(SUFFIX)
    assert receiver.deliveries() == []


def test_local_receivers_work_by_default(receiver: Receiver) -> None:
    """delivery.allow_local_network defaults to true, as GitLab's setting for system hooks."""
    sender = HttpSender()
    try:
        assert sender.send("a", post(receiver.url_for("/a"))).status == 200
    finally:
        sender.close()


class _Rebinding:
    """A resolver answering ``first`` for rebind.example.test once, then ``then``: DNS rebinding."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.real = socket.getaddrinfo
        self.asked = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example.test":
            return self.real(host, port, *args, **kwargs)
        address = self.answers[min(self.asked, 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


class _Unresolvable:
    """A resolver for which ``name`` does not exist (without asking a real DNS server)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == self.name:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.real(host, port, *args, **kwargs)


def test_the_connection_goes_to_the_vetted_address_not_a_second_lookup(
    guarded: HttpSender, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address, then to 127.0.0.1, never reaches 127.0.0.1."""
    rebinding = _Rebinding("192.0.2.1", "127.0.0.1")  # TEST-NET-1: public, unreachable
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    answer = guarded.send("a", post(f"http://rebind.example.test:{port_of(receiver)}/a", 0.5))
    assert answer.status is None
    assert receiver.deliveries() == []
    assert rebinding.asked == 1


def test_the_name_is_kept_in_the_host_header_when_pinned(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting to the resolved address still sends ``Host: <name>:<port>``."""
    monkeypatch.setattr(socket, "getaddrinfo", _Rebinding("127.0.0.1", "192.0.2.1"))
    sender = HttpSender()
    try:
        url = f"http://rebind.example.test:{port_of(receiver)}/a"
        assert sender.send("a", post(url)).status == 200
        assert sender.send("a", post(url)).status == 200  # kept alive: no new lookup needed
    finally:
        sender.close()
    first, second = receiver.deliveries()
    assert first.header("Host") == f"rebind.example.test:{port_of(receiver)}"
    assert first.connection == second.connection


def test_a_local_target_is_refused_through_a_proxy_too(
    guarded: HttpSender, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, the target is still vetted (the proxy itself may be local)."""
    monkeypatch.setenv("HTTP_PROXY", receiver.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", _Unresolvable("unresolvable.example.test"))
    refused = guarded.send("a", post("http://127.0.0.1:9/a"))
    assert (refused.error or "").startswith("refused: 127.0.0.1 is a local address")
    allowed = guarded.send("a", post("http://unresolvable.example.test/a"))
    assert allowed.status == 200  # the proxy resolves names the bridge cannot, as in GitLab
    assert [d.path for d in receiver.deliveries()] == ["http://unresolvable.example.test/a"]


def test_this_hosts_own_addresses_are_found_by_binding() -> None:
    """An address a socket can bind to is this host's own; a documentation address is not."""
    assert own_addresses(["127.0.0.1", "203.0.113.77"]) == {"127.0.0.1"}


def test_this_hosts_own_outward_address_is_refused(guarded: HttpSender, receiver: Receiver) -> None:
    """The address this host reaches the outside with is refused, even when it is public."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.77", 9))  # no packet is sent: this only picks a route
        except OSError:
            pytest.skip("no route out of this host")
        own = probe.getsockname()[0]
    answer = guarded.send("a", post(f"http://{own}:{port_of(receiver)}/a"))
    kind = local_kind(own) or "this host's own"
    assert answer.error == f"refused: {own} is a local address ({kind}) {SUFFIX}"
