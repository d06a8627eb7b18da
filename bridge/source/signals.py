"""Reads behind GitLab's change signals: the newest rows, changed projects, one user's
memberships and the EE audit log. Typed records, complete or raising, like the rest of the source.

Each read is cheapest when nothing changed. The "newest" listings are read id descending and stop
at the first page that reaches an id the caller knows, so they cost one request when nothing is
new; the change queries filter on GitLab's side and cost one request when nothing matched.

Keyset pages (``/projects``, ``/audit_events`` from 15.11) are immune to rows coming and going.
Offset pages are separate queries: a row inserted above the read position repeats, a row removed
above it makes the next page skip one (docs/gitlab-api.md#offset-pagination). A walk of several
offset pages therefore has to prove itself with ``X-Total`` from its first and last page:

* id or time *descending*: every arrival lands on top and shows up as exactly one repeated row,
  so ``total after - total before == repeats`` proves that nothing left above the cursor;
* *ascending* (memberships): the total must not move.

A walk that proves nothing is done once more; a second failure is a RetriableSourceError. Without
``X-Total`` (GitLab omits it above 10,000 rows) a walk of several pages is always done twice and
the two are merged: a row is then lost only if removals hit the same page boundary both times.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from bridge.errors import FatalSourceError, RetriableSourceError, TokenRefused
from bridge.model.records import Group, Project, SourceKind, User
from bridge.model.signals import AuditEntry, ChangedBy, Membership
from bridge.source.paging import page_rows, required
from bridge.source.parsing import (
    Json,
    next_link,
    parse_record,
    parse_time,
    same_origin,
    to_group,
    to_project,
    to_user,
)
from bridge.source.transport import Missing, Page, Params, Transport

log = logging.getLogger(__name__)
Key = Callable[[Json], Hashable]
Stop = Callable[[list[Json]], bool]
_FILTERS: Final[dict[ChangedBy, str]] = {
    "updated_at": "updated_after",
    "last_activity_at": "last_activity_after",
}
_SOURCE_TYPES: Final[dict[str, SourceKind]] = {"Namespace": "group", "Project": "project"}
# GitLab shows timestamps to the millisecond; a row may read up to that much before its filter.
_DISPLAY_SLACK: Final = dt.timedelta(seconds=1)


# -- the signals --------------------------------------------------------------------------------


def newest_users(http: Transport, after_id: int, per_page: int = 20) -> tuple[User, ...]:
    """Users with id > ``after_id``, ascending; 1 request when none is new."""
    params: Params = {"order_by": "id", "sort": "desc"}  # admin-only; others get id desc anyway
    rows = _newest(http, "/users", params, "newest users", per_page, after_id, keyset=False)
    return tuple(parse_record("newest users", to_user, d) for d in rows)


def newest_groups(http: Transport, after_id: int, per_page: int = 20) -> tuple[Group, ...]:
    """Groups with id > ``after_id``, ascending; 1 request when none is new."""
    params: Params = {"all_available": "true", "order_by": "id", "sort": "desc"}
    rows = _newest(http, "/groups", params, "newest groups", per_page, after_id, keyset=False)
    return tuple(parse_record("newest groups", to_group, d) for d in rows)


def newest_projects(http: Transport, after_id: int, per_page: int = 20) -> tuple[Project, ...]:
    """Projects with id > ``after_id``, ascending, full records with shares; 1 request when none
    is new."""
    params: Params = {"order_by": "id", "sort": "desc"}
    rows = _newest(http, "/projects", params, "newest projects", per_page, after_id, keyset=True)
    return tuple(parse_record("newest projects", to_project, d) for d in rows)


def changed_projects(
    http: Transport, since: dt.datetime, *, by: ChangedBy, per_page: int = 100
) -> tuple[Project, ...]:
    """Projects whose ``by`` moved after ``since``, most recent first; 1 request when none did.

    ``updated_after`` is inclusive (``gteq``) and needs GitLab 15.10; ``last_activity_after`` is
    strict (``>``). A version that ignores the filter is caught on the first page, not walked.
    """
    what = f"projects changed since {_stamp(since)} ({by})"
    params: Params = {"order_by": by, "sort": "desc", _FILTERS[by]: _stamp(since)}

    def ignored(items: list[Json]) -> bool:
        return any(_earlier(d.get(by), since) for d in items)

    rows = _checked_offset(
        http, "/projects", params, what, per_page, key=_id, stop=ignored, descending=True
    )
    assert rows is not None  # missing="fatal"
    if any(_earlier(d.get(by), since) for d in rows.values()):
        raise FatalSourceError(f"{what}: GitLab ignored {_FILTERS[by]} (not on this version)")
    return tuple(parse_record(what, to_project, d) for d in rows.values())


def user_memberships(
    http: Transport, user_id: int, per_page: int = 100
) -> tuple[Membership, ...] | None:
    """A user's direct group and project memberships (admin only); None when the user is gone."""
    what = f"user {user_id}: memberships"
    rows = _checked_offset(
        http,
        f"/users/{user_id}/memberships",
        {},
        what,
        per_page,
        key=lambda d: (str(d["source_type"]), int(d["source_id"])),
        stop=_never,
        descending=False,
        missing="resource",
    )
    if rows is None:
        return None
    return tuple(parse_record(what, lambda d: to_membership(user_id, d), d) for d in rows.values())


def audit_entries(
    http: Transport,
    since: dt.datetime,
    after_id: int = 0,
    per_page: int = 100,
    *,
    keyset: bool = False,
) -> tuple[AuditEntry, ...]:
    """Instance audit events created at or after ``since`` with id > ``after_id``, ascending;
    ``keyset`` where the version has it (15.11+). 1 request when none is new."""
    what = f"audit events since {_stamp(since)}"
    params: Params = {"created_after": _stamp(since)}  # inclusive: "on or after"
    rows = _newest(http, "/audit_events", params, what, per_page, after_id, keyset=keyset)
    return tuple(parse_record(what, to_audit_entry, d) for d in rows)


def probe_audit_events(http: Transport) -> bool:
    """Whether ``GET /audit_events`` answers (1 request): False on 403 (no licence, not an
    admin) or 404 (Community Edition)."""
    what = "audit events: probe"
    try:
        page = http.get("/audit_events", {"per_page": 1}, what, missing="any")
    except TokenRefused:
        raise
    except FatalSourceError as exc:
        if getattr(exc.__cause__, "response_code", None) == 403:
            return False
        raise
    return page is not None


# -- parsing (pure) -----------------------------------------------------------------------------


def to_membership(user_id: int, d: Json) -> Membership:
    """A row of ``/users/:id/memberships``; ``source_type`` is ``Namespace`` or ``Project``."""
    return Membership(
        user_id=user_id,
        kind=_SOURCE_TYPES[str(d["source_type"])],
        source_id=int(d["source_id"]),
        access_level=int(d["access_level"]),
    )


def to_audit_entry(d: Json) -> AuditEntry:
    """An instance audit event; a ``details.target_id`` that is no integer becomes None."""
    created = parse_time(d["created_at"])
    if created is None:
        raise ValueError("created_at is empty")
    details = d.get("details")
    target = details.get("target_id") if isinstance(details, dict) else None
    return AuditEntry(
        id=int(d["id"]),
        entity_type=str(d["entity_type"]),
        entity_id=int(d["entity_id"]),
        target_id=_integer(target),
        created_at=created,
    )


def _integer(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _id(d: Json) -> int:
    return int(d["id"])


def _never(items: list[Json]) -> bool:
    return False


def _stamp(at: dt.datetime) -> str:
    """A filter value GitLab parses as DateTime: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise ValueError(f"{at!r} is naive; the signals take aware datetimes")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _earlier(value: object, since: dt.datetime) -> bool:
    """Whether a row's timestamp lies clearly before ``since`` (its filter was not applied)."""
    try:
        at = parse_time(value) if isinstance(value, str) else None
    except ValueError:  # not a timestamp: to_project reports a bad updated_at as a bad row
        return False
    return at is not None and at < since - _DISPLAY_SLACK


# -- walks --------------------------------------------------------------------------------------


def _newest(
    http: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    after_id: int,
    *,
    keyset: bool,
) -> list[Json]:
    """Rows with id > ``after_id`` of a listing read id descending, ascending by id."""

    def reached(items: list[Json]) -> bool:
        return any(_id(d) <= after_id for d in items)

    first = None
    if keyset:
        query = {**params, "pagination": "keyset", "per_page": per_page}
        first = required(http.get(path, query, f"{what}: page 1"), what)
        if "X-Next-Page" not in first.headers:  # keyset answered: immune to churn
            return _ascending(_keyset_walk(http, first, what, reached), after_id)
        params = {**params, "pagination": "keyset"}  # an offset answer: walk it as offset
    rows = _checked_offset(
        http, path, params, what, per_page, key=_id, stop=reached, descending=True, first=first
    )
    assert rows is not None  # missing="fatal"
    return _ascending(rows, after_id)


def _ascending(rows: dict[Hashable, Json], after_id: int) -> list[Json]:
    return sorted((d for d in rows.values() if _id(d) > after_id), key=_id)


def _keyset_walk(http: Transport, page: Page, what: str, stop: Stop) -> dict[Hashable, Json]:
    """Follow ``next`` links from ``page`` until ``stop`` says enough or the links end."""
    rows: dict[Hashable, Json] = {}
    seen: set[str] = set()
    number = 1
    while True:
        items = page_rows(page, f"{what}: page {number}")
        rows.update((parse_record(f"{what}: page {number}", _id, d), d) for d in items)
        url = next_link(page.headers)
        if url is None or not items or stop(items):
            return rows
        number += 1
        label = f"{what}: page {number}"
        if not same_origin(url, http.url):
            raise FatalSourceError(
                f"{label}: the next link points to another host ({urlsplit(url).netloc}); "
                "refusing to send the token there"
            )
        if url in seen:
            raise FatalSourceError(f"{label}: the next link repeats a page (pagination loop)")
        seen.add(url)
        page = required(http.get(url, {}, label), label)


@dataclass(frozen=True, slots=True)
class _Walk:
    """One offset walk: rows by key (the latest read wins), repeated rows, and X-Total."""

    rows: dict[Hashable, Json]
    repeats: int
    pages: int
    total_first: str | None
    total_last: str | None

    def proven(self, *, descending: bool) -> bool | None:
        """Whether no row can have been skipped; None when X-Total is missing."""
        if self.pages == 1:
            return True
        if self.total_first is None or self.total_last is None:
            return None
        moved = int(self.total_last) - int(self.total_first)
        return moved == self.repeats if descending else moved == 0


def _checked_offset(
    http: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    *,
    key: Key,
    stop: Stop,
    descending: bool,
    missing: Missing = "fatal",
    first: Page | None = None,
) -> dict[Hashable, Json] | None:
    """An offset walk that proves itself (module docstring); None when ``missing`` allows."""
    walk = _offset_walk(http, path, params, what, per_page, key, stop, missing, first)
    if walk is None or walk.proven(descending=descending):
        return None if walk is None else walk.rows
    log.info("%s: rows moved during a walk of %d pages; walking again", what, walk.pages)
    again = _offset_walk(http, path, params, what, per_page, key, stop, missing, None)
    if again is None or again.proven(descending=descending):
        return None if again is None else again.rows
    if walk.proven(descending=descending) is None and again.proven(descending=descending) is None:
        return {**walk.rows, **again.rows}  # no X-Total to count with: the union of two walks
    raise RetriableSourceError(
        f"{what}: rows left during two walks in a row "
        f"(X-Total {again.total_first} -> {again.total_last}, {again.repeats} repeated)"
    )


def _offset_walk(
    http: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    key: Key,
    stop: Stop,
    missing: Missing,
    page: Page | None,
) -> _Walk | None:
    rows: dict[Hashable, Json] = {}
    repeats, number, total = 0, 1, None
    while True:
        label = f"{what}: page {number}"
        if page is None:
            query = {**params, "page": number, "per_page": per_page}
            page = http.get(path, query, label, missing=missing)
            if page is None:
                return None
        if number == 1:
            total = page.headers.get("X-Total")
        items = page_rows(page, label)
        for item in items:
            ident = parse_record(label, key, item)
            repeats += ident in rows
            rows[ident] = item
        nxt = page.headers.get("X-Next-Page")
        if nxt is None:
            raise FatalSourceError(f"{label}: no X-Next-Page header, cannot tell the end")
        if not nxt.strip() or stop(items):
            return _Walk(rows, repeats, number, total, page.headers.get("X-Total"))
        if nxt.strip() != str(number + 1):
            raise FatalSourceError(f"{label}: X-Next-Page is {nxt!r}, not {number + 1}")
        number, page = number + 1, None
