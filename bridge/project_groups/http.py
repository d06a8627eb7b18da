"""The bridge's HTTP API: a GitLab-compatible ``GET /api/v4/projects/:id/groups``.

Answers come from the snapshot (``SnapshotView``), in GitLab's JSON and pagination headers;
authorization is GitLab's own, asked of the real instance with the caller's token
(``GitLabAuthorizer``), so nobody sees a project GitLab would hide from them, and a token GitLab
refuses (401, or 403 for a blocked account) gets GitLab's own answer. Errors have GitLab's
shapes: 400 ``{"error": ...}``, 401, 403 and 404 ``{"message": ...}``; other methods get what
Grape answers (docs/project-groups.md#methods). Binds 127.0.0.1 by default; the
``X-Gitlab-Bridge-Snapshot-Age`` header says how old the answer's data is. The sockets are
``connections.Server``'s.

Under ``gitlab-bridge run`` it also serves the daemon's ``/-/health`` (open), ``/-/ready`` and
``/metrics`` (``Authorization: Bearer <server.token>``; without a token, loopback clients only).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qs, quote, unquote

from bridge.config.settings import Settings
from bridge.errors import AuthUnavailable, ConfigError, InvalidParameter
from bridge.project_groups.auth import Credential, GitLabAuthorizer, Refused
from bridge.project_groups.connections import Server
from bridge.project_groups.finder import parse_query, project_groups, public_group_details
from bridge.project_groups.pagination import offset_page, page_errors
from bridge.project_groups.view import ViewCache, load
from bridge.project_groups.wire import Limits, Reply, Request
from bridge.store import Store

__all__ = ["BridgeServer", "Limits", "Operations", "Reply", "Request", "start_server"]

log = logging.getLogger(__name__)
_GROUPS_ROUTE = re.compile(r"/api/v4/projects/([^/]+)/groups")
_OPERATIONS = frozenset(["/-/health", "/-/ready", "/metrics"])
_DEFAULTS = {"shared_visible_only": "false", "with_shared": "false"}
# Grape's Allow for a GET route: OPTIONS and HEAD are added to every GET route.
_ALLOW = "OPTIONS, GET, HEAD"
# An absolute http(s) URL of visible ASCII without the characters that end a Link target.
_EXTERNAL_URL = re.compile(r"https?://[\x21\x23-\x3b\x3d\x3f-\x7e]+")
DEFAULT_LIMITS = Limits()
NOT_FOUND = Reply(404, {"error": "404 Not Found"})
BAD_GATEWAY = Reply(502, {"message": "502 Bad Gateway: GitLab did not answer the check"})
UNAUTHORIZED = Reply(401, {"message": "401 Unauthorized"})


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
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        """``external_url`` is where clients reach the bridge (for pagination links)."""
        if not _EXTERNAL_URL.fullmatch(external_url):
            # It goes into every Link header: a CR, LF, space or '>' would forge headers.
            raise ConfigError(
                f"server.external_url: {external_url!r} is not an http(s) URL of visible ASCII"
            )
        self.views, self.authorizer, self._now = views, authorizer, now
        self.operations, self.limits = operations, limits
        self.external_url = external_url.rstrip("/")
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        host, port = self._server.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """Client connections open now."""
        return 0 if self._server is None else self._server.open_connections

    def start(self, host: str = "127.0.0.1", port: int = 0) -> BridgeServer:
        """Bind (OSError if that fails) and serve on a background thread."""
        self._server = Server(self.answer, self.limits).start(host, port)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and the authorizer's connections."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.authorizer.close()

    def answer(self, request: Request) -> Reply:
        """Route one request as GitLab's Grape API does; HEAD is GET without the body."""
        raw_path, _, query = request.target.partition("?")
        path = _normalize(raw_path)
        method = "GET" if request.method == "HEAD" else request.method
        if self.operations is not None and path in _OPERATIONS:
            return self._operation(path, method, request)
        match = _GROUPS_ROUTE.fullmatch(path)
        if match is None:
            return NOT_FOUND  # Grape's catch-all route, for every method
        token = credential(request.headers, query)
        if method == "OPTIONS":
            return self._options(token)
        if method != "GET":
            # Grape (1.2+, every supported GitLab) tries a route :any before answering 405, and
            # GitLab's catch-all `route :any, '*path'` (lib/api/api.rb) takes it, unauthenticated.
            return NOT_FOUND
        return self.project_groups(unquote(match.group(1)), query, token)

    def project_groups(self, ident: str, query: str, token: Credential | None) -> Reply:
        """``GET /projects/:id/groups`` as GitLab answers it."""
        params = _params(query)
        errors = []  # Grape validates every declared parameter before the endpoint runs
        try:
            parsed = parse_query(params)
        except InvalidParameter as exc:
            errors.append(str(exc))
        errors += page_errors(params)
        if errors:
            return Reply(400, {"error": ", ".join(dict.fromkeys(errors))})
        view = self.views.get()
        project = view.project(ident)
        try:
            caller = self.authorizer.caller(token)
            readable = project is not None and self.authorizer.can_read_project(token, project.id)
        except Refused as exc:
            return Reply(exc.status, exc.body)
        except AuthUnavailable as exc:
            log.warning("authorization check failed: %s", exc)
            return BAD_GATEWAY
        if project is None or not readable:
            return Reply(404, {"message": "404 Project Not Found"})
        found = project_groups(project, view.groups, view.group_members, parsed, caller)
        base = f"{self.external_url}/api/v4/projects/{quote(ident, safe='')}/groups"
        # GitLab's Link echoes the route param and the declared defaults, Rails-sorted.
        page, headers = offset_page(found, {"id": ident, **_DEFAULTS, **params}, base)
        age = view.age(self._now())
        if age is not None:
            headers.append(("X-Gitlab-Bridge-Snapshot-Age", str(int(age))))
        return Reply(200, [public_group_details(g) for g in page], headers)

    def _options(self, token: Credential | None) -> Reply:
        """OPTIONS on the groups route: Grape runs the route's before filters (the Projects
        API's ``authenticate_non_get!``), then answers 204 with ``Allow``; 401 without a valid
        token."""
        if token is None:
            return UNAUTHORIZED
        try:
            self.authorizer.caller(token)
        except Refused as exc:
            return Reply(exc.status, exc.body)
        except AuthUnavailable as exc:
            log.warning("authorization check failed: %s", exc)
            return BAD_GATEWAY
        return Reply(204, b"", [("Allow", _ALLOW)])

    def _operation(self, path: str, method: str, request: Request) -> Reply:
        ops = self.operations
        assert ops is not None
        if method != "GET":
            return Reply(405, {"error": "405 Not Allowed"}, [("Allow", "GET, HEAD")])
        if path == "/-/health":
            return ops.health()
        if not _operator(
            ops.metrics_token, request.client, request.headers.get("authorization", "")
        ):
            return Reply(401, {"message": "401 Unauthorized: send Authorization: Bearer "
                               "<server.token>"})  # fmt: skip
        return ops.ready() if path == "/-/ready" else ops.metrics()


def credential(headers: Mapping[str, str], query: str) -> Credential | None:
    """The caller's token: PRIVATE-TOKEN, a bearer, ``?private_token``, ``?access_token``."""
    private = headers.get("private-token", "")
    if private:
        return Credential("PRIVATE-TOKEN", private)
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return Credential("Authorization", f"Bearer {rest.strip()}")
    found = parse_qs(query)
    if found.get("private_token"):
        return Credential("PRIVATE-TOKEN", found["private_token"][-1])
    if found.get("access_token"):
        return Credential("Authorization", f"Bearer {found['access_token'][-1]}")
    return None


def _params(query: str) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        if key in ("private_token", "access_token"):
            continue  # credentials never echo into Link headers
        name = key.removesuffix("[]")
        params[name] = values if key.endswith("[]") else values[-1]
    return params


def _normalize(path: str) -> str:
    """Grape's ``Router.normalize_path``: runs of ``/`` squeezed, trailing ``/`` dropped."""
    return re.sub("/+", "/", path).rstrip("/") or "/"


def _operator(token: str | None, client: str, authorization: str) -> bool:
    """Is this request allowed the operator endpoints? Without a token, loopback only.

    An empty token is no token (an empty bearer must never match it). Bytes are compared, so a
    non-ASCII header cannot make ``compare_digest`` raise.
    """
    if not token:
        try:
            return ipaddress.ip_address(client.removeprefix("::ffff:")).is_loopback
        except ValueError:
            return False
    scheme, _, given = authorization.partition(" ")
    try:
        offered = given.strip().encode("latin-1")  # header values are bytes read as Latin-1
    except UnicodeEncodeError:
        offered = given.strip().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered, token.encode("utf-8"))


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
    try:
        server = BridgeServer(
            views,
            authorizer,
            external_url=settings.server.external_url or f"http://{settings.server.listen}",
            operations=operations,
        )
        host, _, port = settings.server.listen.rpartition(":")
        server.start(host.strip("[]"), int(port))
    except OSError as exc:
        authorizer.close()
        raise ConfigError(
            f"server.listen: cannot listen on {settings.server.listen}: {exc.strerror}"
        ) from None
    except ConfigError:
        authorizer.close()
        raise
    return server
