"""The simulator's HTTP server: real sockets, keep-alive, one buffered write per response.

``http.server`` writes headers and body separately and unbuffered, which stalls keep-alive
clients ~40 ms on delayed ACK; here each response is one ``sendall``.
Faults act on the socket itself: a reset is an RST (SO_LINGER 0), a truncation a short body.

Request framing is judged as the nginx in front of GitLab judges it
(``ngx_http_process_request_header``; docs/simulator.md#hostile-requests): a ``Content-Length``
that is not plain digits, or sent twice, is its HTML 400; a chunked body is read and ignored
(400 if ``Content-Length`` comes with it); another ``Transfer-Encoding`` is 501. Each refusal
closes the connection, so nothing behind it is read as a request.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.http import Response

if TYPE_CHECKING:
    from bridge.testing.sim.simulator import Simulator

_NGINX_HTML = (
    b"<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
    b"<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class SimHTTPServer(ThreadingHTTPServer):
    """Threaded server bound to one simulator."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        super().__init__(address, SimRequestHandler)
        self.sim = sim

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a bridge killed with -9) is not an error; others print."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class SimRequestHandler(BaseHTTPRequestHandler):
    """Dispatches to the control API (``/-/sim/``) or the simulated REST API."""

    protocol_version = "HTTP/1.1"
    server: SimHTTPServer
    server_version = "nginx"
    sys_version = ""

    def setup(self) -> None:
        """Disable Nagle: every response is a single write anyway."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet; counters are the simulator's observability."""

    def do_GET(self) -> None:
        """Serve GET."""
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        control = path.startswith("/-/sim/") or path == "/-/sim"
        try:
            body = self._body(keep=control or self.command in _BODY_METHODS)
        except _Refused as exc:
            self.close_connection = True
            self._write(nginx_error(exc.status))
            return
        sim = self.server.sim
        if control:
            self._write(sim.control(self.command, path, query, body))
            return
        response, fault = sim.handle_api(
            self.command, path, query, self._headers(), self.client_address[0], body=body
        )
        if fault is None:
            self._write(response)
        else:
            self._fault(fault, response)

    def _body(self, *, keep: bool) -> bytes:
        """Read the request body whole (``keep``) or discard it; ``_Refused`` as nginx would."""
        lengths = self.headers.get_all("Content-Length") or []
        encodings = self.headers.get_all("Transfer-Encoding") or []
        if len(lengths) > 1 or len(encodings) > 1:
            raise _Refused(400)  # a duplicate header line
        if encodings:
            if encodings[0].strip().lower() != "chunked":
                raise _Refused(501)
            if lengths or self.request_version == "HTTP/1.0":
                raise _Refused(400)
            return self._chunked(keep=keep)
        if not lengths:
            return b""
        text = lengths[0].strip()
        if not (text.isascii() and text.isdigit()):
            raise _Refused(400)
        return self._read(int(text), keep=keep)

    def _read(self, length: int, *, keep: bool) -> bytes:
        """``length`` bytes of body, read in pieces so a huge declared length allocates nothing."""
        kept = bytearray()
        while length > 0:
            piece = self.rfile.read(min(length, _PIECE))
            if not piece:
                raise _Refused(400)  # the client stopped sending: nginx's premature close
            length -= len(piece)
            if keep and len(kept) < _KEPT:
                kept += piece[: _KEPT - len(kept)]
        return bytes(kept)

    def _chunked(self, *, keep: bool) -> bytes:
        """A chunked body (RFC 9112 section 7.1): chunks until the last, then any trailer."""
        kept = bytearray()
        while True:
            line = self.rfile.readline(_PIECE)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size or size.strip(b"0123456789abcdefABCDEF"):
                raise _Refused(400)
            length = int(size, 16)
            if length == 0:
                break
            piece = self._read(length, keep=keep)
            kept += piece[: max(0, _KEPT - len(kept))]
            if self.rfile.readline(_PIECE).strip():
                raise _Refused(400)  # a chunk longer than its size said
        while self.rfile.readline(_PIECE).strip():
            pass  # trailer fields, ignored
        return bytes(kept)

    def _headers(self) -> dict[str, str]:
        """The request headers the API reads: the token's and the body's type."""
        return {
            "private-token": self.headers.get("PRIVATE-TOKEN", ""),
            "authorization": self.headers.get("Authorization", ""),
            "content-type": self.headers.get("Content-Type", ""),
        }

    def _encode(self, response: Response, body: bytes, length: int | None = None) -> bytes:
        reason = HTTPStatus(response.status).phrase
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: nginx",
            f"Date: {self.date_time_string()}",
        ]
        if response.status != 204:  # a 204 has neither (RFC 9110 section 8.6; Grape sends none)
            lines += [
                f"Content-Type: {response.content_type}",
                f"Content-Length: {len(body) if length is None else length}",
            ]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + (b"" if self.command == "HEAD" else body)

    def _write(self, response: Response) -> None:
        self.wfile.write(self._encode(response, response.payload()))

    def _fault(self, fault: FaultRule, response: Response) -> None:
        if fault.kind == "slow":
            time.sleep(fault.delay)
            self._write(response)
        elif fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif fault.kind == "truncate":
            body = response.payload()
            self.close_connection = True
            self.wfile.write(self._encode(response, body[: len(body) // 2], length=len(body)))
        elif fault.kind == "bad_json":
            body = response.payload()
            self._write(
                Response(
                    response.status, raw=body[: max(1, len(body) // 2)], headers=response.headers
                )
            )
        else:
            self._write(gateway_error(fault.status))


def gateway_error(status: int) -> Response:
    """500/504 as GitLab's JSON; 502/503 as the HTML an nginx in front of it sends."""
    phrase = HTTPStatus(status).phrase
    if status in (502, 503):
        return nginx_error(status)
    return Response(status, {"message": f"{status} {phrase}"})


def nginx_error(status: int) -> Response:
    """The HTML page nginx answers with when it refuses a request or loses its upstream."""
    phrase = HTTPStatus(status).phrase.encode()
    return Response(
        status, raw=_NGINX_HTML % (status, phrase, status, phrase), content_type="text/html"
    )


_PIECE = 65536  # body bytes read at a time, and the longest chunk-size line
_KEPT = 1 << 20  # body bytes kept for a handler; the rest is read and dropped
_BODY_METHODS = frozenset({"POST", "PUT", "DELETE"})  # API methods whose body has parameters


class _Refused(Exception):
    """A request nginx refuses before GitLab sees it; ``status`` is its answer."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# How often the serving loop looks for a shutdown request. socketserver's default (0.5 s) makes
# every stop wait up to half a second; requests themselves are served as soon as they arrive.
SHUTDOWN_POLL = 0.02


def serve_in_thread(server: SimHTTPServer) -> threading.Thread:
    """Run ``serve_forever`` in a daemon thread."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL},
        name="gitlab-sim",
        daemon=True,
    )
    thread.start()
    return thread
