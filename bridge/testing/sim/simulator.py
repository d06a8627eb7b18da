"""The simulated GitLab: a world, a version profile and the HTTP server in front of them.

sim = Simulator.from_dataset("small", version="16.11").start()
gl = gitlab.Gitlab(sim.url, private_token=sim.tokens["admin"])
...
sim.stop()
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from bridge.testing.sim import (
    api_access_requests,
    api_audit,
    api_events,
    api_groups,
    api_members,
    api_projects,
    api_settings,
    api_users,
    graphql,
)
from bridge.testing.sim.api import API_PREFIX, Route, allow, match, normalize_path
from bridge.testing.sim.control import handle_control
from bridge.testing.sim.datasets import generate
from bridge.testing.sim.faults import FaultInjector, FaultRule
from bridge.testing.sim.http import (
    NO_ROUTE,
    UNAUTHORIZED,
    ApiError,
    Request,
    Response,
    parse_body,
    parse_query,
)
from bridge.testing.sim.profiles import Profile, get_profile
from bridge.testing.sim.ratelimit import (
    APP_LIMIT_BODY,
    AppLimit,
    RateLimiter,
    Throttle,
    default_app_limits,
)
from bridge.testing.sim.rows import User
from bridge.testing.sim.server import SimHTTPServer, serve_in_thread
from bridge.testing.sim.snapshot import Snapshot
from bridge.testing.sim.world import SimClock, World

ROUTES: tuple[Route, ...] = (
    *api_users.ROUTES,
    *api_groups.ROUTES,
    *api_members.ROUTES,  # before /projects/:id so the longer templates win
    *api_access_requests.ROUTES,
    *api_projects.ROUTES,
    *api_events.ROUTES,
    *api_audit.ROUTES,
    *api_settings.ROUTES,
)
# Gitlab::Auth::UserAccessDeniedReason: why a valid token's user may not use the API (403).
_DENIED = {
    "blocked": "Your account has been blocked.",
    "ldap_blocked": "Your account has been blocked.",
    "banned": "Your account has been blocked.",
    "blocked_pending_approval": "Your account is pending approval from your administrator "
    "and hence blocked.",
    "deactivated": "Your account has been deactivated by your administrator. Please log back "
    "in from a web browser to reactivate your account at {url}",
}


class Simulator:
    """A GitLab REST API v4 on real sockets, driven through Python or ``/-/sim/`` over HTTP."""

    def __init__(
        self,
        world: World,
        profile: Profile,
        *,
        tokens: dict[str, str] | None = None,
        external_url: str | None = None,
        count_limit: int = 10_000,
        throttle: Throttle | None = None,
        app_limits: dict[str, AppLimit] | None = None,
        seed: int = 0,
    ) -> None:
        self.world = world
        self.profile = profile
        world.activity_touches_updated_at = profile.activity_touches_updated_at
        world.approval_sets_created_by = profile.approval_sets_created_by
        self.tokens = dict(tokens or {})
        self.count_limit = count_limit
        self.faults = FaultInjector(seed=seed)
        limits = (
            default_app_limits(profile.users_id_rate_limit) if app_limits is None else app_limits
        )
        self.limiter = RateLimiter(throttle=throttle, app_limits=limits)
        self._external_url = external_url.rstrip("/") if external_url else None
        self._counts: Counter[tuple[str, int]] = Counter()
        self._counts_lock = threading.Lock()
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_dataset(
        cls,
        size: str = "small",
        *,
        seed: int = 0,
        version: str = "16.11",
        now: dt.datetime | None = None,
        **kwargs: Any,
    ) -> Simulator:
        """A simulator loaded with a generated dataset."""
        profile = get_profile(version)
        clock = SimClock()
        dataset = generate(size, seed=seed, profile=profile, now=now or clock.now(), clock=clock)
        return cls(dataset.world, profile, tokens=dataset.tokens, seed=seed, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Bind and serve in a background thread; ``port=0`` picks a free port."""
        self._server = SimHTTPServer((host, port), self)
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Simulator:
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL the server listens on (what a client is configured with)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def external_url(self) -> str:
        """GitLab's configured external URL, used in web_url and Link headers."""
        return self._external_url or self.url

    # -- the API -------------------------------------------------------------------------

    def handle_api(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: dict[str, str],
        client_ip: str,
        *,
        body: bytes = b"",
    ) -> tuple[Response, FaultRule | None]:
        """Answer one API request; returns the response and the fault to apply to it.

        Order as in GitLab: Rack::Attack throttles first (every request, routed or not, a bad
        token counting per IP), then the router, application limits and the handler. A refused
        token (401, 403) is raised when the handler first asks for the caller, as GitLab's lazy
        ``current_user``: parameters Grape validates before the body are judged first.
        """
        path = self._strip_relative_root(raw_path)
        api_settings.LIMITER.set(self.limiter)
        params = parse_query(query)
        token = _token(headers, params)
        snap = self.world.snapshot()
        user = snap.user_for_token(token) if token is not None else None
        refusal = self._refusal(token, user)
        caller = None if refusal else user
        is_graphql = normalize_path(path) == graphql.PATH and method in ("GET", "POST")
        found, args = (None, {}) if is_graphql else self._route(method, path)
        template = f"{method} {graphql.PATH}" if is_graphql else _template(method, found)
        fault: FaultRule | None = None
        who = f"user:{caller.id}" if caller else f"ip:{client_ip}"
        allowed, rate_headers = self.limiter.check_throttle(who, token if caller else None)
        if not self.profile.throttle_headers:  # rack-attack's own 429: no headers at all
            rate_headers = []
        try:
            if not allowed:
                raise _Throttled(
                    Response(
                        429, raw=b"Retry later\n", headers=rate_headers, content_type="text/plain"
                    )
                )
            if is_graphql:
                response, fault = self._graphql(
                    graphql.GraphqlRequest(
                        method=method,
                        body=body,
                        query=query,
                        content_type=headers.get("content-type", ""),
                        user=user,
                        refusal=refusal,
                        snap=snap,
                        profile=self.profile,
                    ),
                    template,
                    path,
                )
            elif found is None:
                response = _unrouted(method, path)
            else:
                if found.method != "GET" and method != "OPTIONS":  # Grape merges the body in
                    params = {**params, **parse_body(body, headers.get("content-type", ""))}
                request = Request(
                    method=method,
                    path=path,
                    args=args,
                    params=params,
                    user=user,
                    refusal=refusal,
                    token=token,
                    snap=snap,
                    profile=self.profile,
                    external_url=self.external_url,
                    count_limit=self.count_limit,
                    link_defaults=found.defaults,
                    world=self.world,
                )
                if method == "OPTIONS":
                    response = _options(request, allow(ROUTES, found, self.profile))
                else:
                    self._check_app_limit(request, template, who)
                    delay = self.faults.delay_for(template)
                    if delay:
                        time.sleep(delay)
                    fault = self.faults.pick(template, path)
                    response = found.handler(request)
        except ApiError as exc:
            response, fault = Response(exc.status, exc.body), None
        except _Throttled as exc:
            response, fault = exc.response, None
        if rate_headers and response.status != 429:
            response = replace(response, headers=[*response.headers, *rate_headers])
        with self._counts_lock:
            self._counts[(template, _sent_status(response, fault))] += 1
        return response, fault

    def _graphql(
        self, request: graphql.GraphqlRequest, template: str, path: str
    ) -> tuple[Response, FaultRule | None]:
        """``/api/graphql`` (``bridge.testing.sim.graphql``), with latency and faults."""
        delay = self.faults.delay_for(template)
        if delay:
            time.sleep(delay)
        return graphql.handle(request), self.faults.pick(template, path)

    def _refusal(self, token: str | None, user: User | None) -> ApiError | None:
        """Why a sent token may not be used: unknown or revoked (401), or its user may not use
        the API (403 with GitLab's reason); None for a usable token or none at all."""
        if token is None:
            return None
        if user is None:
            return ApiError(401, {"message": "401 Unauthorized"})
        denied = _denied_reason(user, self.external_url)
        if denied is None:
            return None
        sep = "  - " if self.profile.era == 12 else " - "
        return ApiError(403, {"message": f"403 Forbidden{sep}{denied}"})

    def _check_app_limit(self, request: Request, template: str, who: str) -> None:
        """``check_rate_limit!``; a refused token never gets this far in GitLab, so it is not
        counted (the handler raises its refusal instead)."""
        if request.refusal is not None:
            return
        source = _source_key(request.snap, template, request.args)
        anonymous = request.user is None  # no refusal here, so the token's user is the caller
        if not self.limiter.check_app_limit(
            template, who, source, request.is_admin, anonymous=anonymous
        ):
            raise _Throttled(Response(429, APP_LIMIT_BODY))

    def _route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        try:
            return match(ROUTES, method, path, self.profile)
        except ApiError:
            return None, {}

    def _strip_relative_root(self, path: str) -> str:
        root = urlsplit(self.external_url).path.rstrip("/")
        if root and normalize_path(path).startswith(root + API_PREFIX):
            return normalize_path(path)[len(root) :]
        return path

    # -- observability -------------------------------------------------------------------

    def counters(self) -> dict[tuple[str, int], int]:
        """Requests served, by (endpoint template, status sent; 0 = connection reset)."""
        with self._counts_lock:
            return dict(self._counts)

    def request_count(self, endpoint: str | None = None) -> int:
        """Total API requests, or those of one endpoint template."""
        with self._counts_lock:
            return sum(n for (tpl, _), n in self._counts.items() if endpoint in (None, tpl))

    def reset_counters(self) -> None:
        """Zero every counter."""
        with self._counts_lock:
            self._counts.clear()

    # -- control -------------------------------------------------------------------------

    def control(self, method: str, path: str, query: str, body: bytes) -> Response:
        """The ``/-/sim/`` control API (see ``bridge.testing.sim.control``)."""
        return handle_control(self, method, path, query, body)


def _denied_reason(user: User, external_url: str) -> str | None:
    """The 403 reason for a valid token whose user may not use the API, if any."""
    if user.internal:
        return "This action cannot be performed by internal users"
    reason = _DENIED.get(user.state)
    return reason.format(url=external_url) if reason else None


# The Allow of GitLab's ``route :any, '*path'`` catch-all: every method Grape supports.
_ANY_ALLOW = "OPTIONS, GET, POST, PUT, PATCH, DELETE, HEAD"


def _template(method: str, found: Route | None) -> str:
    """How counters name a request: the route's template, OPTIONS under its own method."""
    if found is None:
        return "unmatched"
    return f"OPTIONS /{'/'.join(found.pattern)}" if method == "OPTIONS" else found.template


def _options(request: Request, allowed: str) -> Response:
    """OPTIONS on a route: the API's ``before`` filter authenticates (``authenticate_non_get!``
    sees a route without a method, so it does too), then Grape answers 204 with ``Allow``."""
    if request.caller is None:
        raise UNAUTHORIZED
    return Response(204, raw=b"", headers=[("Allow", allowed)])


def _unrouted(method: str, path: str) -> Response:
    """What GitLab's catch-all answers: OPTIONS under /api/v4 gets the catch-all's own 204
    (no filter authenticates), anything else its 404."""
    if method == "OPTIONS" and normalize_path(path).startswith(API_PREFIX + "/"):
        return Response(204, raw=b"", headers=[("Allow", _ANY_ALLOW)])
    raise NO_ROUTE


def _source_key(snap: Snapshot, template: str, args: dict[str, str]) -> str:
    """The group or project a request is about, by id, however ``:id`` was spelled."""
    ident = args.get("id", "")
    if not ident or ident.isdigit():
        return ident
    table = (
        snap.groups_by_full_path
        if template.partition(" ")[2].startswith("/groups/")
        else snap.projects_by_full_path
    )
    return str(table.get(ident.lower(), ident))


def _sent_status(response: Response, fault: FaultRule | None) -> int:
    """The status the client actually gets: an injected 5xx, 0 for a reset, else the answer's."""
    if fault is None or fault.kind in ("slow", "truncate", "bad_json"):
        return response.status
    return fault.status if fault.kind == "status" else 0


class _Throttled(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _token(headers: dict[str, str], params: dict[str, Any]) -> str | None:
    """PRIVATE-TOKEN, ``Authorization: Bearer`` or the ``private_token`` parameter."""
    if headers.get("private-token"):
        return headers["private-token"]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    value = params.get("private_token") or params.get("access_token")
    return value if isinstance(value, str) and value else None
