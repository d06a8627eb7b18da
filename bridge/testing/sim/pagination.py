"""GitLab's offset and keyset pagination, as pure functions over already-ordered rows.

Offset follows ``Gitlab::Pagination::OffsetPagination``: header order X-Per-Page, X-Page,
X-Next-Page, X-Prev-Page, Link, then X-Total and X-Total-Pages unless the count is over the
threshold; ``Link`` rels in the order prev, next, first, last. Link URLs are the external URL plus
the request path and a Rails ``to_query`` string (encoded pairs, sorted).
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote_plus

T = TypeVar("T")
Params = dict[str, str | list[str]]
Headers = list[tuple[str, str]]

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
OFFSET_LIMIT = 50_000
# Integers of this magnitude or more are read as this: no id, page or level is that large, and
# Python's int() refuses strings of over 4,300 digits, which Ruby's Integer() reads.
HUGE = 10**30

_RUBY_SPACE = " \t\n\v\f\r"  # ISSPACE in Ruby's integer parsing (ASCII only)
# Ruby's integer syntax in base 10: a sign, an optional 0d prefix, ASCII digits with single
# underscores between them ([0-9], never \d: Python's takes any Unicode digit).
_NUMBER = r"([+-]?)(?:0[dD])?([0-9]+(?:_[0-9]+)*)"
_INTEGER = re.compile(rf"[{_RUBY_SPACE}]*{_NUMBER}[{_RUBY_SPACE}]*\Z")
_TO_I = re.compile(rf"[{_RUBY_SPACE}]*{_NUMBER}")


class PaginationError(Exception):
    """A paging request GitLab refuses; carries the status and JSON body."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def to_query(params: Params) -> str:
    """Rails Hash#to_query: each pair encoded, arrays as key[]=v, pairs sorted as strings."""
    pairs = []
    for key, value in params.items():
        if isinstance(value, list):
            name = quote_plus(f"{key}[]")
            pairs.append("&".join(f"{name}={quote_plus(v)}" for v in value) or f"{name}=")
        else:
            pairs.append(f"{quote_plus(key)}={quote_plus(value)}")
    return "&".join(sorted(pairs))


def ruby_integer(text: str) -> int | None:
    """Ruby's ``Integer(text, 10)`` (Grape's Integer coercion), or None where it raises;
    a magnitude of ``HUGE`` or more is ``HUGE``."""
    found = _INTEGER.match(text)
    return None if found is None else _capped(found)


def ruby_to_i(text: str) -> int:
    """Ruby's ``text.to_i``: the longest integer prefix (after whitespace), else 0."""
    found = _TO_I.match(text)
    return 0 if found is None else _capped(found)


def _capped(found: re.Match[str]) -> int:
    digits = found.group(2).replace("_", "").lstrip("0") or "0"
    value = HUGE if len(digits) >= len(str(HUGE)) else int(digits)
    return -value if found.group(1) == "-" else value


def _int_param(params: Params, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    number = ruby_integer(raw) if isinstance(raw, str) else None
    if number is None:
        raise PaginationError(400, {"error": f"{name} is invalid"})
    return number


def paging_errors(params: Params, *, zero_per_page_refused: bool) -> list[str]:
    """Grape's messages for ``use :pagination``, in declaration order (page, then per_page).

    ``per_page`` has ``except_values: [0]`` from 14.8; a value that is no integer gets only
    ``is invalid`` (the except validator finds no 0 in it).
    """
    errors = []
    for name in ("page", "per_page"):
        try:
            number = _int_param(params, name, 1)
        except PaginationError:
            errors.append(f"{name} is invalid")
            continue
        if name == "per_page" and number == 0 and zero_per_page_refused:
            errors.append("per_page has a value not allowed")
    return errors


def page_params(params: Params) -> tuple[int, int]:
    """``page`` (at least 1) and ``per_page`` (default 20, at most 100), as Kaminari reads them."""
    page = max(1, _int_param(params, "page", 1))
    per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
    if per_page < 1:
        per_page = DEFAULT_PER_PAGE
    return page, min(per_page, MAX_PER_PAGE)


def check_offset_cap(params: Params, type_name: str) -> None:
    """405 once page x per_page exceeds 50,000 on keyset-capable types (the offset cap)."""
    page, per_page = page_params(params)
    if page * per_page > OFFSET_LIMIT:
        raise PaginationError(
            405,
            {
                "error": "Offset pagination has a maximum allowed offset of 50000 for requests "
                f"that return objects of type {type_name}. Remaining records can be retrieved "
                "using keyset pagination."
            },
        )


@dataclass(frozen=True, slots=True)
class LinkBase:
    """Where Link URLs point: the external URL and the request path (without /api/v4 stripped)."""

    external_url: str
    path: str

    def href(self, params: Params) -> str:
        """Absolute URL with a Rails-sorted query string."""
        return f"{self.external_url}{self.path}?{to_query(params)}"


def offset_page(
    rows: Sequence[T], params: Params, link: LinkBase, *, count_limit: int = 10_000
) -> tuple[Sequence[T], Headers]:
    """One offset page of ``rows`` and GitLab's headers for it."""
    page, per_page = page_params(params)
    total = len(rows)
    counted = total <= count_limit
    items = rows[(page - 1) * per_page : page * per_page]
    total_pages = max(1, math.ceil(total / per_page))
    out_of_range = not items and (page > 1 or total == 0)
    next_page = page + 1 if (not out_of_range and page * per_page < total) else None
    prev_page = page - 1 if (page > 1 and not out_of_range) else None

    def href(p: int) -> str:
        return link.href({**params, "page": str(p), "per_page": str(per_page)})

    links = []
    if prev_page:
        links.append(f'<{href(prev_page)}>; rel="prev"')
    if next_page:
        links.append(f'<{href(next_page)}>; rel="next"')
    links.append(f'<{href(1)}>; rel="first"')
    if counted:
        links.append(f'<{href(total_pages)}>; rel="last"')
    headers: Headers = [
        ("X-Per-Page", str(per_page)),
        ("X-Page", str(page)),
        ("X-Next-Page", str(next_page or "")),
        ("X-Prev-Page", str(prev_page or "")),
        ("Link", ", ".join(links)),
    ]
    if counted:
        headers += [("X-Total", str(total)), ("X-Total-Pages", str(total_pages))]
    return items, headers


def keyset_by_id(
    rows: Sequence[T],
    params: Params,
    link: LinkBase,
    key: Callable[[T], int],
    *,
    next_when_nonempty: bool,
    header_names: tuple[str, ...] = ("Link",),
) -> tuple[Sequence[T], Headers]:
    """``/projects`` keyset: rows after ``id_after`` (asc) or before ``id_before`` (desc).

    ``rows`` must already be ordered in the requested direction. The newer Pager links ``next``
    from every non-empty page (so the walk ends on ``[]``); the older one looked one row ahead.
    """
    _, per_page = page_params(params)
    descending = str(params.get("sort", "desc")).lower() == "desc"
    bound_name = "id_before" if descending else "id_after"
    bound = params.get(bound_name)
    if bound is not None:
        limit = _int_param(params, bound_name, 0)
        if descending:
            start = bisect.bisect_right(rows, -limit, key=lambda r: -key(r))
        else:
            start = bisect.bisect_right(rows, limit, key=key)
        rows = rows[start:]
    items = rows[: per_page + 1]
    more = bool(items) if next_when_nonempty else len(items) > per_page
    items = items[:per_page]
    headers: Headers = []
    if more:
        nxt = {**params, bound_name: str(key(items[-1])), "per_page": str(per_page)}
        nxt.pop("id_after" if descending else "id_before", None)
        value = f'<{link.href(nxt)}>; rel="next"'
        headers += [(name, value) for name in header_names]
    return items, headers


def encode_cursor(values: dict[str, str]) -> str:
    """Opaque cursor of GitLab's generic keyset paginator (base64 of the order values)."""
    raw = json.dumps({**values, "_kd": "n"}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> dict[str, str]:
    """Order values from a cursor; a malformed one is GitLab's 400."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==="))
    except (ValueError, UnicodeDecodeError):
        raise PaginationError(400, {"error": "cursor is invalid"}) from None
    if not isinstance(data, dict):
        raise PaginationError(400, {"error": "cursor is invalid"})
    return {str(k): str(v) for k, v in data.items() if k != "_kd"}


def keyset_by_cursor(
    rows: Sequence[T],
    params: Params,
    link: LinkBase,
    sort_key: Callable[[T], tuple[object, ...]],
    cursor_values: Callable[[T], dict[str, str]],
    cursor_key: Callable[[dict[str, str]], tuple[object, ...]],
) -> tuple[Sequence[T], Headers]:
    """``/users`` keyset (16.5+): opaque ``cursor``; ``next`` only when more rows exist."""
    _, per_page = page_params(params)
    descending = str(params.get("sort", "desc")).lower() == "desc"
    cursor = params.get("cursor")
    if isinstance(cursor, str) and cursor:
        after = cursor_key(decode_cursor(cursor))
        # rows are ordered by sort_key in the requested direction; find the first past ``after``
        lo, hi = 0, len(rows)
        while lo < hi:
            mid = (lo + hi) // 2
            key = sort_key(rows[mid])
            if (key >= after) if descending else (key <= after):
                lo = mid + 1
            else:
                hi = mid
        rows = rows[lo:]
    items = rows[: per_page + 1]
    headers: Headers = []
    if len(items) > per_page:
        items = items[:per_page]
        nxt = {
            **params,
            "cursor": encode_cursor(cursor_values(items[-1])),
            "per_page": str(per_page),
        }
        headers.append(("Link", f'<{link.href(nxt)}>; rel="next"'))
    return items, headers
