"""The soak's oracle: the hooks each mutation must produce, and the counts of what arrived."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model.changes import subject
from bridge.testing.mutations import Model, Mutation
from bridge.testing.oracle import (
    SYSTEM,
    Expected,
    GroupReceiver,
    Hook,
    Received,
    Receivers,
    expect,
    identify,
    tally,
)

# top 10 (receiver "team") > sub 11 (receiver "sub") > leaf 12; other 20 > 21; projects 30 in
# 12, 31 in 20; users 1-3.
MODEL = Model(
    users=frozenset({1, 2, 3}),
    groups={10: None, 11: 10, 12: 11, 20: None, 21: 20},
    projects={30: 12, 31: 20},
    members={("group", 12, 1): 30, ("project", 30, 2): 30},
    shares={("group", 12, 20): 30},
    fixed=frozenset({10, 11, 20}),
)
RECEIVERS = Receivers(
    system=("audit",),
    group=(
        GroupReceiver(name="team", group=10, member_events=True, subgroup_events=True,
                      project_events=True),
        GroupReceiver(name="sub", group=11, member_events=True),
    ),
    share_events=True,
)  # fmt: skip


def hook(receiver: str, event: str, *ids: int, kind: str = SYSTEM) -> Hook:
    """A Hook, briefly."""
    return Hook(receiver=receiver, kind=kind, event=event, ids=ids)


@pytest.mark.parametrize(
    ("mutation", "hooks"),
    [
        pytest.param(
            Mutation(op="member_add", source="group", target=12, other=2, level=30),
            {hook("audit", "user_add_to_group", 12, 2),
             hook("team", "user_add_to_group", 12, 2, kind="Member Hook"),
             hook("sub", "user_add_to_group", 12, 2, kind="Member Hook")},
            id="group member: system hook and every ancestor's member hook",
        ),
        pytest.param(
            Mutation(op="member_update", source="group", target=21, other=1, level=40),
            {hook("audit", "user_update_for_group", 21, 1)},
            id="group member outside the hooked tree: system hook only",
        ),
        pytest.param(
            Mutation(op="member_remove", source="project", target=30, other=2),
            {hook("audit", "user_remove_from_team", 30, 2)},
            id="project member: system hook only",
        ),
        pytest.param(
            Mutation(op="group_create", target=40, parent=11, name="new"),
            {hook("audit", "group_create", 40),
             hook("team", "subgroup_create", 40, kind="Subgroup Hook")},
            id="subgroup: routed by its parent, only where subgroup_events is on",
        ),
        pytest.param(
            Mutation(op="group_create", target=40, parent=None, name="top"),
            {hook("audit", "group_create", 40)},
            id="top-level group: system hook only",
        ),
        pytest.param(
            Mutation(op="project_create", target=40, parent=12, name="p"),
            {hook("audit", "project_create", 40),
             hook("team", "project_create", 40, kind="Project Hook")},
            id="project in the hooked tree: its Project Hook form too",
        ),
        pytest.param(
            Mutation(op="project_transfer", target=31, parent=12),
            {hook("audit", "project_transfer", 31)},
            id="transfer: system hook only",
        ),
        pytest.param(
            Mutation(op="group_destroy", target=11),
            {hook("audit", "project_destroy", 30),
             hook("team", "project_destroy", 30, kind="Project Hook"),
             hook("audit", "user_remove_from_group", 12, 1),
             hook("team", "user_remove_from_group", 12, 1, kind="Member Hook"),
             hook("sub", "user_remove_from_group", 12, 1, kind="Member Hook"),
             hook("audit", "group_destroy", 12), hook("audit", "group_destroy", 11),
             hook("team", "subgroup_destroy", 12, kind="Subgroup Hook"),
             hook("team", "subgroup_destroy", 11, kind="Subgroup Hook")},
            id="group destroy: its projects, then its groups with their members, old hierarchy",
        ),
        pytest.param(
            Mutation(op="user_destroy", target=1),
            {hook("audit", "user_remove_from_group", 12, 1),
             hook("team", "user_remove_from_group", 12, 1, kind="Member Hook"),
             hook("sub", "user_remove_from_group", 12, 1, kind="Member Hook"),
             hook("audit", "user_destroy", 1)},
            id="user destroy: each membership removed with its hooks, then the user",
        ),
        pytest.param(
            Mutation(op="user_destroy", target=2),
            {hook("audit", "user_remove_from_team", 30, 2), hook("audit", "user_destroy", 2)},
            id="user destroy: project memberships too",
        ),
        pytest.param(
            Mutation(op="share_add", source="project", target=30, other=20, level=30),
            {hook("audit", "group_add_to_team", 30, 20)},
            id="project share: bridge-only share event to system receivers",
        ),
        pytest.param(
            Mutation(op="share_remove", source="group", target=12, other=20),
            {hook("audit", "group_remove_from_group", 12, 20)},
            id="group share removed",
        ),
    ],
)  # fmt: skip
def test_expected_hooks_follow_docs_events(mutation: Mutation, hooks: set[Hook]) -> None:
    """Each mutation's hooks and receivers are those docs/events.md names."""
    got = expect(MODEL, mutation, RECEIVERS)
    assert len(got) == len(set(got))
    assert set(got) == hooks


def test_share_events_off_expects_nothing_for_links() -> None:
    """Without payloads.share_events GitLab sends nothing for a share link."""
    off = Receivers(system=("audit",))
    assert expect(MODEL, Mutation(op="share_add", source="group", target=12, other=21,
                                  level=30), off) == ()  # fmt: skip


def test_group_destroy_sends_children_before_parents() -> None:
    """A cascade lists project destroys first, then groups from the deepest up, each after
    its members' removals."""
    events = [(h.event, h.ids) for h in expect(MODEL, Mutation(op="group_destroy", target=11),
                                               Receivers(system=("audit",)))]  # fmt: skip
    assert events == [("project_destroy", (30,)), ("user_remove_from_group", (12, 1)),
                      ("group_destroy", (12,)), ("group_destroy", (11,))]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "body", "record", "key"),
    [
        ("user_create", {"user_id": 58}, "user", 58),
        ("user_add_to_group", {"group_id": 7, "user_id": 64}, "group_member", (7, 64)),
        ("user_update_for_team", {"project_id": 1, "user_id": 2}, "project_member", (1, 2)),
        ("subgroup_create", {"group_id": 10, "parent_group_id": 7}, "group", 10),
        ("project_update", {"project_id": 73}, "project", 73),
        ("group_add_to_team", {"project_id": 1, "shared_with_group_id": 41}, "project_share",
         (1, 41)),
        ("group_remove_from_group", {"group_id": 100, "shared_with_group_id": 41}, "group_share",
         (100, 41)),
    ],
)  # fmt: skip
def test_identify_reads_the_subject_the_bridge_uses(
    event: str, body: dict[str, int], record: str, key: int | tuple[int, int]
) -> None:
    """A body's identity gives the same subject as bridge.model.changes.subject."""
    found = identify("audit", SYSTEM, {"event_name": event, **body})
    assert found.event == event
    assert found.subject == subject(record, key)  # type: ignore[arg-type]


def test_identify_keeps_unknown_events_without_ids() -> None:
    """An event the oracle does not know is still a Hook, so it counts as spurious."""
    assert identify("audit", SYSTEM, {"event_name": "key_create", "id": 3}).ids == ()
    assert identify("audit", SYSTEM, {"object_kind": "push"}).event == "push"
    assert identify("audit", SYSTEM, {"event_name": "user_create", "user_id": "x"}).ids == ()


ADD = hook("audit", "user_add_to_group", 7, 1)
REMOVE = hook("audit", "user_remove_from_group", 7, 1)
OTHER = hook("audit", "user_create", 9)


def received(*items: tuple[Hook, str]) -> list[Received]:
    """Deliveries in arrival order."""
    return [Received(hook=h, key=k, seq=n) for n, (h, k) in enumerate(items)]


def test_everything_once_in_order_is_clean() -> None:
    """Each expected hook delivered once, in order: delivered == expected, nothing else."""
    result = tally(
        [Expected(hook=ADD, order=0), Expected(hook=OTHER, order=1),
         Expected(hook=REMOVE, order=2)],
        received((OTHER, "k2"), (ADD, "k1"), (REMOVE, "k3")),
    )  # fmt: skip
    assert (result.expected, result.delivered) == (3, 3)
    assert result.clean
    assert (result.dup_same_key, result.dup_other_key) == (0, 0)


def test_lost_spurious_and_duplicates_are_told_apart() -> None:
    """A repeat of a key is allowed; another key for the same event is not; so is the unknown."""
    result = tally(
        [Expected(hook=ADD, order=0), Expected(hook=REMOVE, order=1)],
        received((ADD, "k1"), (ADD, "k1"), (ADD, "k9"), (OTHER, "k5")),
    )
    assert result.lost == 1
    assert result.lost_hooks == (REMOVE,)
    assert result.spurious == 1
    assert result.spurious_hooks == (OTHER,)
    assert result.dup_same_key == 1
    assert result.dup_other_key == 1
    assert not result.clean


def test_a_re_add_that_never_arrives_is_lost() -> None:
    """Add, remove, add: the second add under the first add's key shows as lost (issue 12)."""
    result = tally(
        [Expected(hook=ADD, order=0), Expected(hook=REMOVE, order=1),
         Expected(hook=ADD, order=2)],
        received((ADD, "k1"), (REMOVE, "k2"), (ADD, "k1")),
    )  # fmt: skip
    assert (result.lost, result.dup_same_key, result.order_violations) == (1, 1, 0)


def test_order_is_judged_per_receiver_and_subject_on_first_arrival() -> None:
    """A remove before its add is a violation; other subjects and receivers may interleave."""
    team_add = hook("team", "user_add_to_group", 7, 1, kind="Member Hook")
    expected = [Expected(hook=ADD, order=0), Expected(hook=team_add, order=0),
                Expected(hook=OTHER, order=1), Expected(hook=REMOVE, order=2)]  # fmt: skip
    late = tally(expected, received((REMOVE, "k3"), (OTHER, "k2"), (ADD, "k1"),
                                    (team_add, "k4")))  # fmt: skip
    assert late.order_violations == 1
    redelivered = tally(expected, received((OTHER, "k2"), (ADD, "k1"), (team_add, "k4"),
                                           (REMOVE, "k3"), (ADD, "k1")))  # fmt: skip
    assert redelivered.clean
    assert redelivered.dup_same_key == 1


@given(st.data())
def test_any_at_least_once_delivery_in_subject_order_is_clean(data: st.DataObject) -> None:
    """Property: delivering every expected hook, each key one or more times, subjects
    interleaved arbitrarily but each in its own order, is always clean."""
    subjects = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=12))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    expected, per_subject = [], {}
    for order, user in enumerate(subjects):
        h = hook("audit", ("user_add_to_group", "user_remove_from_group")[order % 2], 7, user)
        expected.append(Expected(hook=h, order=order))
        per_subject.setdefault(user, []).append((h, f"key-{order}"))
    arrivals = []
    queues = list(per_subject.values())
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        item = queue.pop(0)
        arrivals += [item] * rng.randint(1, 3)
    result = tally(expected, received(*arrivals))
    assert result.clean
    assert result.delivered == result.expected == len(subjects)
