"""Routing: system receivers get System Hooks; group receivers get their subtree's events."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config.settings import HooksSettings
from bridge.hooks.routing import Receiver, Target, descendants, resolve_receivers, route
from bridge.model.records import Group, ancestry
from tests.hooks.test_events import group

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _group(gid: int, parent: int | None, path: str) -> Group:
    return group(gid, path, parent_id=parent)


# acme(1) > platform(2) > infra(3); other(4)
GROUPS = {
    1: _group(1, None, "acme"),
    2: _group(2, 1, "platform"),
    3: _group(3, 2, "infra"),
    4: _group(4, None, "other"),
}
RECEIVERS = (
    Receiver(name="audit"),
    Receiver(
        name="acme-all", group_id=1, member_events=True, subgroup_events=True, project_events=True
    ),
    Receiver(name="platform-members", group_id=2, member_events=True),
    Receiver(name="infra-projects", group_id=3, project_events=True),
    Receiver(name="other-members", group_id=4, member_events=True),
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Target(hook="System Hook", group_id=3), ("audit",)),
        (Target(hook="System Hook", group_id=None), ("audit",)),
        (Target(hook="Member Hook", group_id=3), ("acme-all", "platform-members")),
        (Target(hook="Member Hook", group_id=2), ("acme-all", "platform-members")),
        (Target(hook="Member Hook", group_id=1), ("acme-all",)),
        (Target(hook="Member Hook", group_id=4), ("other-members",)),
        # a new subgroup of platform belongs to platform: its own hooks are not run
        (Target(hook="Subgroup Hook", group_id=2), ("acme-all",)),
        (Target(hook="Project Hook", group_id=3), ("acme-all", "infra-projects")),
        (Target(hook="Project Hook", group_id=None), ()),  # personal project
        (Target(hook="Member Hook", group_id=99), ()),  # unknown group: nobody
    ],
)
def test_route(event: Target, expected: tuple[str, ...]) -> None:
    """Each hook kind reaches the receivers docs/events.md#fan-out names, in configuration order."""
    assert route(event, RECEIVERS, GROUPS) == expected


def test_destroyed_subtree_routes_with_the_old_hierarchy() -> None:
    """For a removal the caller passes the hierarchy from before: the old parents still count."""
    old = dict(GROUPS)
    new = {k: v for k, v in GROUPS.items() if k != 3}
    event = Target(hook="Member Hook", group_id=3)
    assert route(event, RECEIVERS, old) == ("acme-all", "platform-members")
    assert route(event, RECEIVERS, new) == ()


def test_moved_group_follows_its_new_parent() -> None:
    """After platform moves under other, its events reach other's receivers, not acme's."""
    moved = {**GROUPS, 2: _group(2, 4, "platform")}
    assert route(Target(hook="Member Hook", group_id=3), RECEIVERS, moved) == (
        "platform-members",
        "other-members",
    )


def test_chain_stops_on_cycles_and_unknown_parents() -> None:
    """A corrupt hierarchy never loops: the chain stops at a repeat or an unknown parent."""
    looped = {1: _group(1, 2, "a"), 2: _group(2, 1, "b")}
    assert ancestry(1, looped) == [1, 2]
    assert ancestry(7, {7: _group(7, 8, "orphan")}) == [7, 8]


def test_resolve_receivers_by_path_or_id() -> None:
    """group: takes a full path (any case, stray slashes) or an id; unknown ones are problems."""
    hooks = HooksSettings.model_validate(
        {
            "system": [{"name": "audit", "url": "http://r"}],
            "group": [
                {"name": "a", "group": "/ACME/", "url": "http://r", "member_events": True},
                {"name": "b", "group": "4", "url": "http://r"},
                {"name": "c", "group": "acme/plat", "url": "http://r"},
                {"name": "d", "group": "99", "url": "http://r"},
            ],
        }
    )
    receivers, problems = resolve_receivers(hooks, GROUPS)
    assert [(r.name, r.group_id, r.member_events) for r in receivers] == [
        ("audit", None, False),
        ("a", 1, True),
        ("b", 4, False),
    ]
    assert problems == (
        "hooks.group[2].group: unknown group 'acme/plat'",
        "hooks.group[3].group: unknown group '99'",
    )


@st.composite
def forests(draw: st.DrawFn) -> dict[int, Group]:
    """Random group forests: each group's parent has a smaller id (or none)."""
    size = draw(st.integers(min_value=1, max_value=12))
    groups: dict[int, Group] = {}
    for gid in range(1, size + 1):
        parent = (
            draw(st.one_of(st.none(), st.integers(min_value=1, max_value=gid - 1)))
            if gid > 1
            else None
        )
        groups[gid] = _group(gid, parent, f"g{gid}")
    return groups


@given(forests(), st.data())
def test_group_receiver_reach_is_its_subtree(groups: dict[int, Group], data: st.DataObject) -> None:
    """A member-events receiver on G gets an event of X exactly when X is G or below G."""
    owner = data.draw(st.sampled_from(sorted(groups)))
    target = data.draw(st.sampled_from(sorted(groups)))
    receiver = Receiver(name="r", group_id=owner, member_events=True)
    got = route(Target(hook="Member Hook", group_id=target), (receiver,), groups)
    assert (got == ("r",)) == (target == owner or target in descendants(owner, groups.values()))
