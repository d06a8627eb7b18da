"""Seeded datasets for the simulator (docs/simulator.md#datasets).

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

import datetime as dt
import random
from dataclasses import dataclass

from bridge.testing.sim import links
from bridge.testing.sim.builder import Builder
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.sizes import SIZES
from bridge.testing.sim.world import SimClock, World


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
    b = Builder(SIZES[size], random.Random(seed), profile, now)
    users, groups = b.namespaces()
    projects = b.projects()
    members = links.members(b)
    shares = links.shares(b)
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
