"""The simulator's HTTP server: real sockets, keep-alive, one buffered write per response.

``http.server`` writes headers and body separately and unbuffered, which stalls keep-alive
clients ~40 ms on delayed ACK; here each response is one ``sendall``.
Faults act on the socket itself: a reset is an RST (SO_LINGER 0), a truncation a short body.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.http import Response

if TYPE_CHECKING:
    from bridge.testing.sim.simulator import Simulator

_GATEWAY_HTML = (
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

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        sim = self.server.sim
        if path.startswith("/-/sim/") or path == "/-/sim":
            response = sim.control(self.command, path, query, body)
            self._write(response)
            return
        response, fault = sim.handle_api(
            self.command, path, query, self._token_headers(), self.client_address[0]
        )
        if fault is None:
            self._write(response)
        else:
            self._fault(fault, response)

    def _token_headers(self) -> dict[str, str]:
        return {
            "private-token": self.headers.get("PRIVATE-TOKEN", ""),
            "authorization": self.headers.get("Authorization", ""),
        }

    def _encode(self, response: Response, body: bytes, length: int | None = None) -> bytes:
        reason = HTTPStatus(response.status).phrase
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: nginx",
            f"Date: {self.date_time_string()}",
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
        html = _GATEWAY_HTML % (status, phrase.encode(), status, phrase.encode())
        return Response(status, raw=html, content_type="text/html")
    return Response(status, {"message": f"{status} {phrase}"})


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
