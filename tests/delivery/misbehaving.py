"""Receivers that break HTTP on purpose, on raw sockets: what the recording receiver cannot do.

``RawReceiver`` accepts connections on 127.0.0.1, reads each request whole and hands the socket
to an answer function, then closes it. The answers here lie about the body's length or send
their answer one byte at a time. With ``tls`` it speaks HTTPS with the test certificate of
``hooks.example.test`` (tests/delivery/tls: a test CA and a key made for these tests only).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

Answer = Callable[[socket.socket, threading.Event], None]
TLS = Path(__file__).parent / "tls"
CA = TLS / "ca.pem"  # the test CA that signed server.pem (hooks.example.test)


class RawReceiver:
    """A one-request-per-connection server whose answers are raw bytes."""

    def __init__(self, answer: Answer, *, tls: bool = False, read: bool = True) -> None:
        """``read`` false: answer at once, without waiting for a request (or a TLS hello)."""
        self.answer = answer
        self.read = read
        self.requests: list[bytes] = []  # each request's head and body, as received
        self.server_names: list[str | None] = []  # SNI of each TLS handshake
        self._tls: ssl.SSLContext | None = None
        if tls:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(TLS / "server.pem")
            self._tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._listener.getsockname()[1])

    def url_for(self, path: str, host: str = "127.0.0.1") -> str:
        """``http(s)://HOST:PORT/path``."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> RawReceiver:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, raw: socket.socket) -> None:
        with contextlib.ExitStack() as stack, contextlib.suppress(OSError):
            connection = stack.enter_context(raw)
            connection.settimeout(10)
            if self._tls is not None:
                connection = stack.enter_context(self._tls.wrap_socket(raw, server_side=True))
            if self.read:
                self.requests.append(_read_request(connection))
            self.answer(connection, self.stopping)


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        int(line.partition(b":")[2])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    length = lengths[0] if lengths else 0
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def truncated(connection: socket.socket, _stopping: threading.Event) -> None:
    """Promise 100 bytes of body, send 5, close."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")


def ok(connection: socket.socket, _stopping: threading.Event) -> None:
    """A plain 200."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def trickle(every: float, data: bytes, *, head: bytes = b"") -> Answer:
    """Send ``head`` at once, then ``data`` one byte every ``every`` seconds: each read gets a
    byte well within a per-read timeout, so only a total deadline ends the attempt."""

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        connection.sendall(head)
        for byte in _bytes(data):
            if stopping.wait(every):
                return
            connection.sendall(byte)

    return answer


def _bytes(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))
