"""GitLab's keyset connection (``Gitlab::Graphql::Pagination::Keyset::Connection``).

A cursor is the URL-safe base64 of a JSON object holding the row's order columns, ``id``
last, as strings (GitLab's ``{"id":"53"}``); rows strictly after (``after``) or before
(``before``) it in the order are the slice. ``first``/``last`` above the page size are cut to
it (graphql-ruby's ``max_page_size``); without ``first`` a page has the page size, and
``hasNextPage`` is false (the connection only looks ahead for ``first``). ``hasPreviousPage``
is true whenever ``after`` is given.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.testing.sim.graphql_members import sort_key

Columns = tuple[tuple[str, bool], ...]
INVALID_CURSOR = "Please provide a valid cursor"


class PageError(Exception):
    """A paging argument the connection refuses."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One page of an ordered list, with what ``count`` and ``pageInfo`` report."""

    page: list[Any]
    total: int
    has_next: bool
    has_previous: bool
    values: Callable[[Any], dict[str, Any]]

    def cursor(self, row: Any) -> str:
        """The row's opaque cursor."""
        data = {k: _text(v) for k, v in self.values(row).items()}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def paginate(
    rows: list[Any],
    args: dict[str, Any],
    values: Callable[[Any], dict[str, Any]],
    columns: Columns,
    max_page_size: int,
) -> Connection:
    """The page ``args`` (first, after, last, before) select from ``rows`` in ``columns`` order."""
    key = sort_key(columns)
    names = [c for c, _ in columns]
    keyed = sorted(((key([values(r)[c] for c in names]), r) for r in rows), key=lambda kr: kr[0])
    keys = [k for k, _ in keyed]
    lo, hi = 0, len(keyed)
    if args.get("after") is not None:
        lo = bisect.bisect_right(keys, key(_decode(args["after"], columns)))
    if args.get("before") is not None:
        hi = max(lo, bisect.bisect_left(keys, key(_decode(args["before"], columns))))
    window = [r for _, r in keyed[lo:hi]]
    first, last = args.get("first"), args.get("last")
    limit = min(v for v in (first, last, max_page_size) if v is not None)
    limit = max(limit, 0)
    if last is not None and first is None:
        page = window[max(0, len(window) - limit) :]
        has_previous = len(window) > limit
        has_next = args.get("before") is not None
    else:
        page = window[:limit]
        has_next = args.get("before") is not None or (first is not None and len(window) > limit)
        has_previous = args.get("after") is not None
    return Connection(page, len(rows), has_next, has_previous, values)


def _decode(cursor: Any, columns: Columns) -> list[Any]:
    """The order values a cursor holds; GitLab's error for anything else."""
    try:
        text = str(cursor)
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return [_value(column, data[column]) for column, _ in columns]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PageError(INVALID_CURSOR) from None


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return str(value)


def _value(column: str, text: str) -> Any:
    if column in ("id", "access_level"):
        return int(text)
    if column in ("created_at", "updated_at"):
        return dt.datetime.fromisoformat(text)
    return str(text)
