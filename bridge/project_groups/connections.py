"""The bridge's HTTP server: one event loop holds the sockets, a few threads answer.

``http.server`` gives each connection a thread for as long as the peer keeps it open, so idle
and slowloris sockets pin threads without bound (docs/project-groups.md#the-http-server). Here
one asyncio loop owns every socket: a connection costs a buffer until its request head is
complete, and only complete requests reach the ``Limits.workers`` threads.

* A head must arrive within ``header_timeout`` of its first byte, and a kept-alive connection
  may idle ``idle_timeout`` between requests; either expiry closes it without an answer.
* At most ``max_connections`` at once: a newcomer evicts the connection that has waited longest
  without completing a request (a slowloris loses to a client that sends at once), or gets 503
  when every connection is busy.
* A declared body (at most ``max_body`` bytes) is read and dropped before the answer; reading
  stops while a request is answered and while the peer is slow to read the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bridge.project_groups.wire import (
    Head,
    Limits,
    Refusal,
    Reply,
    Request,
    encode,
    head_end,
    parse_head,
    refusal,
)

log = logging.getLogger(__name__)
Handler = Callable[[Request], Reply]
_ERROR = Reply(500, {"message": "500 Internal Server Error"})
LINGER = 2.0


class Server:
    """Serves ``handler`` over HTTP/1.1 on a background event loop."""

    def __init__(self, handler: Handler, limits: Limits) -> None:
        """``handler`` runs on a worker thread; an exception it raises becomes a logged 500."""
        self._handler, self.limits = handler, limits
        self._loop = asyncio.new_event_loop()
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="bridge-http")
        self._connections: set[Connection] = set()
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] = ("", 0)

    def start(self, host: str, port: int) -> Server:
        """Bind now (OSError if that fails) and serve on a daemon thread."""
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "" is every IPv4
            sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError:
            self._loop.close()
            raise
        self.address = sock.getsockname()[:2]
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            serve = self._loop.create_server(lambda: Connection(self), sock=sock, backlog=1024)
            try:
                self._server = self._loop.run_until_complete(serve)
            finally:
                started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="bridge-http-loop", daemon=True)
        self._thread.start()
        started.wait()
        if self._server is None:
            sock.close()
            self._loop.close()
            raise OSError(f"cannot serve on {host}:{port}")
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then the loop and the workers."""
        if self._thread is None:
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._connections):
                connection.abort()
            for _ in range(3):  # aborted transports close their sockets on the next turns
                await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(RuntimeError):  # still running: the daemon thread dies with us
            self._loop.close()

    @property
    def open_connections(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    def admit(self, newcomer: Connection) -> bool:
        """Make room for a new connection, evicting the longest-waiting idle one when full."""
        if len(self._connections) >= self.limits.max_connections:
            idle = [c for c in self._connections if not c.busy]
            if not idle:
                return False
            victim = min(idle, key=lambda c: c.waiting_since)
            victim.abort()
            self._connections.discard(victim)
        self._connections.add(newcomer)
        return True

    def forget(self, connection: Connection) -> None:
        """A connection closed."""
        self._connections.discard(connection)

    def dispatch(self, head: Head, done: Callable[[bytes], None]) -> None:
        """Answer on a worker thread, then hand the bytes to ``done`` on the loop."""
        future = self._loop.run_in_executor(self._pool, self._answer, head)
        future.add_done_callback(lambda f: None if f.cancelled() else done(f.result()))

    def _answer(self, head: Head) -> bytes:
        request = head.request
        path = request.target.partition("?")[0]  # the query may hold a token: never logged
        keep_1_0 = head.keep_alive and "keep-alive" in request.headers.get("connection", "")
        head_only, close = request.method == "HEAD", head.closes
        try:
            reply = self._handler(request)
            data = encode(reply, head_only=head_only, close=close, keep_alive_1_0=keep_1_0)
        except Exception as exc:  # a bug, not the client's doing: one line, and a JSON 500
            log.error("%s %s failed: %s: %s", request.method, path, type(exc).__name__, exc)
            reply = _ERROR
            data = encode(reply, head_only=head_only, close=close, keep_alive_1_0=keep_1_0)
        log.debug("%s %s %s %d", request.client, request.method, path, reply.status)
        return data


class Connection(asyncio.Protocol):
    """One client socket: read a head, drop its body, answer, repeat."""

    def __init__(self, server: Server) -> None:
        """Made on ``server``'s loop for each accepted socket."""
        self._server, self._limits = server, server.limits
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._pending: Head | None = None  # waiting for its body to be dropped
        self._drop = 0
        self._started = False  # the first byte of the next head has arrived
        self._closing = False  # answered for the last time: what still comes is dropped
        self._eof = False
        self._write_paused = False
        self.busy = False
        self.waiting_since = self._loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit or refuse, then wait for a request."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=262_144)
        if not self._server.admit(self):  # not counted, so no lingering: answer and go
            self._closing = True
            transport.write(refusal(503, "too many connections"))
            transport.close()
            return
        self._arm(self._limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget it."""
        self._server.forget(self)
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()

    def pause_writing(self) -> None:
        """The peer reads slowly: take nothing more from it until it catches up."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The peer caught up."""
        self._write_paused = False
        if not self.busy and self._transport is not None:
            self._transport.resume_reading()
            self._advance()

    def data_received(self, data: bytes) -> None:
        """Buffer, and parse once a head is complete."""
        if self._closing:
            return
        self._buffer += data
        if self.busy:  # pipelined: parsed after the current answer, within the usual bounds
            if len(self._buffer) > self._limits.max_head + self._limits.max_body:
                self.abort()
            return
        self._advance()

    def eof_received(self) -> bool:
        """The peer stopped sending: answer what it sent (keep writing), then close."""
        self._eof = True
        return not self._closing and bool(self.busy or self._pending or self._buffer)

    def abort(self) -> None:
        """Drop the connection now."""
        if self._transport is not None:
            self._transport.abort()

    def _advance(self) -> None:
        while not self.busy and not self._closing and self._transport is not None:
            if self._pending is not None:
                taken = min(self._drop, len(self._buffer))
                del self._buffer[:taken]
                self._drop -= taken
                if self._drop:
                    return
                head, self._pending = self._pending, None
                self._dispatch(head)
                return
            while self._buffer[:2] == b"\r\n":  # RFC 9112 2.2: ignore CRLFs before a request
                del self._buffer[:2]
            if not self._buffer:
                if self._eof:
                    self._finish()
                return
            if not self._started:
                self._started = True
                self._arm(self._limits.header_timeout)
            end = head_end(self._buffer)
            if end < 0 or end > self._limits.max_head:
                if len(self._buffer) > self._limits.max_head:
                    self._refuse(431, f"the request head is over {self._limits.max_head} bytes")
                elif self._eof:
                    self._finish()
                return
            raw = bytes(self._buffer[:end])
            del self._buffer[:end]
            peer = self._transport.get_extra_info("peername")
            try:
                head = parse_head(raw, str(peer[0]) if peer else "", self._limits)
            except Refusal as exc:
                self._refuse(exc.status, str(exc))
                return
            if head.body and not head.expects:
                self._pending, self._drop = head, head.body
                continue
            self._dispatch(head)

    def _dispatch(self, head: Head) -> None:
        assert self._transport is not None
        self.busy = True
        if self._timer is not None:
            self._timer.cancel()
        self._transport.pause_reading()
        closing = head.closes
        self._server.dispatch(head, lambda data: self._respond(data, closing))

    def _respond(self, data: bytes, closing: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(data)
        if closing or (self._eof and not self._buffer):
            self._finish()
            return
        self.busy, self._started = False, False
        self.waiting_since = self._loop.time()
        self._arm(self._limits.idle_timeout)
        if not self._write_paused:
            self._transport.resume_reading()
            self._advance()

    def _refuse(self, status: int, reason: str) -> None:
        if self._transport is not None:
            self._transport.write(refusal(status, reason))
        self._finish()

    def _finish(self) -> None:
        """Send what is buffered, then close. Closing with unread input would reset the
        connection and could destroy the answer, so what the peer still sends is read and
        dropped for up to LINGER seconds first (nginx's lingering close)."""
        self._closing = True
        self._buffer.clear()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._eof or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._arm(LINGER)

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(seconds, self.abort)
