"""Batch tasks: many member lists, or fingerprints, per GraphQL request (docs/freshness.md#graphql).

Pure. Where the instance has GraphQL (``Capabilities.graphql_lists``), the member lists are
read in **batches** rather than one task per source: ``graphql:lists:group:3`` is batch 3 of
``count`` over the groups, holding every group whose id is 3 modulo ``count``. A batch is sized
to what one request holds, as last measured from GitLab's ``queryComplexity`` (``Sizes``); a
source's own ``members:*`` task is then read only when something hints it (a changed
fingerprint, a list too long for a batch, a signal).

Which batches hold which class (``bridge.sync.planner.klass_of``), from GitLab's scoring
(docs/gitlab-api.md#graphql): group lists hold ``group_members`` (no version has ``count`` on
member connections, so only a list sees a removal, and a group list costs little more than a
group fingerprint); project fingerprints hold ``project_members`` (a role change moves
``updatedAt``; 15.5+); project lists are the reconcile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bridge.model.records import SourceKind
from bridge.model.signals import Capabilities

Shape = Literal["lists", "fingerprints"]
Batch = tuple[Shape, SourceKind]
# Sources a batch holds before GitLab's score says otherwise (``bridge.source.graphql``
# ``START_*``): groups by full path, projects by id (docs/gitlab-api.md#graphql-complexity).
DEFAULT_SIZES: Mapping[Batch, int] = {
    ("lists", "group"): 7,
    ("lists", "project"): 500,
    ("fingerprints", "group"): 35,
    ("fingerprints", "project"): 500,
}
FIT_STATE = "batch_sizes"  # the resource state whose watermark keeps the measured sizes


@dataclass(frozen=True, slots=True)
class Sizes:
    """Sources per request for each batch kind, as last measured (or the defaults)."""

    of: Mapping[Batch, int]

    def size(self, batch: Batch) -> int:
        """Sources per request of one batch kind."""
        return max(1, self.of.get(batch, DEFAULT_SIZES[batch]))

    def with_measured(self, measured: Mapping[tuple[SourceKind, str], int]) -> Sizes:
        """These sizes with what GitLab's scores allowed (``GraphQL.fits_``: by (kind,
        ``list`` or ``fingerprint``))."""
        found = dict(self.of)
        for shape, kind in DEFAULT_SIZES:
            size = measured.get((kind, shape[:-1]))  # "lists" -> "list"
            if size:
                found[(shape, kind)] = size
        return Sizes(found)

    def text(self) -> str:
        """The stored form: ``lists:group=7,lists:project=100``."""
        return ",".join(f"{s}:{k}={n}" for (s, k), n in sorted(self.of.items()))

    @classmethod
    def parse(cls, text: str | None) -> Sizes:
        """The stored form back; the defaults for anything missing or malformed."""
        found: dict[Batch, int] = dict(DEFAULT_SIZES)
        for part in (text or "").split(","):
            name, _, value = part.partition("=")
            shape, _, kind = name.partition(":")
            if (shape, kind) in DEFAULT_SIZES and value.isdigit() and int(value) > 0:
                found[(shape, kind)] = int(value)  # type: ignore[index]
        return cls(found)


def batches(caps: Capabilities, *, access_requests: bool) -> tuple[Batch, ...]:
    """The batch kinds this instance reads. Access requests are REST only: with
    ``poll.access_requests`` every member list is read over REST with its requests."""
    out: list[Batch] = []
    if caps.graphql_lists and not access_requests:
        out += [("lists", "group"), ("lists", "project")]
    if caps.graphql_fingerprints:
        out.append(("fingerprints", "project"))
    return tuple(out)


def count_for(sources: int, size: int) -> int:
    """How many batches ``sources`` sources take at ``size`` a request (at least one)."""
    return max(1, math.ceil(sources / max(1, size)))


def keys(batch: Batch, count: int) -> list[str]:
    """The task keys of one batch kind split ``count`` ways."""
    shape, kind = batch
    return [f"graphql:{shape}:{kind}:{i}" for i in range(count)]


def parse(key: str) -> tuple[Batch, int]:
    """``graphql:lists:project:3`` -> ((``lists``, ``project``), 3)."""
    _, shape, kind, index = key.split(":")
    return (shape, kind), int(index)  # type: ignore[return-value]


def members(ids: Iterable[int], count: int, index: int) -> list[int]:
    """The sources of batch ``index`` of ``count``: ids equal to ``index`` modulo ``count``, so
    a new source joins a batch without moving the others."""
    return sorted(i for i in ids if i % count == index)


def lists_replace(caps: Capabilities, *, access_requests: bool) -> frozenset[str]:
    """The per-source task kinds batches read instead: those tasks run only when hinted."""
    if caps.graphql_lists and not access_requests:
        return frozenset({"members:group", "members:project"})
    return frozenset()
