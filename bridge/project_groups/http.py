"""The bridge's HTTP server: a GitLab-compatible ``GET /api/v4/projects/:id/groups``.

Answers come from the snapshot (``SnapshotView``), in GitLab's JSON and pagination headers;
authorization is GitLab's own, asked of the real instance with the caller's token
(``GitLabAuthorizer``), so nobody sees a project GitLab would hide from them. Error bodies have
GitLab's shapes: 400 ``{"error": ...}``, 401 and 404 ``{"message": ...}``. Binds 127.0.0.1 by
default; the ``X-Gitlab-Bridge-Snapshot-Age`` header says how old the answer's data is.

Under ``gitlab-bridge run`` it also serves the daemon's ``/-/health`` (open), ``/-/ready`` and
``/metrics`` (``Authorization: Bearer <server.token>``; without a token, loopback clients only).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from bridge.config.settings import Settings
from bridge.errors import AuthUnavailable, ConfigError, InvalidParameter, InvalidToken
from bridge.project_groups.auth import Credential, GitLabAuthorizer
from bridge.project_groups.finder import (
    parse_query,
    project_groups,
    public_group_details,
)
from bridge.project_groups.pagination import offset_page
from bridge.project_groups.view import ViewCache, load
from bridge.store import Store

log = logging.getLogger(__name__)
_GROUPS_ROUTE = re.compile(r"^/api/v4/projects/([^/]+)/groups$")
_DEFAULTS = {"shared_visible_only": "false", "with_shared": "false"}


@dataclass(frozen=True, slots=True)
class Reply:
    """Status, JSON-able body and extra headers."""

    status: int
    body: object  # JSON-able, or bytes sent as they are
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"


class Operations(Protocol):
    """The daemon's own endpoints: health, readiness and metrics."""

    @property
    def metrics_token(self) -> str | None:
        """The bearer token ``/metrics`` needs (``server.token``); None: loopback only."""

    def health(self) -> Reply:
        """``/-/health``: the process answers."""

    def ready(self) -> Reply:
        """``/-/ready``: connected to GitLab and every resource polled at least once."""

    def metrics(self) -> Reply:
        """``/metrics``: the Prometheus exposition."""


class BridgeServer:
    """Serves the bridge's HTTP API on a background thread."""

    def __init__(
        self,
        views: ViewCache,
        authorizer: GitLabAuthorizer,
        *,
        external_url: str,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        operations: Operations | None = None,
    ) -> None:
        """``external_url`` is where clients reach the bridge (for pagination links)."""
        self.views, self.authorizer, self._now = views, authorizer, now
        self.operations = operations
        self.external_url = external_url.rstrip("/")
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> BridgeServer:
        """Bind and serve on a daemon thread."""
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and the authorizer's connections."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.authorizer.close()

    def handle(
        self,
        path: str,
        query: str,
        token: Credential | None,
        *,
        client: str = "127.0.0.1",
        authorization: str = "",
    ) -> Reply:
        """Route one GET request; ``client`` is the peer's address."""
        ops = self.operations
        if ops is not None and path in ("/-/health", "/-/ready", "/metrics"):
            if path == "/-/health":
                return ops.health()
            if not _operator(ops.metrics_token, client, authorization):
                return Reply(401, {"message": "401 Unauthorized: send Authorization: Bearer "
                                   "<server.token>"})  # fmt: skip
            return ops.ready() if path == "/-/ready" else ops.metrics()
        match = _GROUPS_ROUTE.match(path)
        if match is None:
            return Reply(404, {"error": "404 Not Found"})
        return self.project_groups(unquote(match.group(1)), query, token)

    def project_groups(self, ident: str, query: str, token: Credential | None) -> Reply:
        """``GET /projects/:id/groups`` as GitLab answers it."""
        params: dict[str, str | list[str]] = {}
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key in ("private_token", "access_token"):
                continue  # credentials never echo into Link headers
            name = key.removesuffix("[]")
            params[name] = values if key.endswith("[]") else values[-1]
        try:
            parsed = parse_query(params)
            view = self.views.get()
            project = view.project(ident)
            caller = self.authorizer.caller(token)
            if project is None or not self.authorizer.can_read_project(token, project.id):
                return Reply(404, {"message": "404 Project Not Found"})
            found = project_groups(project, view.groups, view.group_members, parsed, caller)
            base = f"{self.external_url}/api/v4/projects/{quote(ident, safe='')}/groups"
            # GitLab's Link echoes the route param and the declared defaults, Rails-sorted.
            echoed = {"id": ident, **_DEFAULTS, **params}
            page, headers = offset_page(found, echoed, base)
        except InvalidParameter as exc:
            return Reply(400, {"error": str(exc)})
        except InvalidToken:
            return Reply(401, {"message": "401 Unauthorized"})
        except AuthUnavailable as exc:
            log.warning("authorization check failed: %s", exc)
            return Reply(502, {"message": "502 Bad Gateway: GitLab did not answer the check"})
        age = view.age(self._now())
        if age is not None:
            headers.append(("X-Gitlab-Bridge-Snapshot-Age", str(int(age))))
        return Reply(200, [public_group_details(g) for g in page], headers)


def _operator(token: str | None, client: str, authorization: str) -> bool:
    """Is this request allowed the operator endpoints? Without a token, loopback only."""
    if token is None:
        return ipaddress.ip_address(client.removeprefix("::ffff:")).is_loopback
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], bridge: BridgeServer
    ) -> None:
        super().__init__(address, handler)
        self.bridge = bridge


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "gitlab-hook-bridge"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        try:
            reply = self.server.bridge.handle(
                parts.path,
                parts.query,
                self._credential(),
                client=str(self.client_address[0]),
                authorization=self.headers.get("Authorization", ""),
            )
        except Exception:  # one broken request must not take the server down
            log.exception("request %s failed", parts.path)
            reply = Reply(500, {"message": "500 Internal Server Error"})
        if isinstance(reply.body, bytes):
            body = reply.body
        else:
            body = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False).encode()
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in reply.headers),
        ]
        head = "\r\n".join(lines) + "\r\n\r\n"
        self.wfile.write(head.encode("latin-1") + body)

    def _credential(self) -> Credential | None:
        private = self.headers.get("PRIVATE-TOKEN")
        if private:
            return Credential("PRIVATE-TOKEN", private)
        bearer = self.headers.get("Authorization", "")
        if bearer.lower().startswith("bearer ") and bearer[7:].strip():
            return Credential("Authorization", bearer)
        query = parse_qs(urlsplit(self.path).query)
        for name in ("private_token", "access_token"):
            if query.get(name):
                header = "PRIVATE-TOKEN" if name == "private_token" else "Authorization"
                value = query[name][-1] if name == "private_token" else f"Bearer {query[name][-1]}"
                return Credential(header, value)
        return None


def start_server(
    settings: Settings, store: Store, operations: Operations | None = None
) -> BridgeServer:
    """Build the server from ``server:`` and ``gitlab:``, bind ``server.listen`` and serve.

    A bind failure is a ConfigError naming the setting; ``stop()`` also closes the authorizer.
    """
    views = ViewCache(
        lambda: load(store), refresh=settings.server.snapshot_refresh, clock=time.monotonic
    )
    authorizer = GitLabAuthorizer(
        settings.gitlab.url,
        verify_tls=settings.gitlab.verify_tls,
        timeout=settings.gitlab.timeout,
        ttl=settings.server.auth_cache_ttl,
    )
    server = BridgeServer(
        views,
        authorizer,
        external_url=settings.server.external_url or f"http://{settings.server.listen}",
        operations=operations,
    )
    host, _, port = settings.server.listen.rpartition(":")
    try:
        server.start(host.strip("[]"), int(port))
    except OSError as exc:
        authorizer.close()
        raise ConfigError(
            f"server.listen: cannot listen on {settings.server.listen}: {exc.strerror}"
        ) from None
    return server
