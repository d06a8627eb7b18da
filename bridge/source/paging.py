"""Complete scans of GitLab listings: keyset where the answer is keyset, checked offset otherwise.

A scan returns every row or raises; it never passes off a partial scan as complete
(docs/gitlab-api.md#complete-scans-and-confirmed-removals): rows are de-duplicated by id, an
offset scan is redone once when ``X-Total`` moved during it, a keyset ``next`` link must stay on
the configured host and never repeat.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar, cast
from urllib.parse import urlsplit

from bridge.errors import FatalSourceError, RetriableSourceError
from bridge.source.parsing import Json, next_link, same_origin
from bridge.source.transport import Missing, Page, Params, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")


def scan(
    transport: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    build: Callable[[Json], T],
) -> list[T]:
    """Keyset when the first answer is keyset (no X-Next-Page), else an offset scan; each row
    is built into a record as its page arrives, so a keyset walk of 20,000 projects never holds
    their raw JSON all at once.

    Both callers (``/users``, ``/projects``) list by id, which the offset fallback relies on.
    """
    first = required(transport.get(path, {**params, "per_page": per_page}, f"{what}: page 1"), what)
    if "X-Next-Page" in first.headers:
        found = _checked_offset_pass(transport, path, params, what, per_page, first, by_id=True)
        return [build(d) for d in found]
    rows = {int(d["id"]): build(d) for d in page_rows(first, f"{what}: page 1")}
    seen: set[str] = set()
    page, number = first, 1
    while (url := next_link(page.headers)) is not None:
        number += 1
        label = f"{what}: page {number} ({_cursor(url)})"
        if not same_origin(url, transport.url):
            raise FatalSourceError(
                f"{label}: the next link points to another host ({urlsplit(url).netloc}); "
                f"refusing to send the token there (configured {urlsplit(transport.url).netloc})"
            )
        if url in seen:
            raise FatalSourceError(f"{label}: the next link repeats a page (pagination loop)")
        seen.add(url)
        page = required(transport.get(url, {}, label), label)
        for item in page_rows(page, label):
            if int(item["id"]) not in rows:
                rows[int(item["id"])] = build(item)
    return list(rows.values())


def offset_scan(
    transport: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    *,
    missing: Missing = "fatal",
    by_id: bool = False,
) -> list[Json] | None:
    """Every row of an offset listing; None when ``missing`` allows a 404 on the first page.

    ``by_id``: the listing takes ``order_by=id`` and GitLab's ids only grow, so a busy
    instance's scan can tell rows that arrived during it from rows that left (see
    ``_checked_offset_pass``).
    """
    first = transport.get(
        path, {**params, "page": 1, "per_page": per_page}, f"{what}: page 1", missing=missing
    )
    if first is None:
        return None
    return _checked_offset_pass(transport, path, params, what, per_page, first, by_id=by_id)


def required(found: T | None, what: str) -> T:
    """``found``, or FatalSourceError for a 404 on a route every listing needs."""
    if found is None:
        raise FatalSourceError(f"{what}: HTTP 404 (no such route on this GitLab)")
    return found


def _checked_offset_pass(
    transport: Transport,
    path: str,
    params: Params,
    what: str,
    per_page: int,
    first: Page,
    *,
    by_id: bool = False,
) -> list[Json]:
    """An offset scan that counts: rescanned once when X-Total moved during it.

    Only a row that *leaves* during a scan can make it skip one (the rows behind it move back
    a place); arrivals at most repeat a row. On a busy instance the total moves during every
    scan, so for a ``by_id`` listing the rescan first reads the newest id (1 request): rows
    above it arrived during the rescan, and ``total before + arrived - total after`` counts
    the rows that left, or more. Zero proves that none left, so nothing was skipped; what
    arrives after a page was read is the next pass's work.
    """
    rows, before, after = _offset_pass(transport, path, params, what, per_page, first)
    if before == after:
        return rows
    log.info("%s: the total changed during the scan (%s -> %s); rescanning", what, before, after)
    newest, total = _newest(transport, path, params, what) if by_id else (None, None)
    rows, before, after = _offset_pass(transport, path, params, what, per_page, None)
    if before == after:
        return rows
    if newest is not None and total is not None and after is not None:
        arrived = sum(1 for row in rows if int(row["id"]) > newest)
        if int(total) + arrived - int(after) == 0:
            log.info("%s: %d rows arrived during the rescan and none left; complete", what,
                     arrived)  # fmt: skip
            return rows
    raise RetriableSourceError(
        f"{what}: the total changed during two scans in a row ({before} -> {after})"
    )


def _newest(transport: Transport, path: str, params: Params, what: str) -> tuple[int, str | None]:
    """The highest id in the listing now (0 when empty), and X-Total from the same answer."""
    label = f"{what}: newest id"
    query = {**params, "order_by": "id", "sort": "desc", "page": 1, "per_page": 1}
    page = required(transport.get(path, query, label), label)
    rows = page_rows(page, label)
    return (int(rows[0]["id"]) if rows else 0), page.headers.get("X-Total")


def _offset_pass(
    transport: Transport, path: str, params: Params, what: str, per_page: int, page: Page | None
) -> tuple[list[Json], str | None, str | None]:
    rows: dict[int, Json] = {}
    number, total = 1, None
    while True:
        label = f"{what}: page {number}"
        if page is None:
            query = {**params, "page": number, "per_page": per_page}
            page = required(transport.get(path, query, label), label)
        if number == 1:
            total = page.headers.get("X-Total")
        for item in page_rows(page, label):
            rows.setdefault(int(item["id"]), item)
        nxt = page.headers.get("X-Next-Page")
        if nxt is None:
            raise FatalSourceError(f"{label}: no X-Next-Page header, cannot tell the end")
        if not nxt.strip():
            return list(rows.values()), total, page.headers.get("X-Total")
        if nxt.strip() != str(number + 1):
            raise FatalSourceError(f"{label}: X-Next-Page is {nxt!r}, not {number + 1}")
        number, page = number + 1, None


def page_rows(page: Page, label: str) -> list[Json]:
    """A page's JSON list of objects, or a FatalSourceError naming the page."""
    if not isinstance(page.data, list) or not all(isinstance(d, dict) for d in page.data):
        raise FatalSourceError(f"{label}: expected a JSON list of objects")
    return cast(list[Json], page.data)


def _cursor(url: str) -> str:
    query = urlsplit(url).query
    found = re.search(r"(?:^|&)(id_after=\d+|cursor=)", query)
    return found.group(1) if found else "next link"
