"""Seeded datasets for the simulator (GITLAB_API.md §8, "Data, control, observability").

``generate`` builds every record directly and loads them with one ``World.bulk_load``, so a
medium instance (10k users, 20k projects, 200k memberships) takes seconds. All randomness comes
from one ``random.Random(seed)`` consumed in a fixed order and no set is ever iterated, so the
same size, seed, profile and ``now`` give the same records.

Ids follow GitLab: users 1..U; personal namespaces and groups share one id sequence, allocated
in creation order; projects, members and links have a sequence each. ``created_at`` grows with
the id within each kind, has whole milliseconds (the API shows milliseconds) and lies at least a
day before ``now``. A row is never older than what it refers to: a project is younger than its
namespace, a membership younger than its user and source, a group owner older than the group.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import (
    USER_STATES,
    VISIBILITIES,
    Group,
    Member,
    Project,
    Share,
    User,
    Visibility,
)
from bridge.testing.sim.world import SimClock, World


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_EPOCH = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
_DAY_MS = 86_400_000
_FIRST = _words(
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil"
    " trent victor walter xena yusuf zoe ahmed bianca chen dmitri elena fatima goran hana ines"
    " jonas kenji lena marco nadia oscar priya quinn rosa sven tariq uma vera wei ximena yara"
)
_LAST = _words(
    "smith jones garcia miller davis lopez wilson anderson thomas taylor moore martin lee walker"
    " hall young king wright scott green baker adams nelson hill campbell mitchell roberts carter"
    " phillips evans turner torres parker collins edwards stewart morris murphy cook rogers morgan"
    " cooper peterson bailey reed kelly howard kim nguyen patel novak"
)
_USERNAMES = ("{f}.{l}", "{i}{l}", "{f}_{l}", "{f}-{l}", "{f}{l}", "{F}{L}")
_ORGS = _words("acme globex initech umbrella hooli stark wayne tyrell cyberdyne soylent wonka")
_TEAMS = _words("platform infra backend frontend mobile data ml security sre qa docs tools api web")
_NOUNS = _words("api service portal gateway worker scheduler dashboard cli sdk proxy cache")
_ADJS = _words("core legacy shiny rapid quiet bold lunar solar swift amber silver north")
_TOPICS = _words("python go ruby rust kubernetes terraform docker ansible react vue ci monitoring")
# Ordinary users are mostly active; the specials below guarantee every state at least once.
_STATE_WEIGHTS = (90, 3, 1, 2, 2, 2)
_LEVEL_WEIGHTS = {5: 3, 10: 20, 15: 5, 20: 25, 30: 30, 40: 12, 50: 5}
_FIXED_USERS = {
    "root": ("root", "Administrator", "admin@example.com"),
    "ghost": ("ghost", "Ghost User", "ghost@example.com"),
    "support_bot": ("support-bot", "GitLab Support Bot", "support@example.com"),
}
_USER_TYPES = {"ghost": "ghost", "support_bot": "support_bot", "bot": "project_bot"}
_NO_MEMBERSHIPS = ("ghost", "support_bot", "bot")  # bots join only their own project
_EXPIRY_CYCLE = "pslslplsls"  # past / soon (within 7 days) / later, so a few rows cover all


@dataclass(frozen=True, slots=True)
class Size:
    """Record counts of one dataset size; ``memberships`` counts direct member rows."""

    users: int
    groups: int
    projects: int
    memberships: int
    big_sources: int  # sources given 101..400 members, so member lists page past per_page=100
    huge_groups: int  # top-level groups given ``huge_members`` members each
    huge_members: int


SIZES: dict[str, Size] = {
    # 50 users cannot fill a source of 100; small's big source takes every eligible user (> 20,
    # GitLab's default per_page) instead.
    "small": Size(50, 10, 30, 200, 1, 0, 0),
    "medium": Size(10_200, 2_000, 20_000, 200_000, 40, 2, 1_500),
    "large": Size(50_500, 10_000, 100_000, 1_000_000, 200, 5, 3_000),
}


@dataclass(frozen=True)
class Dataset:
    """A loaded world plus tokens of its "admin", "user" (regular) and "external" callers."""

    world: World
    tokens: dict[str, str]


def generate(
    size: str,
    *,
    seed: int = 0,
    profile: Profile,
    now: dt.datetime,
    clock: SimClock | None = None,
) -> Dataset:
    """A seeded world of ``size``; without ``clock`` the world's clock stands still at ``now``."""
    if size not in SIZES:
        raise ValueError(f"unknown dataset size {size!r} (choose one of: {', '.join(SIZES)})")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    b = _Builder(SIZES[size], random.Random(seed), profile, now)
    users, groups = b.namespaces()
    projects = b.projects()
    members = b.members()
    shares = b.shares()
    owners = {"admin": 1, "user": 2, "external": b.external + 1}
    tokens = {role: f"glpat-{role}-{seed:04d}-simtoken" for role in owners}
    world = World(clock or SimClock(lambda: now))
    world.bulk_load(
        users=users,
        groups=groups,
        projects=projects,
        members=members,
        shares=shares,
        tokens={tokens[role]: user_id for role, user_id in owners.items()},
    )
    return Dataset(world, tokens)


class _Builder:
    """Plans and builds the records; users, groups and projects are addressed by list index."""

    def __init__(self, size: Size, rng: random.Random, profile: Profile, now: dt.datetime) -> None:
        self.size, self.rng, self.now = size, rng, now
        midnight = (now - dt.timedelta(days=730)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = min(_EPOCH, midnight)
        self.span = (now - self.start) // dt.timedelta(milliseconds=1) - _DAY_MS
        levels = profile.access_levels()
        self.top_levels = levels  # Minimal Access (5) exists on top-level groups only
        self.levels = tuple(level for level in levels if level >= 10)
        self.taken: set[str] = {"/root", "/ghost", "/support-bot"}
        self.personal = round(size.projects * 0.15)
        self.external = 0

    # -- time ------------------------------------------------------------------------------

    def _at(self, ms: int) -> dt.datetime:
        return self.start + dt.timedelta(milliseconds=ms)

    def _spread(self, n: int, lo: int) -> list[int]:
        """``n`` strictly increasing jittered offsets in [lo, span), so ids follow creation."""
        step = max(1, (self.span - lo) // max(n, 1))
        return [lo + i * step + self.rng.randrange(step) for i in range(n)]

    def _after(self, lo: int) -> int:
        return lo + int(self.rng.random() * (self.span - lo))

    @staticmethod
    def _order(times: list[int] | array[int]) -> tuple[list[int], list[int]]:
        """Rows sorted by time and their times made strictly increasing (ids follow created_at)."""
        order = sorted(range(len(times)), key=times.__getitem__)
        out, last = [], -1
        for row in order:
            last = max(times[row], last + 1)
            out.append(last)
        return order, out

    def _expiry(self, n: int) -> dt.date:
        kind = _EXPIRY_CYCLE[n % len(_EXPIRY_CYCLE)]
        # GitLab's daily worker deletes expired rows, so past ones are at most a few days old.
        low, high = {"p": (-3, -1), "s": (1, 7), "l": (8, 400)}[kind]
        return self.now.date() + dt.timedelta(days=self.rng.randint(low, high))

    def _claim(self, base: str, scope: str) -> str:
        """A path free in ``scope`` case-insensitively; top-level groups share users' scope."""
        path, n = base, 1
        while f"{scope}/{path.lower()}" in self.taken:
            n += 1
            path = f"{base}-{n}"
        self.taken.add(f"{scope}/{path.lower()}")
        return path

    # -- users and groups ------------------------------------------------------------------

    def namespaces(self) -> tuple[list[User], list[Group]]:
        """Users and groups; their namespaces take ids from one sequence in creation order."""
        self._plan_users()
        self._plan_groups()
        events = sorted(
            [(t, 0, i) for i, t in enumerate(self.user_ms)]
            + [(t, 1, i) for i, t in enumerate(self.group_ms)]
        )
        ids: tuple[list[int], list[int]] = ([0] * len(self.user_ms), [0] * len(self.group_ms))
        for ns_id, (_, kind, i) in enumerate(events, 1):
            ids[kind][i] = ns_id
        self.user_ns, self.gid = ids
        users = [self._user(i) for i in range(self.size.users)]
        return users, [self._group(i) for i in range(self.size.groups)]

    def _plan_users(self) -> None:
        """Roles by index: 0 is root, 1 the regular token user, the specials at random places."""
        n, rng = self.size.users, self.rng
        specials = ["ghost", "support_bot", *USER_STATES[1:]]
        specials += ["admin"] * max(2, n // 500) + ["external"] * max(3, n // 40)
        specials += ["bot"] * max(2, n // 100)
        self.role = dict(zip(rng.sample(range(2, n), len(specials)), specials, strict=True))
        self.role[0], self.role[1] = "root", "regular"
        self.external = min(i for i, role in self.role.items() if role == "external")
        self.user_ms = self._spread(n, 0)
        self.user_ms[0] = 0
        self.pool = [i for i in range(n) if self.role.get(i) not in _NO_MEMBERSHIPS]
        self.pool_ms = [self.user_ms[i] for i in self.pool]
        self.bots = [i for i in range(n) if self.role.get(i) == "bot"]

    def _identity(self, i: int, role: str) -> tuple[str, str, str]:
        """Username, name and email (usernames share the top-level path scope with groups)."""
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        if role in _FIXED_USERS:
            return _FIXED_USERS[role]
        if role == "bot":
            username, name = self._claim(f"project_{i}_bot", ""), f"{last.title()} bot"
        else:
            pattern = self.rng.choice(_USERNAMES)
            base = pattern.format(f=first, l=last, i=first[0], F=first.title(), L=last.title())
            username, name = self._claim(base, ""), f"{first} {last}".title()
        domain = {"external": "contractor.example.org", "bot": "noreply.example.com"}
        return username, name, f"{username.lower()}@{domain.get(role, 'example.com')}"

    def _user(self, i: int) -> User:
        rng, role, ms = self.rng, self.role.get(i, "human"), self.user_ms[i]
        username, name, email = self._identity(i, role)
        human = role not in _NO_MEMBERSHIPS
        state = role if role in USER_STATES else "active"
        if role == "human":
            state = rng.choices(USER_STATES, _STATE_WEIGHTS)[0]
        seen = self._at(ms + rng.randrange(self.span - ms))
        return User(
            id=i + 1,
            username=username,
            name=name,
            email=email,
            public_email=email if role == "regular" or (human and rng.random() < 0.3) else "",
            state=state,
            is_admin=role in ("root", "admin"),
            external=role == "external",
            bot=role in ("bot", "support_bot"),
            user_type=_USER_TYPES.get(role, "human"),
            two_factor_enabled=human and rng.random() < 0.2,
            namespace_id=self.user_ns[i],
            created_at=self._at(ms),
            created_by_id=1 if role == "bot" or (i > 1 and rng.random() < 0.05) else None,
            last_activity_on=seen.date() if human else None,
            last_sign_in_at=seen if human else None,
            confirmed_at=None if state == "blocked_pending_approval" else self._at(ms),
        )

    def _plan_groups(self) -> None:
        """Tree by index (parents first); 0..3 form a public > internal > private chain, 4 is a
        private top-level group, so small sizes still hold every depth and visibility."""
        rng = self.rng
        self.parent, self.depth = [-1, 0, 1, 2, -1], [1, 2, 3, 4, 1]
        self.vis: list[Visibility] = ["public", "internal", "private", "private", "private"]
        nestable = [0, 1, 2, 4]
        for i in range(5, self.size.groups):
            p = -1 if rng.random() < 0.25 else rng.choice(nestable)
            self.parent.append(p)
            self.depth.append(1 if p < 0 else self.depth[p] + 1)
            if self.depth[i] < 4:
                nestable.append(i)
            cap = VISIBILITIES if p < 0 else VISIBILITIES[: VISIBILITIES.index(self.vis[p]) + 1]
            self.vis.append(rng.choice(cap))
        self.group_ms = self._spread(self.size.groups, self.user_ms[1] + 1)
        # Group 0 belongs to the regular token user; others to someone who existed before it.
        self.owner = [1] + [
            self.pool[rng.randrange(bisect.bisect_left(self.pool_ms, ms))]
            for ms in self.group_ms[1:]
        ]

    def _group(self, i: int) -> Group:
        p = self.parent[i]
        path = self._claim(self.rng.choice(_ORGS if p < 0 else _TEAMS), "" if p < 0 else f"g{p}")
        return Group(
            id=self.gid[i],
            name=path.replace("-", " ").title(),
            path=path,
            parent_id=None if p < 0 else self.gid[p],
            visibility=self.vis[i],
            created_at=self._at(self.group_ms[i]),
            description=f"The {path} group." if self.rng.random() < 0.5 else "",
        )

    # -- projects --------------------------------------------------------------------------

    def projects(self) -> list[Project]:
        """Projects; plan index j < personal is in a user namespace (encoded as -1 - user)."""
        rng, g, n = self.rng, self.size.groups, self.size.projects
        self.ns = [-2] + [-1 - rng.choice(self.pool) for _ in range(self.personal - 1)]
        # Every group gets one project first; the rest go to groups with skewed weights.
        self.ns += range(min(g, n - self.personal))
        weights = [rng.expovariate(1.0) for _ in range(g)]
        self.ns += rng.choices(range(g), weights, k=n - len(self.ns))
        self.first_project = self.personal  # group 0's first project
        times = [
            self._after(self._source_ms(ns) if ns >= 0 else self.user_ms[-1 - ns]) for ns in self.ns
        ]
        order, times = self._order(times)
        self.pid, self.p_ms = [0] * n, [0] * n
        for pid, (j, ms) in enumerate(zip(order, times, strict=True), 1):
            self.pid[j], self.p_ms[j] = pid, ms
        return [
            self._project(j, pid, ms)
            for pid, (j, ms) in enumerate(zip(order, times, strict=True), 1)
        ]

    def _project(self, j: int, pid: int, ms: int) -> Project:
        rng, ns = self.rng, self.ns[j]
        adj, noun = rng.choice(_ADJS), rng.choice(_NOUNS)
        cap = VISIBILITIES if ns < 0 else VISIBILITIES[: VISIBILITIES.index(self.vis[ns]) + 1]
        # The first projects of the chain groups take their group's visibility: all three occur.
        chain = 0 <= ns < 4 and j - self.personal == ns
        last = ms + rng.randrange(self.span + _DAY_MS - ms)
        created = self._at(ms)
        branch = "master" if created.year < 2021 else "main"  # GitLab's default until 14.0
        topics = tuple(rng.sample(_TOPICS, rng.randint(1, 3))) if rng.random() < 0.3 else ()
        return Project(
            id=pid,
            name=f"{adj.title()} {noun.title()} {pid}",
            path=f"{adj}-{noun}-{pid}",
            namespace_id=self.gid[ns] if ns >= 0 else self.user_ns[-1 - ns],
            visibility=cap[-1] if chain else rng.choice(cap),
            created_at=created,
            updated_at=self._at(ms + rng.randrange(last - ms + 1)),
            last_activity_at=self._at(last),
            creator_id=self._source_owner(self.size.groups + j) + 1,
            description=f"The {adj} {noun}." if rng.random() < 0.6 else "",
            default_branch=None if rng.random() < 0.02 else branch,  # None: empty repository
            topics=topics or (("python", "ci") if j == self.first_project else ()),
            archived=rng.random() < 0.05 or j == self.first_project + 1,
        )

    def _source_owner(self, s: int) -> int:
        """Owner (user index) of source ``s``: groups first, then projects by plan index."""
        if s < self.size.groups:
            return self.owner[s]
        ns = self.ns[s - self.size.groups]
        return self.owner[ns] if ns >= 0 else -1 - ns

    # -- members ---------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """Direct members: owners, bots, forced rows, then sampled users per source."""
        g = self.size.groups
        self.rows = (array("q"), array("q"), array("q"), array("q"))  # source, user, level, ms
        extra: dict[int, list[tuple[int, int]]] = {g + self.first_project: [(self.external, 20)]}
        for bot in self.bots:
            extra.setdefault(g + self.rng.randrange(self.size.projects), []).append((bot, 40))
        fixed = g + self.personal + len(self.bots) + 1
        for s, k in enumerate(self._member_counts(fixed)):
            self._source_rows(s, k, extra.get(s, []))
        return self._member_records()

    def _member_counts(self, fixed: int) -> list[int]:
        """Sampled members per source: huge and big sources, the rest skewed to the target."""
        rng, size, g = self.rng, self.size, self.size.groups
        counts = [0] * (g + size.projects)
        tops = [i for i in range(g) if self.parent[i] < 0]
        for i in rng.sample(tops, min(size.huge_groups, len(tops))):
            counts[i] = size.huge_members
        for s in rng.sample(range(len(counts)), size.big_sources):
            # Small pools cap it: the source then takes every user (minus owner and extras).
            counts[s] = counts[s] or min(rng.randint(101, 400), len(self.pool) - 3)
        rest = [s for s, k in enumerate(counts) if k == 0]
        budget = max(0, size.memberships - fixed - sum(counts))
        weights = [rng.expovariate(1.0) for _ in rest]
        total, acc, done = sum(weights), 0.0, 0
        for s, w in zip(rest, weights, strict=True):  # cumulative rounding keeps the exact sum
            acc += w
            counts[s] = round(budget * acc / total) - done
            done += counts[s]
        # Enough rows on group 0 and its first project to hold every level once.
        counts[0] = max(counts[0], len(self.top_levels))
        counts[g + self.first_project] = max(counts[g + self.first_project], len(self.levels))
        return counts

    def _source_rows(self, s: int, k: int, extra: list[tuple[int, int]]) -> None:
        rng, g = self.rng, self.size.groups
        is_group = s < g
        ms = self._source_ms(s)
        owner = self._source_owner(s)
        present = [(owner, 50)] if is_group or self.ns[s - g] < 0 else []
        if present:  # the owner joins when the group or personal project is created
            self._row(s, owner, 50, ms)
        for user, level in extra:
            self._row(s, user, level, self._after(max(ms, self.user_ms[user])))
        present += extra
        taken = [user for user, _ in present]
        picks = rng.sample(self.pool, min(len(self.pool), k + len(taken)))
        users = [u for u in picks if u not in taken][:k]
        levels = self.top_levels if is_group and self.parent[s] < 0 else self.levels
        drawn = rng.choices(levels, [_LEVEL_WEIGHTS[v] for v in levels], k=len(users))
        if s in (0, g + self.first_project):
            drawn = [*levels, *drawn][: len(users)]
        for user, level in zip(users, drawn, strict=True):
            self._row(s, user, level, self._after(max(ms, self.user_ms[user])))

    def _row(self, s: int, user: int, level: int, ms: int) -> None:
        for column, value in zip(self.rows, (s, user, level, ms), strict=True):
            column.append(value)

    def _member_records(self) -> list[Member]:
        src, uid, lvl, times = self.rows
        order, times_ = self._order(times)
        g, phase, due, out = self.size.groups, self.rng.randrange(20), 0, []
        for member_id, (r, ms) in enumerate(zip(order, times_, strict=True), 1):
            s, user, level = src[r], uid[r], lvl[r]
            expires = None
            if level != 50:  # never expire an owner: every source keeps one
                due += 1
                expires = self._expiry(due // 20) if due % 20 == phase else None
            owner = self._source_owner(s)
            out.append(
                Member(
                    id=member_id,
                    source_kind="group" if s < g else "project",
                    source_id=self.gid[s] if s < g else self.pid[s - g],
                    user_id=user + 1,
                    access_level=level,
                    created_at=self._at(ms),
                    expires_at=expires,
                    created_by_id=None if owner == user else owner + 1,
                )
            )
        return out

    # -- shares ----------------------------------------------------------------------------

    def shares(self) -> list[Share]:
        """Project and group links; the first of each invites the private top-level group 4."""
        rng, g, p = self.rng, self.size.groups, self.size.projects
        links = self._links(
            (g + self.first_project, 4), round(p * 0.04), lambda: g + rng.randrange(p)
        )
        links += self._links((0, 4), round(g * 0.02), lambda: rng.randrange(g))
        times = [self._after(max(self._source_ms(s), self.group_ms[i])) for s, i in links]
        order, times = self._order(times)
        return [
            Share(
                id=n,
                source_kind="group" if links[r][0] < g else "project",
                shared_id=self.gid[links[r][0]] if links[r][0] < g else self.pid[links[r][0] - g],
                group_id=self.gid[links[r][1]],
                group_access=rng.choice(self.levels),
                created_at=self._at(ms),
                expires_at=self._expiry(n // 3) if n % 20 in (1, 4) else None,
            )
            for n, (r, ms) in enumerate(zip(order, times, strict=True), 1)
        ]

    def _links(
        self, first: tuple[int, int], n: int, source: Callable[[], int]
    ) -> list[tuple[int, int]]:
        """``first`` and more distinct (source, invited group) pairs GitLab accepts, >= 3 in all."""
        links, seen = [first], {first}
        while len(links) < max(3, n):
            link = (source(), self.rng.randrange(self.size.groups))
            if link not in seen and self._may_share(*link):
                links.append(link)
                seen.add(link)
        return links

    def _source_ms(self, s: int) -> int:
        return self.group_ms[s] if s < self.size.groups else self.p_ms[s - self.size.groups]

    def _ancestors(self, i: int) -> list[int]:
        out = []
        while self.parent[i] >= 0:
            i = self.parent[i]
            out.append(i)
        return out

    def _may_share(self, s: int, invited: int) -> bool:
        """GitLab refuses links to oneself, an ancestor or descendant, or a project's own groups."""
        if s < self.size.groups:
            related = self._ancestors(s) + self._ancestors(invited)
            return s != invited and invited not in related and s not in related
        ns = self.ns[s - self.size.groups]
        return ns < 0 or (invited != ns and invited not in self._ancestors(ns))
