"""Rate limits, latency, faults and counters of the simulated GitLab (docs/simulator.md)."""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

import gitlab
import pytest
import requests
from requests import Session

from bridge.testing.sim.faults import FaultInjector, FaultRule, Latency
from bridge.testing.sim.ratelimit import (
    AppLimit,
    RateLimiter,
    Throttle,
    default_app_limits,
    throttle_headers,
)
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory, client

APP_LIMIT_BODY = {
    "message": {"error": "This endpoint has been requested too many times. Try again later."}
}
LIMIT_HEADERS = ("RateLimit-Name", "RateLimit-Limit", "RateLimit-Observed", "RateLimit-Remaining",
                 "RateLimit-Reset", "RateLimit-ResetTime", "Retry-After")  # fmt: skip
NOW_EPOCH = 1_800_000_015  # 15 s into a minute: 2027-01-15 08:00:15 UTC
GROUP, OTHER_GROUP = 7, 9  # small dataset: "user" is a member of group 7


@pytest.fixture
def http() -> Iterator[Session]:
    """One keep-alive session."""
    with Session() as session:
        yield session


@pytest.fixture
def sim(small_sim: Simulator) -> Simulator:
    """The shared simulator with default limits, no faults or latency, and zeroed counters."""
    small_sim.limiter = RateLimiter(app_limits=default_app_limits(modern=True))
    small_sim.faults = FaultInjector()
    small_sim.reset_counters()
    return small_sim


def get(
    http: Session, sim: Simulator, path: str, role: str | None = "admin", **kw: Any
) -> requests.Response:
    """GET /api/v4<path> as ``role`` (None: anonymous)."""
    headers = {"PRIVATE-TOKEN": sim.tokens[role]} if role else {}
    kw.setdefault("timeout", 10)
    return http.get(f"{sim.url}/api/v4{path}", headers=headers, **kw)


def statuses(http: Session, sim: Simulator, path: str, n: int, role: str = "admin") -> list[int]:
    """The statuses of ``n`` sequential GETs."""
    return [get(http, sim, path, role).status_code for _ in range(n)]


def control(
    http: Session, sim: Simulator, method: str, path: str, body: object = None
) -> requests.Response:
    """Call the ``/-/sim/`` control API."""
    return http.request(method, f"{sim.url}/-/sim/{path}", json=body, timeout=10)


def freeze(sim: Simulator) -> int:
    """Stop the limiter's clock at the current whole second, so no window rolls over mid-test."""
    t0 = int(time.time())
    sim.limiter.clock = lambda: float(t0)
    return t0


def limit_headers(response: requests.Response) -> dict[str, str]:
    """The RateLimit-* and Retry-After headers present."""
    return {name: response.headers[name] for name in LIMIT_HEADERS if name in response.headers}


def host_port(sim: Simulator) -> tuple[str, int]:
    """The address the simulator listens on."""
    url = urlsplit(sim.url)
    return str(url.hostname), int(url.port or 80)


# -- throttle (Rack::Attack) ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["constructor", "attribute", "control"])
def test_throttle_answers_429_with_gitlab_headers(
    how: str, make_sim: SimFactory, request: pytest.FixtureRequest, http: Session
) -> None:
    """The 4th request in a 3/60 s window gets Rack::Attack's 429 with exact headers."""
    throttle = Throttle(limit=3, period=60)
    sim = make_sim(throttle=throttle) if how == "constructor" else request.getfixturevalue("sim")
    if how == "attribute":
        sim.limiter.throttle = throttle
    elif how == "control":
        answer = control(http, sim, "PUT", "rate_limit", {"limit": 3, "period": 60})
        assert (answer.status_code, answer.json()) == (200, {"limit": 3, "period": 60})
    t0 = freeze(sim)
    ok = [get(http, sim, "/version") for _ in range(3)]
    assert [(r.status_code, limit_headers(r)) for r in ok] == [(200, {})] * 3
    r = get(http, sim, "/version")
    reset = t0 - t0 % 60 + 60
    assert (r.status_code, r.text) == (429, "Retry later\n")
    assert r.headers["Content-Type"] == "text/plain"
    assert limit_headers(r) == {
        "RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "3",
        "RateLimit-Observed": "4", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset),
        "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
        "Retry-After": str(reset - t0),
    }  # fmt: skip
    assert email.utils.parsedate_to_datetime(r.headers["RateLimit-ResetTime"]).timestamp() == reset
    assert t0 < reset <= t0 + 60


@pytest.mark.parametrize(("version", "headers"), [("12.10", False), ("13.12", True)])
def test_throttle_headers_arrived_in_13_8(version: str, headers: bool, http: Session) -> None:
    """Before ~13.8 a throttled 429 was rack-attack's own: text, and no headers at all."""
    with Simulator.from_dataset("small", version=version, now=NOW) as sim:
        sim.limiter.throttle = Throttle(limit=1, period=3600)
        assert get(http, sim, "/version").status_code == 200
        r = get(http, sim, "/version")
    assert (r.status_code, r.text) == (429, "Retry later\n")
    assert bool(limit_headers(r)) is headers
    assert ("Retry-After" in r.headers) is headers


def test_throttle_retry_after_on_the_real_clock(sim: Simulator, http: Session) -> None:
    """On the real clock Retry-After is an integer and Reset - Retry-After the request second."""
    sim.limiter.throttle = Throttle(limit=1, period=3600)
    assert get(http, sim, "/version").status_code == 200
    before = time.time()
    r = get(http, sim, "/version")
    after = time.time()
    reset, retry_after = int(r.headers["RateLimit-Reset"]), r.headers["Retry-After"]
    assert (r.status_code, retry_after.isdigit(), reset % 3600) == (429, True, 0)
    assert 1 <= int(retry_after) <= 3600
    assert int(before) <= reset - int(retry_after) <= after < reset


@pytest.mark.parametrize(
    ("throttle", "exempt", "calls"),
    [(Throttle(limit=2), (), [("admin", 200), ("admin", 200), ("admin", 429), ("user", 200)]),
     (Throttle(limit=1), ("admin",), [("admin", 200)] * 3 + [("user", 200), ("user", 429)]),
     (Throttle(limit=1, strip_headers=True), (), [("admin", 200), ("admin", 429)])],
    ids=["per-user", "exempt-token", "stripped-headers"],
)  # fmt: skip
def test_throttle_discrimination(
    throttle: Throttle,
    exempt: tuple[str, ...],
    calls: list[tuple[str, int]],
    sim: Simulator,
    http: Session,
) -> None:
    """Quotas are per user; exempt tokens are never limited; stripped 429s carry no headers."""
    tokens = frozenset(sim.tokens[role] for role in exempt)
    sim.limiter.throttle = dataclasses.replace(throttle, exempt_tokens=tokens)
    freeze(sim)
    answers = [get(http, sim, "/version", role) for role, _ in calls]
    seen = [(r.status_code, bool(limit_headers(r))) for r in answers]
    assert seen == [(status, status == 429 and not throttle.strip_headers) for _, status in calls]
    assert {r.text for r in answers if r.status_code == 429} == {"Retry later\n"}


def test_anonymous_throttle_is_per_ip(sim: Simulator, http: Session) -> None:
    """Anonymous requests are throttled per client IP, named throttle_unauthenticated_api."""
    sim.limiter.throttle = Throttle(limit=1, period=60)
    freeze(sim)
    assert get(http, sim, "/projects", None, params={"per_page": 1}).status_code == 200
    r = get(http, sim, "/projects", None, params={"per_page": 1})
    assert (r.status_code, r.headers["RateLimit-Name"]) == (429, "throttle_unauthenticated_api")
    other = HTTPConnection(*host_port(sim), source_address=("127.0.0.2", 0), timeout=10)
    other.request("GET", "/api/v4/projects?per_page=1")
    assert other.getresponse().status == 200
    other.close()
    assert get(http, sim, "/projects", "user", params={"per_page": 1}).status_code == 200


def test_headers_on_success_count_down(sim: Simulator, http: Session) -> None:
    """With headers_on_success, 200s carry RateLimit-*: Observed rises, Remaining falls."""
    sim.limiter.throttle = Throttle(limit=5, period=60, headers_on_success=True)
    t0 = freeze(sim)
    reset = t0 - t0 % 60 + 60
    for observed in (1, 2):
        r = get(http, sim, "/version")
        headers = {k: v for k, v in limit_headers(r).items() if k != "Retry-After"}
        assert (r.status_code, headers) == (200, {
            "RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "5",
            "RateLimit-Observed": str(observed), "RateLimit-Remaining": str(5 - observed),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
        })  # fmt: skip


def test_control_api_exemptions_removal_and_bad_keys(sim: Simulator, http: Session) -> None:
    """PUT /-/sim/rate_limit takes exempt_tokens; DELETE turns it off; unknown keys are 400."""
    body = {"limit": 1, "period": 60, "exempt_tokens": [sim.tokens["user"]]}
    assert control(http, sim, "PUT", "rate_limit", body).status_code == 200
    freeze(sim)
    assert statuses(http, sim, "/version", 2) == [200, 429]
    assert statuses(http, sim, "/version", 3, "user") == [200] * 3
    assert control(http, sim, "DELETE", "rate_limit").status_code == 204
    assert (sim.limiter.throttle, get(http, sim, "/version").status_code) == (None, 200)
    bad = control(http, sim, "PUT", "rate_limit", {"limit": 1, "burst": 3})
    assert (bad.status_code, bad.json()["error"][:10]) == (400, "TypeError:")


@pytest.mark.parametrize(
    ("limit", "period", "per_minute", "reset", "reset_time"),
    [(3, 60, "3", 1_800_000_060, "Fri, 15 Jan 2027 08:01:00 GMT"),
     (7200, 3600, "120", 1_800_003_600, "Fri, 15 Jan 2027 09:00:00 GMT"),
     (10, 1, "600", 1_800_000_016, "Fri, 15 Jan 2027 08:00:16 GMT"),
     (10, 7, "86", 1_800_000_020, "Fri, 15 Jan 2027 08:00:20 GMT")],
)  # fmt: skip
def test_throttle_headers_at_a_fixed_instant(
    limit: int, period: int, per_minute: str, reset: int, reset_time: str
) -> None:
    """At 08:00:15, Limit is ceil(limit * 60 / period) and Reset the end of the aligned window."""
    assert throttle_headers("throttle_authenticated_api", Throttle(limit=limit, period=period),
                            limit + 2, NOW_EPOCH) == [
        ("RateLimit-Name", "throttle_authenticated_api"),
        ("RateLimit-Limit", per_minute),
        ("RateLimit-Observed", str(limit + 2)),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", str(reset)),
        ("RateLimit-ResetTime", reset_time),
        ("Retry-After", str(reset - NOW_EPOCH)),
    ]  # fmt: skip


def test_throttle_windows_are_epoch_aligned() -> None:
    """A new window opens at the next multiple of the period, not a full period later."""
    now = [float(NOW_EPOCH)]
    limiter = RateLimiter(throttle=Throttle(limit=2, period=60), clock=lambda: now[0])
    first = [limiter.check_throttle("user:1", "tok")[0] for _ in range(3)]
    anonymous = limiter.check_throttle("ip:10.0.0.1", None)
    now[0] = 1_800_000_059.9
    allowed, headers = limiter.check_throttle("user:1", "tok")
    assert (first, anonymous, allowed) == ([True, True, False], (True, []), False)
    assert ("Retry-After", "1") in headers
    now[0] = 1_800_000_060.0
    assert limiter.check_throttle("user:1", "tok") == (True, [])


@pytest.mark.parametrize(
    ("spec", "limit", "period"),
    [("10/s", 10, 1), ("10/m", 10, 60), ("10/min", 10, 60), ("5/h", 5, 3600),
     ("7200/3600", 7200, 3600), ("2/30", 2, 30)],
)  # fmt: skip
def test_throttle_parse(spec: str, limit: int, period: int) -> None:
    """Throttle.parse reads N/s, N/m, N/min, N/h and N/<seconds>."""
    assert Throttle.parse(spec) == Throttle(limit=limit, period=period)


@pytest.mark.parametrize(
    "spec", ["", "10", "ten/s", "10/x", "10/S", "0/s", "-1/s", "1.5/s", "/m", "10/0"]
)
def test_throttle_parse_rejects_bad_specs(spec: str) -> None:
    """Anything else is a ValueError naming the accepted forms."""
    with pytest.raises(ValueError, match="is not N/s, N/m, N/h or N/<seconds>"):
        Throttle.parse(spec)


# -- application limits (check_rate_limit!) -----------------------------------------------


MODERN_APP_LIMITS = {
    "GET /users/:id": AppLimit(limit=300, period=600, non_admin_only=True),
    "GET /projects": AppLimit(limit=400, period=600, anonymous_only=True),
}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("12.10", {}), ("13.12", {}), ("13.12-ee", {}), ("16.11", MODERN_APP_LIMITS),
     ("16.11-ee", MODERN_APP_LIMITS), ("17.5", MODERN_APP_LIMITS),
     ("17.7-ee", MODERN_APP_LIMITS)],
)  # fmt: skip
def test_default_application_limits_follow_the_profile(
    version: str, expected: dict[str, AppLimit]
) -> None:
    """From 16.x: GET /users/:id 300/10 min for non-admins and anonymous GET /projects 400/10
    min per IP; never members/all (no check_rate_limit! there), nor the flagged projects_api."""
    sim = Simulator.from_dataset("small", version=version, now=NOW)
    assert sim.limiter.app_limits == expected


def test_anonymous_projects_limit_counts_per_ip_only(sim: Simulator, http: Session) -> None:
    """projects_api_rate_limit_unauthenticated: anonymous callers per IP; tokens are exempt."""
    sim.limiter.app_limits["GET /projects"] = AppLimit(limit=2, period=600, anonymous_only=True)
    freeze(sim)
    anonymous = statuses_as(http, sim, None, 3)
    signed_in = statuses_as(http, sim, "user", 3) + statuses_as(http, sim, "admin", 3)
    other = HTTPConnection(*host_port(sim), source_address=("127.0.0.2", 0), timeout=10)
    other.request("GET", "/api/v4/projects?per_page=1")
    assert (anonymous, signed_in, other.getresponse().status) == ([200, 200, 429], [200] * 6, 200)
    other.close()
    r = get(http, sim, "/projects", None, params={"per_page": 1})
    assert (r.status_code, r.json(), limit_headers(r)) == (429, APP_LIMIT_BODY, {})
    assert sim.counters()[("GET /projects", 429)] == 2


def test_anonymous_projects_default_is_400_per_10_minutes(sim: Simulator, http: Session) -> None:
    """The default: the 401st anonymous /projects in ten minutes is refused, for ten minutes
    from the window's first request; signed-in callers are never counted."""
    sim.limiter.app_limits = default_app_limits(modern=True)
    now = [1000.0]
    sim.limiter.clock = lambda: now[0]
    first = statuses_as(http, sim, None, 400)
    refused = statuses_as(http, sim, None, 1) + statuses_as(http, sim, "user", 1)
    now[0] = 1599.9
    still = statuses_as(http, sim, None, 1)
    now[0] = 1600.0
    again = statuses_as(http, sim, None, 1)
    assert (set(first), refused, still, again) == ({200}, [429, 200], [429], [200])


def statuses_as(http: Session, sim: Simulator, role: str | None, n: int) -> list[int]:
    """The statuses of ``n`` sequential ``GET /projects?per_page=1`` as ``role``."""
    return [get(http, sim, "/projects", role, params={"per_page": 1}).status_code for _ in range(n)]


def test_application_limit_is_json_without_headers(sim: Simulator, http: Session) -> None:
    """A non-admin over GET /users/:id's limit gets the JSON 429 and no limit headers."""
    sim.limiter.app_limits["GET /users/:id"] = AppLimit(limit=2, period=60, non_admin_only=True)
    assert statuses(http, sim, "/users/1", 2, "user") == [200, 200]
    r = get(http, sim, "/users/1", "user")
    assert (r.status_code, r.json(), limit_headers(r)) == (429, APP_LIMIT_BODY, {})
    assert r.headers["Content-Type"] == "application/json"
    assert statuses(http, sim, "/users/1", 4) == [200] * 4
    assert get(http, sim, "/user", "user").status_code == 200


def test_per_source_application_limit_is_scoped_by_group(sim: Simulator, http: Session) -> None:
    """members/all's limit counts per group and per user."""
    template = "GET /groups/:id/members/all"
    sim.limiter.app_limits[template] = AppLimit(limit=2, period=60, per_source=True)
    first = statuses(http, sim, f"/groups/{GROUP}/members/all", 3)
    other = get(http, sim, f"/groups/{OTHER_GROUP}/members/all").status_code
    user = get(http, sim, f"/groups/{GROUP}/members/all", "user").status_code
    assert (first, other, user) == ([200, 200, 429], 200, 200)


def test_per_source_limit_counts_a_group_however_its_id_is_spelled(
    sim: Simulator, http: Session
) -> None:
    """/groups/7/... and /groups/<full path>/... share one application-limit window."""
    sim.limiter.app_limits["GET /groups/:id/members/all"] = AppLimit(
        limit=2, period=60, per_source=True
    )
    path = sim.world.snapshot().group_full_paths[GROUP].replace("/", "%2F")
    by_id = statuses(http, sim, f"/groups/{GROUP}/members/all", 2)
    by_path = get(http, sim, f"/groups/{path}/members/all").status_code
    assert (by_id, by_path) == ([200, 200], 429)


def test_throttle_counts_unknown_routes_and_bad_tokens(sim: Simulator, http: Session) -> None:
    """Rack::Attack runs before routing and auth: 404s and 401s count, a bad token per IP."""
    sim.limiter.throttle = Throttle(limit=2, period=3600)
    bad = {"PRIVATE-TOKEN": "glpat-not-a-token-at-all"}
    first = http.get(f"{sim.url}/api/v4/no/such/route", timeout=10).status_code
    second = http.get(f"{sim.url}/api/v4/user", headers=bad, timeout=10)
    third = http.get(f"{sim.url}/api/v4/projects", timeout=10)
    assert (first, second.status_code, third.status_code) == (404, 401, 429)
    assert third.headers["RateLimit-Name"] == "throttle_unauthenticated_api"
    assert get(http, sim, "/version").status_code == 200  # the admin's own window is untouched


def test_application_limit_window_and_control_api(sim: Simulator, http: Session) -> None:
    """An app-limit window lasts its period from its first request; PUT/DELETE /-/sim/app_limits."""
    body = {"endpoint": "GET /users/:id", "limit": 1, "period": 60, "non_admin_only": True}
    assert control(http, sim, "PUT", "app_limits", body).json() == {"endpoint": "GET /users/:id"}
    seen = []
    for now in (1000.0, 1059.9, 1060.0):
        sim.limiter.clock = itertools.repeat(now).__next__
        seen.append(get(http, sim, "/users/1", "user").status_code)
    assert seen == [200, 429, 200]
    assert control(http, sim, "DELETE", "app_limits").status_code == 204
    assert sim.limiter.app_limits == {}


# -- python-gitlab against both styles ----------------------------------------------------


def test_python_gitlab_waits_retry_after_and_succeeds(sim: Simulator) -> None:
    """python-gitlab sleeps a throttle's Retry-After (1 s) and its retry succeeds."""
    sim.limiter.throttle = Throttle(limit=1, period=1)
    readings = itertools.chain([1_800_000_000.0] * 2, itertools.repeat(1_800_000_001.0))
    sim.limiter.clock = lambda: next(readings)
    gl = client(sim, "user")
    gl.http_get("/user")
    started = time.monotonic()
    assert gl.http_get("/user")["id"] == 2  # type: ignore[index]
    assert 0.9 <= time.monotonic() - started < 10
    assert sim.counters() == {("GET /user", 200): 2, ("GET /user", 429): 1}


def test_python_gitlab_raises_on_header_less_429(sim: Simulator) -> None:
    """A header-less 429 raises with code 429: at once with max_retries=0, after backoff with 2."""
    sim.limiter.app_limits["GET /users/:id"] = AppLimit(limit=1, period=60)
    sim.limiter.app_limits["GET /groups/:id/members/all"] = AppLimit(limit=1, period=60)
    gl = client(sim, "user")
    assert gl.users.get(1, max_retries=0).username == "root"
    with pytest.raises(gitlab.exceptions.GitlabGetError) as got:
        gl.users.get(1, max_retries=0)
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        gl.users.get(1, max_retries=2)  # sleeps 0.1 s and 0.2 s in between
    members = gl.groups.get(GROUP, lazy=True).members_all
    members.list(get_all=False, max_retries=0)
    with pytest.raises(gitlab.exceptions.GitlabListError) as listed:
        members.list(get_all=False, max_retries=0)
    assert (got.value.response_code, listed.value.response_code) == (429, 429)
    assert "requested too many times" in str(got.value)
    assert sim.counters()[("GET /users/:id", 429)] == 1 + 3


# -- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "json_body"),
    [(500, {"message": "500 Internal Server Error"}), (502, None), (503, None),
     (504, {"message": "504 Gateway Timeout"})],
)  # fmt: skip
def test_status_faults(status: int, json_body: object, sim: Simulator, http: Session) -> None:
    """500/504 answer GitLab's JSON, 502/503 nginx HTML (not JSON); the next request is fine."""
    sim.faults.add(FaultRule(kind="status", status=status, times=1, match="GET /version"))
    r = get(http, sim, "/version")
    assert r.status_code == status
    if json_body is None:
        assert r.headers["Content-Type"] == "text/html"
        assert f"<h1>{status} {r.reason}</h1>" in r.text
        with pytest.raises(json.JSONDecodeError):
            r.json()
    else:
        assert (r.headers["Content-Type"], r.json()) == ("application/json", json_body)
    assert get(http, sim, "/version").status_code == 200


def test_fault_matching(sim: Simulator, http: Session) -> None:
    """nth=3 breaks only the 3rd GET /version; a path prefix covers /users/1, not /user."""
    sim.faults.add(FaultRule(kind="status", status=502, nth=3, match="GET /version"))
    seen = []
    for _ in range(5):
        seen.append(get(http, sim, "/version").status_code)
        seen.append(get(http, sim, "/user").status_code)
    assert seen == [200, 200, 200, 200, 502, 200, 200, 200, 200, 200]
    sim.faults.add(FaultRule(kind="status", fraction=1.0, match="/api/v4/users"))
    prefixed = [get(http, sim, path).status_code for path in ("/users", "/users/1", "/user")]
    assert prefixed == [500, 500, 200]


def test_fraction_is_deterministic_under_a_seed(sim: Simulator, http: Session) -> None:
    """fraction=0.5: the same seed gives the same 40 statuses, about half of them failures."""

    def run(seed: int) -> list[int]:
        sim.faults = FaultInjector(seed=seed)
        sim.faults.add(FaultRule(kind="status", status=503, fraction=0.5))
        return statuses(http, sim, "/version", 40)

    first, again, other = run(7), run(7), run(8)
    assert (first == again, first == other, set(first)) == (True, False, {200, 503})
    assert 10 <= first.count(503) <= 30


def test_times_faults_clearing_and_python_gitlab_recovery(sim: Simulator, http: Session) -> None:
    """times=2 fails the next two requests; DELETE /-/sim/faults clears; retries get through."""
    sim.faults.add(FaultRule(kind="status", status=502, times=2, match="GET /version"))
    sim.faults.latency = Latency(fixed_ms=1)
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as failed:
        client(sim).http_get("/version")
    assert failed.value.response_code == 502
    assert control(http, sim, "DELETE", "faults").status_code == 204
    assert (sim.faults.rules, sim.faults.latency) == ([], Latency())
    assert get(http, sim, "/version").status_code == 200
    rule = {"kind": "status", "status": 502, "times": 2, "match": "GET /version"}
    assert control(http, sim, "POST", "faults", rule).json() == {"rules": 1}
    answer = client(sim, retry_transient_errors=True).http_get("/version")
    assert answer["version"] == "16.11.10"  # type: ignore[index]
    assert get(http, sim, "/version").status_code == 200


@pytest.mark.parametrize(
    ("rule", "error", "message"),
    [(FaultRule(kind="reset", times=1), requests.exceptions.ConnectionError, "aborted"),
     (FaultRule(kind="truncate", times=1), requests.exceptions.ChunkedEncodingError,
      r"IncompleteRead\(\d+ bytes read, \d+ more expected\)"),
     (FaultRule(kind="slow", delay=1.5, times=1), requests.exceptions.ReadTimeout, "timed out")],
    ids=["reset", "truncate", "slow"],
)  # fmt: skip
def test_transport_faults_raise_in_requests(
    rule: FaultRule, error: type[Exception], message: str, sim: Simulator, http: Session
) -> None:
    """A reset, a body short of Content-Length, or a reply slower than a 0.3 s timeout raise."""
    sim.faults.add(rule)
    with pytest.raises(error, match=message):
        get(http, sim, "/users", timeout=0.3)
    assert get(http, sim, "/users").status_code == 200


def test_bad_json_fault(sim: Simulator, http: Session) -> None:
    """bad_json answers 200 with a body that is not JSON; python-gitlab raises a parsing error."""
    sim.faults.add(FaultRule(kind="bad_json", times=2, match="GET /users"))
    r = get(http, sim, "/users")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    with pytest.raises(gitlab.exceptions.GitlabParsingError):
        client(sim).users.list(get_all=False)


@pytest.mark.parametrize(
    "rule",
    [{"kind": "status", "status": 418, "nth": 1}, {"kind": "status", "nth": 1, "times": 2},
     {"kind": "reset"}, {"kind": "explode", "nth": 1}, {"kind": "reset", "fraction": 0.0},
     {"kind": "reset", "fraction": 1.5}],
)  # fmt: skip
def test_invalid_fault_rules(rule: dict[str, Any], sim: Simulator, http: Session) -> None:
    """Bad statuses, kinds, fractions or trigger counts raise ValueError; over HTTP, 400."""
    with pytest.raises(ValueError, match=r"status|kind|exactly one|fraction"):
        FaultRule(**rule)
    r = control(http, sim, "POST", "faults", rule)
    assert (r.status_code, r.json()["error"][:11], sim.faults.rules) == (400, "ValueError:", [])


# -- latency ------------------------------------------------------------------------------


def test_latency_global_and_per_endpoint(sim: Simulator, http: Session) -> None:
    """Latency(fixed_ms=120) delays every request; an endpoint's latency (via HTTP) only its own."""
    sim.faults.latency = Latency(fixed_ms=120)
    started = time.monotonic()
    assert get(http, sim, "/user").status_code == 200
    assert 0.12 <= time.monotonic() - started < 2.0
    sim.faults.latency = Latency()
    body = {"fixed_ms": 150, "endpoint": "GET /version"}
    assert control(http, sim, "PUT", "latency", body).json() == {"fixed_ms": 150, "jitter_ms": 0.0}
    started = time.monotonic()
    assert get(http, sim, "/version").status_code == 200
    assert 0.15 <= time.monotonic() - started < 2.0
    assert (sim.faults.delay_for("GET /version"), sim.faults.delay_for("GET /user")) == (0.15, 0.0)


def test_jitter_stays_within_bounds_and_is_seeded() -> None:
    """Delays fall in [fixed, fixed + jitter], spread out, and repeat under the same seed."""

    def draws(seed: int) -> list[float]:
        injector = FaultInjector(seed=seed, latency=Latency(fixed_ms=20, jitter_ms=10))
        return [injector.delay_for("GET /version") for _ in range(500)]

    first = draws(3)
    assert all(0.020 <= d <= 0.030 for d in first)
    assert (max(first) - min(first) > 0.009, len(set(first))) == (True, 500)
    assert (first == draws(3), first == draws(4)) == (True, False)


# -- counters -----------------------------------------------------------------------------


def test_counters_by_template_and_status(sim: Simulator, http: Session) -> None:
    """Counters count API requests by template and the status sent (429s, faults), not control."""
    sim.limiter.throttle = Throttle(limit=2, period=60)
    freeze(sim)
    sim.faults.add(FaultRule(kind="status", status=502, times=1, match="GET /user"))
    sim.faults.add(FaultRule(kind="reset", times=1, match="GET /users"))
    for path in ("/version", "/version", "/version", "/nope", "/user", "/users"):
        with contextlib.suppress(requests.exceptions.ConnectionError):
            get(http, sim, path, "user" if path.startswith("/user") else "admin")
    control(http, sim, "GET", "info")
    # The throttle runs before routing, so the admin's unknown route is throttled too.
    expected = {("GET /version", 200): 2, ("GET /version", 429): 1, ("unmatched", 429): 1,
                ("GET /user", 502): 1, ("GET /users", 0): 1}  # fmt: skip
    assert sim.counters() == expected
    assert (sim.request_count(), sim.request_count("GET /version")) == (6, 3)
    rows = [{"endpoint": t, "status": s, "count": n} for (t, s), n in sorted(expected.items())]
    assert control(http, sim, "GET", "counters").json() == {"total": 6, "counters": rows}
    assert control(http, sim, "DELETE", "counters").status_code == 204
    assert sim.counters() == {}
    get(http, sim, "/user")
    sim.reset_counters()
    assert control(http, sim, "GET", "counters").json() == {"total": 0, "counters": []}


# -- no latency of its own ----------------------------------------------------------------


def test_keep_alive_requests_do_not_stall(sim: Simulator, http: Session) -> None:
    """200 sequential small requests on one keep-alive session take well under 2 s."""
    get(http, sim, "/version")  # connect first; a delayed-ACK stall would cost 200 x 40 ms
    started = time.monotonic()
    seen = set(statuses(http, sim, "/version", 200))
    assert (seen, time.monotonic() - started < 2.0) == ({200}, True)


def test_concurrent_clients_all_succeed(sim: Simulator) -> None:
    """10 threads with their own sessions get 20 answers each, all 200."""

    def worker(_: int) -> list[int]:
        with Session() as session:
            return statuses(session, sim, "/version", 20)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(worker, range(10)))
    assert results == [[200] * 20] * 10
    assert sim.counters() == {("GET /version", 200): 200}
