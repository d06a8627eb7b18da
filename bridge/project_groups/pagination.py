"""Pure: GitLab's offset pagination of the bridge's answers (docs/gitlab-api.md#offset-pagination).

Follows ``Gitlab::Pagination::OffsetPagination``: ``page`` at least 1, ``per_page`` 20 by
default and at most 100; headers in the order X-Per-Page, X-Page, X-Next-Page, X-Prev-Page,
Link, X-Total, X-Total-Pages; ``Link`` rels prev, next, first, last, each URL the base plus a
Rails ``to_query`` string (pairs encoded and sorted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar
from urllib.parse import quote_plus

from bridge.errors import InvalidParameter

T = TypeVar("T")
Params = Mapping[str, str | Sequence[str]]
Headers = list[tuple[str, str]]
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def to_query(params: Params) -> str:
    """Rails ``Hash#to_query``: each pair encoded, lists as ``key[]=v``, pairs sorted."""
    pairs = []
    for key, value in params.items():
        if isinstance(value, str):
            pairs.append(f"{quote_plus(key)}={quote_plus(value)}")
        else:
            name = quote_plus(f"{key}[]")
            pairs.append("&".join(f"{name}={quote_plus(v)}" for v in value) or f"{name}=")
    return "&".join(sorted(pairs))


def page_params(params: Params) -> tuple[int, int]:
    """``page`` and ``per_page`` as Kaminari reads them; 400 for a non-integer."""
    page = max(1, _integer(params, "page", 1))
    per_page = _integer(params, "per_page", DEFAULT_PER_PAGE)
    return page, min(per_page if per_page >= 1 else DEFAULT_PER_PAGE, MAX_PER_PAGE)


def offset_page(rows: Sequence[T], params: Params, base_url: str) -> tuple[Sequence[T], Headers]:
    """One page of ``rows`` (already ordered) and GitLab's headers; links point at ``base_url``."""
    page, per_page = page_params(params)
    total = len(rows)
    items = rows[(page - 1) * per_page : page * per_page]
    total_pages = max(1, math.ceil(total / per_page))
    out_of_range = not items and (page > 1 or total == 0)
    next_page = page + 1 if not out_of_range and page * per_page < total else None
    prev_page = page - 1 if page > 1 and not out_of_range else None

    def href(number: int) -> str:
        query = {**params, "page": str(number), "per_page": str(per_page)}
        return f"{base_url}?{to_query(query)}"

    links = []
    if prev_page:
        links.append(f'<{href(prev_page)}>; rel="prev"')
    if next_page:
        links.append(f'<{href(next_page)}>; rel="next"')
    links += [f'<{href(1)}>; rel="first"', f'<{href(total_pages)}>; rel="last"']
    return items, [
        ("X-Per-Page", str(per_page)),
        ("X-Page", str(page)),
        ("X-Next-Page", str(next_page or "")),
        ("X-Prev-Page", str(prev_page or "")),
        ("Link", ", ".join(links)),
        ("X-Total", str(total)),
        ("X-Total-Pages", str(total_pages)),
    ]


def _integer(params: Params, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
        raise InvalidParameter(f"{name} is invalid")
    return int(raw)
