"""Pure: GitLab's offset pagination of the bridge's answers (docs/gitlab-api.md#offset-pagination).

Follows ``Gitlab::Pagination::OffsetPagination``: ``page`` at least 1, ``per_page`` 20 by
default and at most 100; headers in the order X-Per-Page, X-Page, X-Next-Page, X-Prev-Page,
Link, X-Total, X-Total-Pages; ``Link`` rels prev, next, first, last, each URL the base plus a
Rails ``to_query`` string (pairs encoded and sorted).

``page`` and ``per_page`` are ``lib/api/pagination_params.rb``'s Grape Integers (Ruby's
``Integer(s, 10)``); ``per_page`` also has ``except_values: [0]`` (GitLab 14.8+). Below 1
they fall back as Kaminari does (page 1, per_page 20). A page whose offset PostgreSQL's bigint
cannot hold fails inside GitLab (500); the bridge calls it invalid instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar
from urllib.parse import quote_plus

from bridge.errors import InvalidParameter
from bridge.project_groups.finder import ruby_integer

T = TypeVar("T")
Params = Mapping[str, str | Sequence[str]]
Headers = list[tuple[str, str]]
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
BIGINT_MAX = 2**63 - 1  # PostgreSQL's OFFSET


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


def page_errors(params: Params) -> list[str]:
    """Grape's messages for ``page`` and ``per_page``, in declared order; [] if both are fine."""
    errors = []
    page, per_page = _integer(params, "page", 1), _integer(params, "per_page", DEFAULT_PER_PAGE)
    if page is None:
        errors.append("page is invalid")
    if per_page is None:
        errors.append("per_page is invalid")
    elif per_page == 0:
        errors.append("per_page has a value not allowed")
    elif page is not None and (page - 1) * _effective(per_page) > BIGINT_MAX:
        errors.append("page is invalid")
    return errors


def page_params(params: Params) -> tuple[int, int]:
    """``page`` and ``per_page`` as Kaminari reads them; InvalidParameter as Grape words it."""
    errors = page_errors(params)
    if errors:
        raise InvalidParameter(", ".join(errors))
    page = _integer(params, "page", 1) or 1
    per_page = _integer(params, "per_page", DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE
    return max(1, page), _effective(per_page)


def _effective(per_page: int) -> int:
    return min(per_page if per_page >= 1 else DEFAULT_PER_PAGE, MAX_PER_PAGE)


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


def _integer(params: Params, name: str, default: int) -> int | None:
    """The parameter, its default when absent or empty, None when Grape would not coerce it."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return ruby_integer(raw) if isinstance(raw, str) else None
