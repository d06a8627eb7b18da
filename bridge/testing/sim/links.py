"""Member rows and group links of a generated dataset, planned on a ``Builder``."""

from __future__ import annotations

from collections.abc import Callable

from bridge.testing.sim.builder import Builder
from bridge.testing.sim.rows import Member, Share
from bridge.testing.sim.sizes import _LEVEL_WEIGHTS

# --- members ---------------------------------------------------------------------------


def members(b: Builder) -> list[Member]:
    """Direct members: owners, bots, forced rows, then sampled users per source."""
    g = b.size.groups
    extra: dict[int, list[tuple[int, int]]] = {g + b.first_project: [(b.external, 20)]}
    for bot in b.bots:
        extra.setdefault(g + b.rng.randrange(b.size.projects), []).append((bot, 40))
    fixed = g + b.personal + len(b.bots) + 1
    for s, k in enumerate(_member_counts(b, fixed)):
        _source_rows(b, s, k, extra.get(s, []))
    return _member_records(b)


def _member_counts(b: Builder, fixed: int) -> list[int]:
    """Sampled members per source: huge and big sources, the rest skewed to the target."""
    rng, size, g = b.rng, b.size, b.size.groups
    counts = [0] * (g + size.projects)
    tops = [i for i in range(g) if b.parent[i] < 0]
    for i in rng.sample(tops, min(size.huge_groups, len(tops))):
        counts[i] = size.huge_members
    for s in rng.sample(range(len(counts)), size.big_sources):
        # Small pools cap it: the source then takes every user (minus owner and extras).
        counts[s] = counts[s] or min(rng.randint(101, 400), len(b.pool) - 3)
    rest = [s for s, k in enumerate(counts) if k == 0]
    budget = max(0, size.memberships - fixed - sum(counts))
    weights = [rng.expovariate(1.0) for _ in rest]
    total, acc, done = sum(weights), 0.0, 0
    for s, w in zip(rest, weights, strict=True):  # cumulative rounding keeps the exact sum
        acc += w
        counts[s] = round(budget * acc / total) - done
        done += counts[s]
    # Enough rows on group 0 and its first project to hold every level once.
    counts[0] = max(counts[0], len(b.top_levels))
    counts[g + b.first_project] = max(counts[g + b.first_project], len(b.levels))
    return counts


def _source_rows(b: Builder, s: int, k: int, extra: list[tuple[int, int]]) -> None:
    rng, g = b.rng, b.size.groups
    is_group = s < g
    ms = b._source_ms(s)
    owner = b._source_owner(s)
    present = [(owner, 50)] if is_group or b.ns[s - g] < 0 else []
    if present:  # the owner joins when the group or personal project is created
        _row(b, s, owner, 50, ms)
    for user, level in extra:
        _row(b, s, user, level, b._after(max(ms, b.user_ms[user])))
    present += extra
    taken = [user for user, _ in present]
    picks = rng.sample(b.pool, min(len(b.pool), k + len(taken)))
    users = [u for u in picks if u not in taken][:k]
    levels = b.top_levels if is_group and b.parent[s] < 0 else b.levels
    drawn = rng.choices(levels, [_LEVEL_WEIGHTS[v] for v in levels], k=len(users))
    if s in (0, g + b.first_project):
        drawn = [*levels, *drawn][: len(users)]
    for user, level in zip(users, drawn, strict=True):
        _row(b, s, user, level, b._after(max(ms, b.user_ms[user])))


def _row(b: Builder, s: int, user: int, level: int, ms: int) -> None:
    for column, value in zip(b.rows, (s, user, level, ms), strict=True):
        column.append(value)


def _member_records(b: Builder) -> list[Member]:
    src, uid, lvl, times = b.rows
    order, times_ = b._order(times)
    g, phase, due, out = b.size.groups, b.rng.randrange(20), 0, []
    for member_id, (r, ms) in enumerate(zip(order, times_, strict=True), 1):
        s, user, level = src[r], uid[r], lvl[r]
        expires = None
        if level != 50:  # never expire an owner: every source keeps one
            due += 1
            expires = b._expiry(due // 20) if due % 20 == phase else None
        owner = b._source_owner(s)
        out.append(
            Member(
                id=member_id,
                source_kind="group" if s < g else "project",
                source_id=b.gid[s] if s < g else b.pid[s - g],
                user_id=user + 1,
                access_level=level,
                created_at=b._at(ms),
                expires_at=expires,
                created_by_id=None if owner == user else owner + 1,
            )
        )
    return out


# --- shares ----------------------------------------------------------------------------


def shares(b: Builder) -> list[Share]:
    """Project and group links; the first of each invites the private top-level group 4."""
    rng, g, p = b.rng, b.size.groups, b.size.projects
    links = _links(b, (g + b.first_project, 4), round(p * 0.04), lambda: g + rng.randrange(p))
    links += _links(b, (0, 4), round(g * 0.02), lambda: rng.randrange(g))
    times = [b._after(max(b._source_ms(s), b.group_ms[i])) for s, i in links]
    order, times = b._order(times)
    return [
        Share(
            id=n,
            source_kind="group" if links[r][0] < g else "project",
            shared_id=b.gid[links[r][0]] if links[r][0] < g else b.pid[links[r][0] - g],
            group_id=b.gid[links[r][1]],
            group_access=rng.choice(b.levels),
            created_at=b._at(ms),
            expires_at=b._expiry(n // 3) if n % 20 in (1, 4) else None,
        )
        for n, (r, ms) in enumerate(zip(order, times, strict=True), 1)
    ]


def _links(
    b: Builder, first: tuple[int, int], n: int, source: Callable[[], int]
) -> list[tuple[int, int]]:
    """``first`` and more distinct (source, invited group) pairs GitLab accepts, >= 3 in all."""
    links, seen = [first], {first}
    while len(links) < max(3, n):
        link = (source(), b.rng.randrange(b.size.groups))
        if link not in seen and _may_share(b, *link):
            links.append(link)
            seen.add(link)
    return links


def _ancestors(b: Builder, i: int) -> list[int]:
    out = []
    while b.parent[i] >= 0:
        i = b.parent[i]
        out.append(i)
    return out


def _may_share(b: Builder, s: int, invited: int) -> bool:
    """GitLab refuses links to oneself, an ancestor or descendant, or a project's own groups."""
    if s < b.size.groups:
        related = _ancestors(b, s) + _ancestors(b, invited)
        return s != invited and invited not in related and s not in related
    ns = b.ns[s - b.size.groups]
    return ns < 0 or (invited != ns and invited not in _ancestors(b, ns))
