"""``GET /projects/:id/events`` (``lib/api/project_events.rb``, ``EventsFinder``).

The simulator writes only membership events (joined, left, expired), which have no target,
so a ``target_type`` filter always finds nothing, as GitLab's ``where(target_type:)`` would.
"""

from __future__ import annotations

import datetime as dt

from bridge.testing.sim import entities as ent
from bridge.testing.sim.api import ctx, find_project, paginated, route
from bridge.testing.sim.http import ApiError, Request, Response
from bridge.testing.sim.pagination import paging_errors
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Event

# Event::ACTIONS in enum order; "approved" is newer (~15.x) [inf]
_ACTIONS = ("created", "updated", "closed", "reopened", "pushed", "commented", "merged",
            "joined", "left", "destroyed", "expired")  # fmt: skip
# Event::TARGET_TYPES keys; wiki (WikiPage::Meta) and design arrived in 13.x [inf]
_TARGET_TYPES = ("issue", "milestone", "merge_request", "note", "project", "snippet", "user")
# Event#action_name for the actions the simulator writes
ACTION_NAMES = {
    "joined": "joined",
    "left": "left",
    "expired": "removed due to membership expiration from",
}


def actions(profile: Profile) -> tuple[str, ...]:
    """``Event.actions`` of this version (the ``action`` parameter's values)."""
    return (*_ACTIONS, "approved") if profile.era >= 16 else _ACTIONS


def target_types(profile: Profile) -> tuple[str, ...]:
    """``Event.target_types`` of this version."""
    return (*_TARGET_TYPES, "wiki", "design") if profile.era >= 13 else _TARGET_TYPES


def _date(req: Request, name: str, errors: list[str]) -> dt.date | None:
    """Grape ``type: Date`` (``Date.parse``): a date, or the date part of a timestamp."""
    value = req.params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    errors.append(f"{name} is invalid")
    return None


def _choice(req: Request, name: str, values: tuple[str, ...], errors: list[str]) -> str | None:
    """``type: String, values: [...]``."""
    value = req.params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"{name} is invalid")
    if value not in values:
        errors.append(f"{name} does not have a valid value")
        return None
    return value


def event(row: Event, c: ent.Ctx) -> ent.Json:
    """Entities::Event for a membership event (no target, note, wiki page or push data);
    ``id`` is exposed from 13.x [inf: 12.x's entity starts at project_id]."""
    author = c.snap.users[row.author_id]
    out: ent.Json = {"id": row.id} if c.profile.era >= 13 else {}
    out |= {
        "project_id": row.project_id,
        "action_name": ACTION_NAMES[row.action],
        "target_id": None,
        "target_iid": None,
        "target_type": None,
        "author_id": row.author_id,
        "target_title": None,
        "created_at": ent.iso(row.created_at),
        "author": ent.user_basic(author, c),
        "author_username": author.username,
    }
    return out


def project_events(req: Request) -> Response:
    """GET /projects/:id/events: parameters first (Grape), then ``user_project`` (404 when
    unreadable); ``before``/``after`` are exclusive days, ``sort`` orders by id."""
    errors = paging_errors(req.params, zero_per_page_refused=req.profile.per_page_zero_refused)
    action = _choice(req, "action", actions(req.profile), errors)
    target_type = _choice(req, "target_type", target_types(req.profile), errors)
    before = _date(req, "before", errors)
    after = _date(req, "after", errors)
    sort = _choice(req, "sort", ("asc", "desc"), errors) or "desc"
    if errors:
        raise ApiError(400, {"error": ", ".join(dict.fromkeys(errors))})
    project = find_project(req)
    # A deleted author's events go with them (has_many :events, dependent: :delete_all) [inf]
    rows = [
        e for e in req.snap.events if e.project_id == project.id and e.author_id in req.snap.users
    ]
    if action is not None:
        rows = [e for e in rows if e.action == action]
    if target_type is not None:
        rows = []  # membership events have no target
    if before is not None:  # created_at < before.beginning_of_day
        rows = [e for e in rows if e.created_at.astimezone(dt.UTC).date() < before]
    if after is not None:  # created_at > after.end_of_day
        rows = [e for e in rows if e.created_at.astimezone(dt.UTC).date() > after]
    rows.sort(key=lambda e: e.id, reverse=sort == "desc")
    c = ctx(req)
    return paginated(req, rows, lambda e: event(e, c))


ROUTES = [
    route("GET", "/projects/:id/events", project_events, defaults={"sort": "desc"}),
]
