"""The ``/-/sim/`` control API: mutations, faults, limits, clock and counters over HTTP.

A path GitLab never serves, so a benchmark or demo in another process can drive the world.
Every route maps onto the same Python API tests use (``World``, ``FaultInjector``,
``RateLimiter``); bodies and answers are JSON.

    POST   /-/sim/users                      {"username": ..., "name": ..., ...}
    PATCH  /-/sim/users/:id                  {"username": ..., "state": ...}
    DELETE /-/sim/users/:id
    POST   /-/sim/groups                     {"path": ..., "parent_id": ..., "visibility": ...}
    PATCH  /-/sim/groups/:id                 {"name"|"path"|"parent_id"|"visibility": ...}
    DELETE /-/sim/groups/:id
    POST   /-/sim/projects                   {"path": ..., "namespace_id": ..., ...}
    PATCH  /-/sim/projects/:id               {"path"|"name"|"namespace_id"|...: ...}
    DELETE /-/sim/projects/:id
    PUT    /-/sim/{groups,projects}/:id/members/:user_id   {"access_level": 30, "expires_at": ...}
    DELETE /-/sim/{groups,projects}/:id/members/:user_id
    PUT    /-/sim/{groups,projects}/:id/shares/:group_id   {"group_access": 30, "expires_at": null}
    DELETE /-/sim/{groups,projects}/:id/shares/:group_id
    POST   /-/sim/{groups,projects}/:id/access_requests/:user_id   {"requested_at": null}
    PUT    /-/sim/{groups,projects}/:id/access_requests/:user_id/approve {"access_level": 30}
    DELETE /-/sim/{groups,projects}/:id/access_requests/:user_id   (deny or withdraw)
    POST   /-/sim/tokens {"user_id": 1}      DELETE /-/sim/tokens/:token
    POST   /-/sim/faults {"kind": "status", "status": 502, "nth": 3, "match": "GET /users"}
    DELETE /-/sim/faults                     (also clears latency)
    PUT    /-/sim/latency {"fixed_ms": 150, "jitter_ms": 50, "endpoint": null}
    PUT    /-/sim/rate_limit {"limit": 10, "period": 1, ...}   DELETE /-/sim/rate_limit
    PUT    /-/sim/app_limits {"endpoint": "GET /users/:id", "limit": 5, "period": 60}
    POST   /-/sim/clock {"advance_seconds": 86400}
    POST   /-/sim/expire                     run GitLab's expiry workers now
    GET    /-/sim/info   GET /-/sim/counters   DELETE /-/sim/counters
    GET    /-/sim/world                      every id and link, compactly (for a workload's model)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridge.testing.sim.faults import FaultRule, Latency
from bridge.testing.sim.http import Response
from bridge.testing.sim.ratelimit import AppLimit, Throttle
from bridge.testing.sim.rows import SourceKind
from bridge.testing.sim.snapshot import Snapshot
from bridge.testing.sim.world import SimError

if TYPE_CHECKING:
    from bridge.testing.sim.simulator import Simulator

_DATE_FIELDS = ("expires_at",)
_TIME_FIELDS = ("created_at", "last_activity_at", "requested_at")


def record_json(record: Any) -> dict[str, Any]:
    """A record as JSON: dates ISO, tuples as lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _decode(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for name in _DATE_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = dt.date.fromisoformat(out[name][:10])
    for name in _TIME_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = dt.datetime.fromisoformat(out[name].replace("Z", "+00:00"))
    return out


def handle_control(sim: Simulator, method: str, path: str, query: str, body: bytes) -> Response:
    """Dispatch one control request; errors are JSON ``{"error": ...}`` with a fitting status."""
    parts = path.strip("/").split("/")[2:]  # after "-", "sim"
    try:
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise SimError("the request body must be a JSON object")
        result = _dispatch(sim, method, parts, _decode(data))
    except SimError as exc:
        return Response(exc.status, {"error": str(exc)})
    except (ValueError, TypeError, KeyError) as exc:
        return Response(400, {"error": f"{type(exc).__name__}: {exc}"})
    if result is None:
        return Response(204, raw=b"")
    return Response(200, result)


def _dispatch(sim: Simulator, method: str, parts: list[str], data: dict[str, Any]) -> Any:
    world = sim.world
    head = parts[0] if parts else ""
    if head in ("users", "groups", "projects") and len(parts) <= 2:
        return _crud(sim, method, head, parts[1:], data)
    if head in ("groups", "projects") and len(parts) == 4 and parts[2] in ("members", "shares"):
        return _links(sim, method, head[:-1], int(parts[1]), parts[2], int(parts[3]), data)
    if head in ("groups", "projects") and len(parts) in (4, 5) and parts[2] == "access_requests":
        return _access_requests(sim, method, head[:-1], parts[1:], data)
    if head == "tokens":
        if method == "POST":
            return {"token": world.add_token(int(data["user_id"]), data.get("token"))}
        if method == "DELETE" and len(parts) == 2:
            return world.revoke_token(parts[1])
    if head in ("faults", "latency", "rate_limit", "app_limits"):
        return _behaviour(sim, method, head, data)
    if head == "clock" and method == "POST":
        return {"now": world.clock.advance(float(data.get("advance_seconds", 0))).isoformat()}
    if head == "expire" and method == "POST":
        today = dt.date.fromisoformat(data["today"]) if "today" in data else None
        return {"removed": world.expire(today)}
    if head == "counters":
        if method == "DELETE":
            return sim.reset_counters()
        counts = [
            {"endpoint": t, "status": s, "count": n} for (t, s), n in sorted(sim.counters().items())
        ]
        return {"total": sum(c["count"] for c in counts), "counters": counts}
    if head == "world" and method == "GET":
        return world_dump(world.snapshot())
    if head == "info" and method == "GET":
        snap = world.snapshot()
        return {
            "version": sim.profile.version_string,
            "external_url": sim.external_url,
            "users": len(snap.users),
            "groups": len(snap.groups),
            "projects": len(snap.projects),
            "members": sum(len(rows) for rows in snap.members.values()),
            "shares": sum(len(links) for links in snap.shares.values()),
            "access_requests": sum(len(rows) for rows in snap.requests.values()),
        }
    raise SimError(f"no control route {method} /-/sim/{'/'.join(parts)}", 404)


def world_dump(snap: Snapshot) -> dict[str, Any]:
    """The structure of the world: users (id, state, type), groups (id, parent), projects (id,
    namespace), member rows (kind, source, user, level), links (kind, source, group, level) and
    pending access requests (kind, source, user)."""
    return {
        "users": [[u.id, u.state, u.user_type] for u in snap.users.values()],
        "groups": [[g.id, g.parent_id] for g in snap.groups.values()],
        "projects": [[p.id, p.namespace_id] for p in snap.projects.values()],
        "members": [
            [kind, source, m.user_id, m.access_level]
            for (kind, source), rows in snap.members.items()
            for m in rows.values()
        ],
        "shares": [
            [kind, source, s.group_id, s.group_access]
            for (kind, source), links in snap.shares.items()
            for s in links.values()
        ],
        "access_requests": [
            [kind, source, user_id]
            for (kind, source), rows in snap.requests.items()
            for user_id in rows
        ],
    }


def _crud(sim: Simulator, method: str, kind: str, rest: list[str], data: dict[str, Any]) -> Any:
    world = sim.world
    if method == "POST" and not rest:
        creators: dict[str, Callable[..., Any]] = {
            "users": world.add_user,
            "groups": world.add_group,
            "projects": world.add_project,
        }
        key = "username" if kind == "users" else "path"
        return record_json(creators[kind](data.pop(key), **data))
    if not rest:
        raise SimError(f"{method} /-/sim/{kind} needs an id", 404)
    ident = int(rest[0])
    if method == "PATCH":
        updaters: dict[str, Callable[..., Any]] = {
            "users": world.update_user,
            "groups": world.update_group,
            "projects": world.update_project,
        }
        return record_json(updaters[kind](ident, **data))
    if method == "DELETE":
        removers = {
            "users": world.remove_user,
            "groups": world.remove_group,
            "projects": world.remove_project,
        }
        return removers[kind](ident)
    raise SimError(f"no control route {method} /-/sim/{kind}/{ident}", 404)


def _links(
    sim: Simulator,
    method: str,
    kind: str,
    source_id: int,
    what: str,
    other: int,
    data: dict[str, Any],
) -> Any:
    world, snap = sim.world, sim.world.snapshot()
    if kind not in ("group", "project"):
        raise SimError(f"{kind!r} is not group or project", 404)
    source: SourceKind = "group" if kind == "group" else "project"
    if what == "members":
        exists = other in snap.members.get((source, source_id), {})
    else:
        exists = other in snap.shares.get((source, source_id), {})
    if method == "DELETE":
        remove = world.remove_member if what == "members" else world.unshare
        return remove(source, source_id, other)
    if method != "PUT":
        raise SimError(f"use PUT or DELETE on /-/sim/{kind}s/{source_id}/{what}/{other}", 405)
    if what == "members":
        if exists:
            return record_json(world.update_member(source, source_id, other, **data))
        level = data.pop("access_level")
        return record_json(world.add_member(source, source_id, other, level, **data))
    if exists:
        return record_json(world.update_share(source, source_id, other, **data))
    level = data.pop("group_access")
    return record_json(world.share(source, source_id, other, level, **data))


def _access_requests(
    sim: Simulator, method: str, kind: str, rest: list[str], data: dict[str, Any]
) -> Any:
    """Request (POST), approve (PUT .../approve) or deny (DELETE) as the world's methods do."""
    world = sim.world
    source: SourceKind = "group" if kind == "group" else "project"
    source_id, user_id = int(rest[0]), int(rest[2])
    if len(rest) == 4 and rest[3] == "approve" and method == "PUT":
        level = int(data.pop("access_level", 30))
        return record_json(world.approve_access_request(source, source_id, user_id, level, **data))
    if len(rest) == 3 and method == "POST":
        return record_json(
            world.request_access(source, source_id, user_id, data.get("requested_at"))
        )
    if len(rest) == 3 and method == "DELETE":
        return world.deny_access_request(source, source_id, user_id)
    raise SimError(f"no control route {method} /-/sim/{kind}s/{'/'.join(rest)}", 404)


def _behaviour(sim: Simulator, method: str, head: str, data: dict[str, Any]) -> Any:
    if head == "faults":
        if method == "DELETE":
            return sim.faults.clear()
        sim.faults.add(FaultRule(**data))
        return {"rules": len(sim.faults.rules)}
    if head == "latency":
        endpoint = data.pop("endpoint", None)
        latency = Latency(**data)
        if endpoint:
            sim.faults.endpoint_latency[endpoint] = latency
        else:
            sim.faults.latency = latency
        return dataclasses.asdict(latency)
    if head == "rate_limit":
        if method == "DELETE":
            sim.limiter.throttle = None
            return None
        data["exempt_tokens"] = frozenset(data.get("exempt_tokens", ()))
        sim.limiter.throttle = Throttle(**data)
        sim.limiter.reset()
        return {"limit": sim.limiter.throttle.limit, "period": sim.limiter.throttle.period}
    if method == "DELETE":
        sim.limiter.app_limits.clear()
        return None
    endpoint = data.pop("endpoint")
    sim.limiter.app_limits[endpoint] = AppLimit(**data)
    return {"endpoint": endpoint}
