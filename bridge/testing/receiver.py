"""A real local webhook receiver for the bridge's tests, benchmarks and demo.

It records every request once it has been read (headers in wire order, body bytes exactly) and
answers as scripted per path: any status, headers and body (a 429 with Retry-After, a 3xx with
Location), a delay to make clients time out, or a reset (an RST, no answer). Like
:mod:`bridge.testing.sim.server` it speaks HTTP/1.1 keep-alive and writes each answer in one
``sendall``. A request counts as delivered before it is answered, as it does for a real receiver::

    with Receiver() as rx:
        rx.fail_next("/sys", 2, Reply(status=503))
        ...  # point the bridge at rx.url_for("/sys")
        first, second, ok = rx.wait_for(3, path="/sys")
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Delivery", "Receiver", "Reply", "pretty"]

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Retry-After", "2"),)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (or resetting)
    reset: bool = False  # answer nothing: close the connection with an RST


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One request as received."""

    seq: int  # 1, 2, 3 ... in arrival order across all paths
    method: str
    path: str  # path and query as sent
    headers: tuple[tuple[str, str], ...]  # in wire order, original case
    body: bytes
    received_at: float  # time.time()
    reply_status: int | None  # the status answered, None for a reset
    connection: int = 0  # the TCP connection that carried it: 1, 2, 3 ... in accept order

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Receiver:
    """An HTTP server on a free local port that records requests and answers as scripted."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.on_delivery = on_delivery  # called on the handler's thread, before it answers
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._deliveries: list[Delivery] = []
        self._seq = 0
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str | None, Reply] = {None: Reply()}
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def url_for(self, path: str) -> str:
        """The URL of ``path`` (which starts with ``/``) on this receiver."""
        return self.url + path

    def start(self) -> Receiver:
        """Bind and serve on a daemon thread; ``port=0`` picks a free port."""
        if self._server is None:
            server = _Server((self.host, self.port), self)
            # Poll often: stop() waits up to one poll interval for the serving loop.
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self._server = server
        return self

    def stop(self) -> None:
        """Stop promptly: wake delayed handlers (they answer nothing) and drop open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        with server.lock:
            connections = list(server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, path: str, *replies: Reply) -> None:
        """Queue replies for ``path`` (query ignored); each request takes one, then defaults."""
        with self._lock:
            self._scripts.setdefault(_route(path), deque()).extend(replies)

    def set_default(self, reply: Reply, path: str | None = None) -> None:
        """Answer ``reply`` when nothing is scripted, for ``path`` or (None) every other path."""
        with self._lock:
            self._defaults[None if path is None else _route(path)] = reply

    def fail_next(self, path: str, count: int, reply: Reply) -> None:
        """Answer the next ``count`` requests to ``path`` with ``reply``."""
        self.script(path, *[reply] * count)

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        """The requests received (to ``path``, query ignored, or all) in arrival order."""
        with self._lock:
            return self._matching(path)

    def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """Block until ``count`` requests (to ``path``, or all) arrived; return them all."""
        with self._arrived:
            if self._arrived.wait_for(lambda: len(self._matching(path)) >= count, timeout):
                return self._matching(path)
            arrived = len(self._matching(path))
        where = "" if path is None else f" to {path}"
        raise TimeoutError(f"{arrived} of {count} deliveries{where} arrived in {timeout:g} s")

    def clear(self, *, replies: bool = False) -> None:
        """Forget the deliveries (seq restarts at 1); with ``replies``, scripts and defaults too."""
        with self._lock:
            self._deliveries.clear()
            self._seq = 0
            if replies:
                self._scripts.clear()
                self._defaults = {None: Reply()}

    def _matching(self, path: str | None) -> list[Delivery]:
        if path is None:
            return list(self._deliveries)
        route = _route(path)
        return [delivery for delivery in self._deliveries if _route(delivery.path) == route]

    def _record(self, handler: _Handler, body: bytes) -> Reply:
        """Record a fully read request and choose its reply."""
        route = _route(handler.path)
        with self._lock:
            queue = self._scripts.get(route)
            reply = queue.popleft() if queue else self._defaults.get(route, self._defaults[None])
            self._seq += 1
            delivery = Delivery(
                seq=self._seq,
                method=handler.command,
                path=handler.path,
                headers=tuple(handler.headers.items()),
                body=body,
                received_at=time.time(),
                reply_status=None if reply.reset else reply.status,
                connection=handler.connection_id,
            )
            self._deliveries.append(delivery)
            self._arrived.notify_all()
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for sleeping or idle keep-alive handlers
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.accepted = 0
        super().__init__(address, _Handler)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        """Close; a connection set to reset is closed without a FIN first, so it is a bare RST."""
        if isinstance(request, socket.socket):
            with contextlib.suppress(OSError):
                if request.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == _LINGER_RESET:
                    request.close()
                    return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not an error; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    connection_id = 0

    def setup(self) -> None:
        """Disable Nagle (each answer is one write) and register the connection for stop()."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.accepted += 1
            self.connection_id = self.server.accepted
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet; deliveries are the receiver's record."""

    def handle_one_request(self) -> None:
        """Read one request of any method, record it, then answer (or not) as scripted."""
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or self.server.stopping.is_set():
            self.close_connection = True
            return
        if not self.parse_request():
            return
        body = self._read_body()
        if body is None:  # the client died mid-request (kill -9): nothing arrived, nothing answers
            self.close_connection = True
            return
        reply = self.server.receiver._record(self, body)
        if reply.delay and self.server.stopping.wait(reply.delay):
            self.close_connection = True  # stopping: drop the request unanswered
            return
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.close_connection = True
            return
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in reply.headers):
            self.close_connection = True
        try:
            self.wfile.write(self._encode(reply))
        except OSError:  # the client gave up (timed out) and closed its end
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request's body; None when the connection closed before all of it came."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after the chunk
            while self.rfile.readline(65537).strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    def _encode(self, reply: Reply) -> bytes:
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Date: {self.date_time_string()}",
            f"Content-Length: {len(reply.body)}",
            *(f"{name}: {value}" for name, value in reply.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if self.command == "HEAD" else head + reply.body


def _route(path: str) -> str:
    return path.partition("?")[0]


def pretty(delivery: Delivery, width: int = 120) -> str:
    """One line for people: ``#3 POST /sys  System Hook  user_create  {"username": ...}``."""
    try:
        data = delivery.json()
    except ValueError:  # not JSON (or not UTF-8): show the text
        data = None
        summary = delivery.body.decode("utf-8", "replace")
    else:
        summary = json.dumps(data, ensure_ascii=False)
    kind = data.get("event_name") or data.get("object_kind") if isinstance(data, dict) else None
    if len(summary) > width:
        summary = summary[: width - 3] + "..."
    event = delivery.header("X-Gitlab-Event") or "-"
    line = f"#{delivery.seq} {delivery.method} {delivery.path}  {event}  {kind or '-'}  {summary}"
    return line.rstrip()
