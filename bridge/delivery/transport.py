"""urllib3 connections with a total deadline per attempt and vetted, pinned addresses.

The sender runs each attempt inside ``deadline.scope(attempt)``. A new connection then resolves
its host once (in a helper thread, so a hanging resolver cannot outlast the deadline), refuses
local addresses when the attempt says so, and connects to one of the very addresses it checked:
a second lookup that could answer differently (DNS rebinding) never happens. The ``Host``
header, SNI and certificate check keep the name. Each socket is handed to the attempt, so its
watchdog can cut it at the deadline (``bridge.delivery.deadline``).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from bridge.delivery.deadline import Attempt, current, shutdown
from bridge.delivery.guard import refusal

AddrInfo = tuple[Any, ...]  # socket.getaddrinfo's 5-tuples


class Refused(OSError):
    """The target is local and ``delivery.allow_local_network`` is false."""


def resolve(host: str, port: int, attempt: Attempt) -> list[AddrInfo]:
    """``getaddrinfo`` for ``host``, given up (TimeoutError) at the attempt's deadline."""
    lookup = functools.partial(
        socket.getaddrinfo, host, port, allowed_gai_family(), socket.SOCK_STREAM
    )
    if _is_literal(host):
        return lookup()
    found: list[list[AddrInfo] | Exception] = []
    done = threading.Event()

    def run() -> None:
        try:
            found.append(lookup())
        except Exception as exc:  # handed to the waiting thread
            found.append(exc)
        finally:
            done.set()

    # A daemon thread: a resolver that hangs past the deadline is left to finish on its own.
    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    if not done.wait(max(attempt.remaining(), 0.0)):
        raise TimeoutError(f"resolving {host} timed out")
    if isinstance(found[0], Exception):
        raise found[0]
    return found[0]


def vet(host: str, infos: list[AddrInfo], attempt: Attempt) -> None:
    """Raise ``Refused`` if any resolved address is local and the attempt does not allow it."""
    if attempt.allow_local_network:
        return
    addresses = [str(info[4][0]) for info in infos]
    problem = refusal(host, addresses, own=own_addresses(addresses))
    if problem is not None:
        attempt.refused = problem
        raise Refused(problem)


def vet_name(host: str, port: int, attempt: Attempt) -> None:
    """Vet a target reached through a proxy: one the bridge cannot resolve is the proxy's to
    resolve (as in GitLab), and the proxy connects, so the address cannot be pinned."""
    try:
        infos = resolve(host, port, attempt)
    except socket.gaierror:
        return
    vet(host, infos, attempt)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def own_addresses(addresses: list[str]) -> set[str]:
    """Those of ``addresses`` that belong to this host: a socket can bind to them."""
    return {a for a in addresses if _binds(a) and not _binds_anywhere(":" in a)}


def _binds(address: str) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


@functools.cache
def _binds_anywhere(ipv6: bool) -> bool:
    """Whether binding proves nothing: Linux's ``ip_nonlocal_bind`` lets any address bind."""
    try:
        with open(f"/proc/sys/net/ipv{6 if ipv6 else 4}/ip_nonlocal_bind") as setting:
            return setting.read().strip() != "0"
    except OSError:
        return False


def _open(conn: HTTPConnection) -> socket.socket:
    """Resolve once, vet unless talking to a proxy, connect to a vetted address in turn."""
    attempt = current()
    host = conn._dns_host  # the name to resolve: no brackets, no final dot
    infos = resolve(host, conn.port, attempt)
    if conn.proxy is None:  # through a proxy the sender vetted the target already
        vet(host, infos, attempt)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _name, address in infos:
        remaining = attempt.remaining()
        if remaining <= 0:
            raise TimeoutError(f"connecting to {host} timed out")
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            timeout = conn.timeout if isinstance(conn.timeout, float | int) else remaining
            sock.settimeout(min(timeout, remaining))
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(address)
            # ssl makes the socket timeout the limit of the whole TLS handshake (Python 3.5+):
            # what is left of the deadline bounds it without a watchdog cut.
            sock.settimeout(max(attempt.remaining(), 0.001))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


def _new_conn(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn`` contract (its exceptions) over ``_open``."""
    try:
        sock = _open(conn)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


def _connect(conn: HTTPConnection, connect: Callable[[], None]) -> None:
    """Watch the connection (a cut takes whatever ``conn.sock`` is then), then connect."""
    current().watch(functools.partial(_cut, conn))
    connect()


def _reused(conn: HTTPConnection) -> None:
    """A kept-alive connection serves a new attempt: watch it for that attempt's deadline."""
    if conn.sock is not None:
        current().watch(functools.partial(_cut, conn))


def _cut(conn: HTTPConnection) -> None:
    """Shut the connection's socket down, waking a thread blocked on it (TLS or not)."""
    if conn.sock is not None:
        shutdown(conn.sock)


class _Pinned:
    """Resolved, vetted and pinned by ``_open``, watched per attempt: mixed into urllib3's
    connection classes (before them, so ``super()`` is urllib3's own)."""

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)  # type: ignore[arg-type]

    def connect(self) -> None:
        _connect(self, super().connect)  # type: ignore[arg-type,misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _reused(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class PinnedHTTPConnection(_Pinned, HTTPConnection):
    """urllib3's HTTP connection, pinned."""


class PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    """The same for HTTPS; SNI and the certificate check still use the name."""


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


_POOLS = {"http": PinnedHTTPConnectionPool, "https": PinnedHTTPSConnectionPool}


class PinningAdapter(HTTPAdapter):
    """requests' adapter with these connections, direct or through an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """urllib3's pool manager, making pools of these connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The proxy's pool manager, likewise (a SOCKS proxy keeps its own connections)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager
