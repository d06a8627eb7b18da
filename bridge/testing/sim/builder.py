"""The dataset builder: plans users, groups and projects, addressed by list index.

See ``bridge.testing.sim.datasets`` for the rules every generated record follows; member rows
and links are planned in ``bridge.testing.sim.links``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from array import array

from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import USER_STATES, VISIBILITIES, Group, Project, User, Visibility
from bridge.testing.sim.sizes import (
    _ADJS,
    _DAY_MS,
    _EPOCH,
    _EXPIRY_CYCLE,
    _FIRST,
    _FIXED_USERS,
    _LAST,
    _NO_MEMBERSHIPS,
    _NOUNS,
    _ORGS,
    _STATE_WEIGHTS,
    _TEAMS,
    _TOPICS,
    _USER_TYPES,
    _USERNAMES,
    Size,
)


class Builder:
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
        # Member rows as planned: source, user, level, created (ms); see ``links.members``.
        self.rows = (array("q"), array("q"), array("q"), array("q"))

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

    def _source_ms(self, s: int) -> int:
        return self.group_ms[s] if s < self.size.groups else self.p_ms[s - self.size.groups]
