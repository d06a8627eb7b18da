"""Slowloris and idle sockets against the bridge's HTTP server, over real loopback sockets.

Each slow socket sends a partial request head and then one more header line every 0.2 s, so it
is never idle and never done: the attack that pins one ``http.server`` thread per socket.
The server must keep answering real clients promptly, keep its threads bounded, and close slow
and idle sockets when their time is up. Bounds are generous for a shared 2-core CI machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from bridge.project_groups.auth import GitLabAuthorizer
from bridge.project_groups.http import BridgeServer, Limits
from bridge.project_groups.view import ViewCache, load
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.testing.sim.simulator import Simulator
from tests.conftest import baseline

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
PROMPT = 2.0  # seconds a real request may take while the attack runs


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Store, int]]:
    """A 16.11 simulator with a public project, and a store holding its snapshot."""
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    group = sim.world.add_group("slow-root", visibility="public")
    project = sim.world.add_project("open", namespace_id=group.id, visibility="public")
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('slow') / 'bridge.db'}")
    baseline(GitLabSource(sim.url, sim.tokens["admin"]), store, now=lambda: NOW)
    yield sim, store, project.id
    store.close()
    sim.stop()


@pytest.fixture
def serve(snapshot: tuple[Simulator, Store, int]) -> Iterator[Callable[[Limits], BridgeServer]]:
    """Start bridges with the given limits over the snapshot."""
    sim, store, _ = snapshot
    started: list[BridgeServer] = []

    def start(limits: Limits) -> BridgeServer:
        views = ViewCache(lambda: load(store), refresh=3600, clock=time.monotonic)
        server = BridgeServer(
            views, GitLabAuthorizer(sim.url), external_url="http://b.test", limits=limits
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Slowloris:
    """``count`` sockets that trickle a request head that never ends."""

    def __init__(self, server: BridgeServer, count: int) -> None:
        """Connect and start trickling."""
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"GET /api/v4/projects/1/groups HTTP/1.1\r\nHost: x\r\n")
            self.sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(0.2):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")

    def closed_by_server(self) -> int:
        """How many of the sockets the server has closed."""
        closed = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return closed

    def stop(self) -> None:
        """Stop trickling and close every socket."""
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def attack(server: BridgeServer, count: int) -> Iterator[Slowloris]:
    """A running slowloris of ``count`` sockets."""
    loris = Slowloris(server, count)
    try:
        yield loris
    finally:
        loris.stop()


def timed_get(server: BridgeServer, project: int) -> tuple[int, float]:
    """A real client's request: status and seconds taken."""
    started = time.monotonic()
    response = requests.get(f"{server.url}/api/v4/projects/{project}/groups", timeout=10)
    return response.status_code, time.monotonic() - started


def test_300_slow_sockets_neither_stall_real_clients_nor_pin_threads(
    serve: Callable[[Limits], BridgeServer], snapshot: tuple[Simulator, Store, int]
) -> None:
    """Under 300 trickling sockets real requests are answered promptly, and the server adds
    no thread per socket (http.server had 300 more)."""
    server = serve(Limits())
    timed_get(server, snapshot[2])  # warm: the first answer starts the worker threads
    threads = threading.active_count()
    with attack(server, 300):
        time.sleep(0.5)
        answers = [timed_get(server, snapshot[2]) for _ in range(5)]
        assert threading.active_count() - threads < 20
        assert server.open_connections >= 300
    assert [status for status, _ in answers] == [200] * 5
    assert max(took for _, took in answers) < PROMPT


def test_slow_sockets_beyond_the_cap_are_evicted_for_real_clients(
    serve: Callable[[Limits], BridgeServer], snapshot: tuple[Simulator, Store, int]
) -> None:
    """With room for 50 connections, 300 slow ones take turns being dropped, oldest first;
    a real client still gets its answer promptly and the count never exceeds the cap."""
    server = serve(Limits(max_connections=50))
    with attack(server, 300) as loris:
        time.sleep(0.5)
        answers = [timed_get(server, snapshot[2]) for _ in range(5)]
        assert server.open_connections <= 50
        assert loris.closed_by_server() >= 250
    assert [status for status, _ in answers] == [200] * 5
    assert max(took for _, took in answers) < PROMPT


def test_slow_and_idle_sockets_are_closed_when_their_time_is_up(
    serve: Callable[[Limits], BridgeServer],
) -> None:
    """A head still incomplete after ``header_timeout``, a connection silent for
    ``idle_timeout``: both are closed, trickling or not."""
    server = serve(Limits(header_timeout=0.6, idle_timeout=0.6))
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
    with attack(server, 50) as loris:
        time.sleep(2.0)
        assert loris.closed_by_server() == 50
    for sock in idle:
        assert sock.recv(1) == b""  # closed by the server, without an answer
        sock.close()
    deadline = time.monotonic() + 2
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.open_connections == 0


def test_a_kept_alive_connection_is_closed_after_idling(
    serve: Callable[[Limits], BridgeServer], snapshot: tuple[Simulator, Store, int]
) -> None:
    """After an answer, a keep-alive connection that sends nothing more is closed."""
    server = serve(Limits(idle_timeout=0.5))
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET /api/v4/projects/{snapshot[2]}/groups HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        while sock.recv(65536):
            pass
        assert 0.4 < time.monotonic() - started < 3
