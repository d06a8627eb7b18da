"""The soak's world model and batch planner: observable batches, silent cascades, re-adds."""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import count

from hypothesis import given
from hypothesis import strategies as st

from bridge.testing.mutations import (
    Model,
    Mutation,
    apply,
    footprint,
    plan_batch,
    readd_script,
    subject,
)

MODEL = Model(
    users=frozenset(range(1, 9)),
    groups={10: None, 11: 10, 12: 11, 13: 10, 20: None, 21: 20},
    projects={30: 12, 31: 20, 32: 10},
    members={("group", 12, 1): 30, ("project", 30, 2): 30, ("group", 21, 1): 10},
    shares={("group", 12, 20): 30, ("project", 31, 12): 20},
    fixed=frozenset({10, 11, 20}),
)


def test_destroying_a_group_drops_its_subtree_members_and_links_silently() -> None:
    """The model forgets what GitLab deletes with a group: subgroups, projects, rows, links."""
    after = apply(MODEL, Mutation(op="group_destroy", target=11))
    assert set(after.groups) == {10, 13, 20, 21}
    assert set(after.projects) == {31, 32}
    assert set(after.members) == {("group", 21, 1)}
    assert after.shares == {}  # one link was of 12, the other into 12


def test_destroying_a_user_drops_its_member_rows() -> None:
    """GitLab deletes a user's memberships with the user."""
    after = apply(MODEL, Mutation(op="user_destroy", target=1))
    assert 1 not in after.users
    assert set(after.members) == {("project", 30, 2)}


def test_removed_links_are_remembered_as_retired() -> None:
    """A removed row is retired, so plans without re-adds never add it back."""
    after = apply(MODEL, Mutation(op="member_remove", source="group", target=12, other=1))
    assert ("group", 12, 1) in after.retired
    assert ("group", 12, 1) not in after.members


def test_a_destroy_footprint_covers_its_cascade() -> None:
    """A group destroy touches every group and project it takes with it."""
    assert footprint(MODEL, Mutation(op="group_destroy", target=11)) == {
        ("group", 11), ("group", 12), ("project", 30)
    }  # fmt: skip


def _fill_ids(model: Model, batch: tuple[Mutation, ...], ids: count[int]) -> Model:
    """Apply a planned batch as the simulator would, giving creates fresh ids."""
    for m in batch:
        model = apply(model, replace(m, target=next(ids)) if m.target is None else m)
    return model


@given(st.integers(0, 2**32), st.booleans())
def test_planned_batches_keep_every_mutation_observable(seed: int, readd: bool) -> None:
    """Property: in every batch a subject changes at most once, nothing created or destroyed
    is touched by another mutation, and the model stays consistent batch after batch."""
    rng, ids, model = random.Random(seed), count(1000), MODEL
    for _ in range(6):
        batch = plan_batch(model, rng, size=8, readd=readd)
        named = [subject(m) for m in batch if m.target is not None]
        assert len(named) == len(set(named))
        for n, m in enumerate(batch):
            if m.op.endswith("_destroy"):
                others = set().union(*(footprint(model, o) for o in batch[:n] + batch[n + 1 :]))
                assert not footprint(model, m) & others, m
            if not readd and m.op in ("member_add", "share_add"):
                assert m.link not in model.retired
        model = _fill_ids(model, batch, ids)
        assert model.fixed <= set(model.groups)
        assert all(u in model.users and s in {**model.groups, **model.projects}
                   for (_k, s, u) in model.members)  # fmt: skip
        assert all(g in model.groups for (_k, _s, g) in model.shares)


def test_readd_script_repeats_the_same_four_links() -> None:
    """Five batches: add, remove, add, remove, add at another level, for the same four links."""
    batches = readd_script(MODEL)
    assert [sorted({m.op.split("_")[1] for m in b}) for b in batches] == [
        ["add"], ["remove"], ["add"], ["remove"], ["add"]
    ]  # fmt: skip
    links = {m.link for m in batches[0]}
    assert len(links) == 4
    assert all({m.link for m in b} == links for b in batches)
    assert {m.source for m in batches[0]} == {"group", "project"}
    assert {m.level for m in batches[0]} != {m.level for m in batches[4]}
    model = MODEL
    for batch in batches:
        model = _fill_ids(model, batch, count(1000))
    assert all(link in {**model.members, **model.shares} for link in links)
