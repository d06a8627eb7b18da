"""``GET /audit_events`` and ``/audit_events/:id``: EE's instance audit events (-ee profiles).

``ee/lib/api/audit_events.rb``: the ``before`` filter runs ``authenticated_as_admin!`` (and
``forbidden!`` without the Premium feature ``admin_audit_log``, which the simulator assumes
licensed) ahead of Grape's parameter validation. CE has no ``ee/`` code, so the routes are
GitLab's catch-all 404 there. Newest first; no default date window (``AuditEventFinder`` filters
only by entity, ``created_at`` and author). 13.x pages with plain ``paginate``; from 15.11
``paginate_with_strategies`` adds cursor keyset (``id`` descending only) and the offset cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bridge.testing.sim import audit
from bridge.testing.sim.api import (
    cached_rows,
    forbidden,
    int_arg,
    link_base,
    paginated,
    require_user,
    route,
)
from bridge.testing.sim.entities import Json, iso
from bridge.testing.sim.grape import Declared, present
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.pagination import (
    PaginationError,
    check_offset_cap,
    keyset_by_cursor,
    paging_errors,
)
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import AuditEvent
from bridge.testing.sim.snapshot import Snapshot

# AuditEventFinder::VALID_ENTITY_TYPES; Gitlab::Audit::InstanceScope from 16.2
ENTITY_TYPES = ("Project", "User", "Group")
INSTANCE_SCOPE = "Gitlab::Audit::InstanceScope"
KEYSET_405 = {"error": "Keyset pagination is not yet available for this type of request"}
RECORD_NOT_FOUND = {"message": "404 Not found"}  # API's rescue_from ActiveRecord::RecordNotFound


@dataclass(frozen=True, slots=True)
class Filters:
    """The finder's parameters, once Grape has coerced them."""

    entity_type: str | None
    entity_id: int | None
    created_after: dt.datetime | None
    created_before: dt.datetime | None

    def keep(self, event: AuditEvent) -> bool:
        """``by_entity`` (an ``entity_id`` of 0 is ignored, ``to_i.nonzero?``), ``by_created_at``
        (both bounds inclusive)."""
        if self.entity_type is not None and event.entity_type != self.entity_type:
            return False
        if self.entity_type is not None and self.entity_id and event.entity_id != self.entity_id:
            return False
        if self.created_after is not None and event.created_at < self.created_after:
            return False
        return self.created_before is None or event.created_at <= self.created_before


def entity_types(profile: Profile) -> tuple[str, ...]:
    """The ``entity_type`` values this version accepts."""
    return (*ENTITY_TYPES, INSTANCE_SCOPE) if profile.era >= 16 else ENTITY_TYPES


def audit_event(event: AuditEvent, snap: Snapshot, profile: Profile) -> Json:
    """``EE::API::Entities::AuditEvent``; ``details`` is ``formatted_details``."""
    author = snap.users.get(event.author_id)
    details = audit.render_details(
        event.details,
        profile,
        entity_path=_entity_path(event, snap),
        author_email=author.email if author is not None else None,
    )
    return {
        "id": event.id,
        "author_id": event.author_id,
        "entity_id": event.entity_id,
        "entity_type": event.entity_type,
        "details": details,
        "created_at": iso(event.created_at),
    }


def _entity_path(event: AuditEvent, snap: Snapshot) -> str | None:
    """The source's full path (GitLab stores it when writing; the simulator reads it now)."""
    if event.entity_type == "Group":
        return snap.group_full_paths.get(event.entity_id)
    project = snap.projects.get(event.entity_id)
    return snap.project_full_path(project) if project is not None else None


def _authorize(req: Request) -> None:
    """``authenticated_as_admin!``: 401 anonymous, 403 for everyone but administrators."""
    require_user(req)
    if not req.is_admin:
        raise forbidden(req)


def _filters(req: Request) -> Filters:
    """Grape's validation of the declared parameters: every message, in declaration order."""
    params = req.params
    errors: list[str] = []
    entity_type = params.get("entity_type")
    if isinstance(entity_type, list):
        errors.append("entity_type is invalid")
    if entity_type is not None and entity_type not in entity_types(req.profile):
        errors.append("entity_type does not have a valid value")
    declared = Declared(params)
    entity_id = declared.integer("entity_id")
    errors += declared.errors
    raw_id = params.get("entity_id")
    given = bool(raw_id) if isinstance(raw_id, list) else present(raw_id)
    if given and "entity_type" not in params:  # given :entity_id { requires :entity_type }
        errors.append("entity_type is missing")
    bounds = {name: _time(params.get(name)) for name in ("created_after", "created_before")}
    errors += [f"{name} is invalid" for name, (_, ok) in bounds.items() if not ok]
    errors += paging_errors(params, zero_per_page_refused=req.profile.per_page_zero_refused)
    if errors:
        raise ApiError(400, {"error": ", ".join(dict.fromkeys(errors))})
    return Filters(
        entity_type if isinstance(entity_type, str) else None,
        entity_id,
        bounds["created_after"][0],
        bounds["created_before"][0],
    )


def _time(value: str | list[str] | None) -> tuple[dt.datetime | None, bool]:
    """Grape's DateTime and whether it coerced: ``""`` is nil, naive is UTC."""
    if value is None or value == "":
        return None, True
    if isinstance(value, list):
        return None, False
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, False
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)), True


def list_audit_events(req: Request) -> Response:
    """GET /audit_events: admins only, newest first, offset or (15.11+) keyset pages."""
    _authorize(req)
    filters = _filters(req)
    rows = cached_rows(
        req,
        "audit_events",
        lambda: [e for e in reversed(req.snap.audit_events) if filters.keep(e)],
    )

    def render(event: AuditEvent) -> Json:
        return audit_event(event, req.snap, req.profile)

    if not req.profile.audit_events_keyset:  # 13.x: plain paginate, pagination= is ignored
        return paginated(req, rows, render)
    if req.params.get("pagination") == "keyset":
        return _keyset(req, rows, render)
    try:
        check_offset_cap(req.params, "AuditEvent")
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None
    return paginated(req, rows, render)


def _keyset(req: Request, rows: list[AuditEvent], render: Callable[[AuditEvent], Json]) -> Response:
    """``supported_keyset_orderings``: ``{ id: [:desc] }``, anything else is a 405."""
    if req.params.get("order_by", "id") != "id" or req.params.get("sort", "desc") != "desc":
        raise ApiError(405, KEYSET_405)
    base, params = link_base(req)

    def from_cursor(values: dict[str, str]) -> tuple[object, ...]:
        try:
            return (int(values["id"]),)
        except (KeyError, ValueError):
            raise ApiError(400, {"error": "cursor is invalid"}) from None

    try:
        items, headers = keyset_by_cursor(
            rows, params, base, lambda e: (e.id,), lambda e: {"id": str(e.id)}, from_cursor
        )
    except PaginationError as exc:
        raise ApiError(exc.status, exc.body) from None
    return Response(200, [render(e) for e in items], headers)


def get_audit_event(req: Request) -> Response:
    """GET /audit_events/:id: the finder's ``find``, whose miss is the API's generic 404."""
    _authorize(req)
    wanted = int_arg(req, "id")
    event = next((e for e in req.snap.audit_events if e.id == wanted), None)
    if event is None:
        raise ApiError(404, RECORD_NOT_FOUND)
    return Response(200, audit_event(event, req.snap, req.profile))


def _ee(profile: Profile) -> bool:
    return profile.edition == "ee"


ROUTES = [
    route("GET", "/audit_events", list_audit_events, enabled=_ee),
    route("GET", "/audit_events/:id", get_audit_event, enabled=_ee),
]
