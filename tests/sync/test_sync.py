"""The sync use case against the simulator and a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config.settings import Settings
from bridge.hooks.identity import event_uuid, idempotency_key
from bridge.model.ledger import OutboxRecord
from bridge.retry import RetryPolicy
from bridge.source import GitLabSource
from bridge.store import Store, Transaction
from bridge.sync import SyncReport, sync
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW

SYSTEM = "sys"
GROUP = "grp"


@pytest.fixture
def top(sim: Simulator) -> int:
    """A top-level group that has a subgroup: the group receiver's group."""
    snap = sim.world.snapshot()
    parents = {g.parent_id for g in snap.groups.values()}
    return min(g.id for g in snap.groups.values() if g.parent_id is None and g.id in parents)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: NOW) as opened:
        yield opened


def settings(sim: Simulator, group: int, **payloads: Any) -> Settings:
    """One system receiver and one group receiver with every group event on."""
    return Settings.model_validate(
        {
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "hooks": {
                "system": [{"name": SYSTEM, "url": "http://receiver.test/sys"}],
                "group": [
                    {
                        "name": GROUP,
                        "url": "http://receiver.test/grp",
                        "group": str(group),
                        "member_events": True,
                        "subgroup_events": True,
                        "project_events": True,
                    }
                ],
            },
            "payloads": payloads,
        }
    )


def run(
    sim: Simulator, store: Store, group: int, *, graphql: bool = True, **payloads: Any
) -> SyncReport:
    """One sync pass with a fresh source (member lists over GraphQL where the version has it)."""
    source = GitLabSource(sim.url, sim.tokens["admin"], graphql=graphql)
    return sync(source, store, settings(sim, group, **payloads), now=lambda: NOW, workers=4)


def queued(store: Store) -> list[tuple[str, str, str]]:
    """(event name, receiver, hook) of every outbox row, in queue order."""
    return [(r.event_name, r.receiver, r.hook) for r in store.outbox()]


def payload(row: OutboxRecord) -> dict[str, Any]:
    """The decoded body of an outbox row."""
    loaded: dict[str, Any] = json.loads(row.payload)
    return loaded


def member_of(sim: Simulator, group: int) -> tuple[int, int]:
    """(user id, access level) of a non-owner direct member of ``group``."""
    rows = sim.world.snapshot().direct_members("group", group)
    row = min((m for m in rows if m.access_level < 50), key=lambda m: m.user_id)
    return row.user_id, row.access_level


def test_baseline_is_silent_and_a_quiet_second_run_queues_nothing(
    sim: Simulator, store: Store, top: int
) -> None:
    """The first pass records the snapshot without events; nothing changed queues nothing."""
    first = run(sim, store, top)
    assert first.events_queued == 0
    assert store.outbox() == []
    assert {"users", "groups", "projects", f"members:group:{top}"} <= set(first.baselines)
    assert len(store.users()) == len(sim.world.snapshot().users)
    second = run(sim, store, top)
    assert (second.changes, second.events_queued, second.baselines) == (0, 0, ())


def test_emit_baseline_queues_creates(sim: Simulator, store: Store, top: int) -> None:
    """With emit_baseline the first pass queues create and add events, nothing else."""
    report = run(sim, store, top, emit_baseline=True)
    names = {name for name, _, _ in queued(store)}
    assert report.events_queued == len(store.outbox()) > 0
    assert {"user_create", "group_create", "project_create", "user_add_to_group"} <= names
    assert all(n.endswith(("_create", "_add_to_group", "_add_to_team")) for n in names)


def test_new_user_is_user_create_to_system_receivers(
    sim: Simulator, store: Store, top: int
) -> None:
    """A user created after the baseline reaches the system receiver only."""
    run(sim, store, top)
    user = sim.world.add_user("newcomer")
    run(sim, store, top)
    assert queued(store) == [("user_create", SYSTEM, "System Hook")]
    body = payload(store.outbox()[0])
    assert (body["event_name"], body["user_id"], body["username"]) == (
        "user_create",
        user.id,
        "newcomer",
    )


def test_username_change_is_user_rename(sim: Simulator, store: Store, top: int) -> None:
    """A changed username gives user_rename with the old username."""
    run(sim, store, top)
    user = sim.world.add_user("before")
    run(sim, store, top)
    sim.world.update_user(user.id, username="after")
    run(sim, store, top)
    rows = store.outbox()
    assert queued(store)[-1] == ("user_rename", SYSTEM, "System Hook")
    assert payload(rows[-1])["old_username"] == "before"
    assert payload(rows[-1])["username"] == "after"


def test_deleted_user_is_user_destroy(sim: Simulator, store: Store, top: int) -> None:
    """A user gone from the listing and answering 404 gives user_destroy and leaves the store."""
    user = sim.world.add_user("leaver")
    run(sim, store, top)
    sim.world.remove_user(user.id)
    run(sim, store, top)
    assert queued(store) == [("user_destroy", SYSTEM, "System Hook")]
    assert payload(store.outbox()[0])["user_id"] == user.id
    assert user.id not in store.users()


def test_member_added_under_group_receiver(sim: Simulator, store: Store, top: int) -> None:
    """A member added to the receiver's group: System Hook and Member Hook user_add_to_group."""
    user = sim.world.add_user("joiner")
    run(sim, store, top)
    sim.world.add_member("group", top, user.id, 30)
    run(sim, store, top)
    assert queued(store) == [
        ("user_add_to_group", SYSTEM, "System Hook"),
        ("user_add_to_group", GROUP, "Member Hook"),
    ]
    body = payload(store.outbox()[1])
    assert (body["group_id"], body["user_id"], body["group_access"]) == (top, user.id, "Developer")


def test_member_access_change_is_user_update_for_group(
    sim: Simulator, store: Store, top: int
) -> None:
    """A changed access level gives user_update_for_group to both receivers."""
    user_id, level = member_of(sim, top)
    run(sim, store, top)
    sim.world.update_member("group", top, user_id, access_level=40 if level != 40 else 30)
    run(sim, store, top)
    assert queued(store) == [
        ("user_update_for_group", SYSTEM, "System Hook"),
        ("user_update_for_group", GROUP, "Member Hook"),
    ]


def test_member_removal_is_user_remove_from_group(sim: Simulator, store: Store, top: int) -> None:
    """A removed member (404 on the point lookup) gives user_remove_from_group; the row goes."""
    user_id, _ = member_of(sim, top)
    run(sim, store, top)
    sim.world.remove_member("group", top, user_id)
    run(sim, store, top)
    assert queued(store) == [
        ("user_remove_from_group", SYSTEM, "System Hook"),
        ("user_remove_from_group", GROUP, "Member Hook"),
    ]
    assert (top, user_id) not in store.all_members("group")


def test_project_rename_and_transfer(sim: Simulator, store: Store, top: int) -> None:
    """A path change gives project_rename, a namespace change project_transfer."""
    user = sim.world.add_user("owner1")
    project = sim.world.add_project("proj-a", namespace_id=top)
    run(sim, store, top)
    sim.world.update_project(project.id, path="proj-b")
    run(sim, store, top)
    sim.world.update_project(project.id, namespace_id=user.namespace_id)
    run(sim, store, top)
    rows = store.outbox()
    assert queued(store) == [
        ("project_rename", SYSTEM, "System Hook"),
        ("project_transfer", SYSTEM, "System Hook"),
    ]
    assert payload(rows[0])["old_path_with_namespace"].endswith("/proj-a")
    assert payload(rows[1])["path_with_namespace"] == "owner1/proj-b"


def test_subgroup_create_reaches_the_parents_receiver(
    sim: Simulator, store: Store, top: int
) -> None:
    """A new subgroup: group_create to system, subgroup_create to the parent's receiver."""
    run(sim, store, top)
    group = sim.world.add_group("fresh-sub", parent_id=top)
    run(sim, store, top)
    events = queued(store)
    assert events[:2] == [
        ("group_create", SYSTEM, "System Hook"),
        ("subgroup_create", GROUP, "Subgroup Hook"),
    ]
    sub = payload(store.outbox()[1])
    assert (sub["group_id"], sub["parent_group_id"]) == (group.id, top)


def test_member_missing_from_listing_but_found_is_not_removed(
    sim: Simulator, store: Store, top: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row dropped by the listing yet answering the point lookup stays, with no event."""
    user_id, _ = member_of(sim, top)
    run(sim, store, top)
    listing = GitLabSource.members

    def drop(self: GitLabSource, kind: Any, source_id: int) -> Any:
        rows = listing(self, kind, source_id)
        if rows is None or (kind, source_id) != ("group", top):
            return rows
        return tuple(m for m in rows if m.user_id != user_id)

    monkeypatch.setattr(GitLabSource, "members", drop)
    report = run(sim, store, top)
    assert (report.changes, store.outbox()) == (0, [])
    assert (top, user_id) in store.all_members("group")


def test_failed_member_lists_keep_their_snapshot_and_the_others_go_on(
    sim: Simulator, store: Store, top: int
) -> None:
    """Failing group member lists write nothing and are reported; project lists still commit."""
    user_id, _ = member_of(sim, top)
    project = min(sim.world.snapshot().projects)
    run(sim, store, top)
    before = store.all_members("group")
    sim.world.remove_member("group", top, user_id)
    sim.world.add_member("project", project, user_id, 30)
    rule = FaultRule(kind="status", match="GET /groups/:id/members", times=10_000, status=502)
    sim.faults.add(rule)
    source = GitLabSource(
        sim.url, sim.tokens["admin"], retry=RetryPolicy(max_attempts=1), graphql=False
    )  # REST's lists fail here; GraphQL's: tests/sync/test_sync_graphql.py
    report = sync(source, store, settings(sim, top), now=lambda: NOW, workers=2)
    assert store.all_members("group") == before
    assert queued(store) == [("user_add_to_team", SYSTEM, "System Hook")]
    assert len(report.failures) == len(sim.world.snapshot().groups)
    assert f"members:group:{top}: " in "\n".join(report.failures)
    state = store.resource_state(f"members:group:{top}")
    assert state is not None
    assert state.last_error is not None
    assert "502" in state.last_error
    assert state.last_complete_at == state.baseline_at  # still the baseline's, not this run's


@pytest.mark.parametrize("graphql", [False, True], ids=["rest", "graphql"])
def test_resource_state_records_the_requests_each_resource_used(
    sim: Simulator, store: Store, top: int, graphql: bool
) -> None:
    """Per-resource request counts add up to the pass's total (status will show them); a
    GraphQL batch's requests are shared out among the lists it settled."""
    report = run(sim, store, top, graphql=graphql)
    states = [store.resource_state(name) for name in ("users", "groups", "projects")]
    assert all(s is not None and s.last_requests and s.last_requests > 0 for s in states)
    group_list = store.resource_state(f"members:group:{top}")
    assert group_list is not None
    assert group_list.last_requests is not None
    if not graphql:
        assert group_list.last_requests == 1
    probe = 1 if graphql else 0  # GraphQL is probed once per source: no resource's request
    assert sum(s.last_requests or 0 for s in store.resource_states()) + probe == report.requests
    graphql_requests = sim.request_count("POST /api/graphql")
    assert (graphql_requests > 0) is graphql


def test_crash_inside_the_transaction_writes_nothing_and_rerun_queues_once(
    sim: Simulator, store: Store, top: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after enqueue rolls back; the next run queues the same keys exactly once."""
    run(sim, store, top)
    user = sim.world.add_user("crashy")

    def boom(self: Transaction, state: Any) -> None:
        raise RuntimeError("crash")

    with monkeypatch.context() as patch:
        patch.setattr(Transaction, "set_resource_state", boom)
        with pytest.raises(RuntimeError, match="crash"):
            run(sim, store, top)
    assert store.outbox() == []
    assert user.id not in store.users()
    run(sim, store, top)
    run(sim, store, top)
    rows = store.outbox()
    assert queued(store) == [("user_create", SYSTEM, "System Hook")]
    assert payload(rows[0])["user_id"] == user.id


def test_two_runs_after_one_change_queue_one_row_per_receiver(
    sim: Simulator, store: Store, top: int
) -> None:
    """One member add seen by two runs: one row per receiver, keys derived from revision 0."""
    user = sim.world.add_user("twice")
    run(sim, store, top)
    sim.world.add_member("group", top, user.id, 20)
    run(sim, store, top)
    run(sim, store, top)
    rows = store.outbox()
    expected = event_uuid(sim.url, "user_add_to_group", f"group_member:{top}:{user.id}", 0)
    assert [(r.receiver, r.event_uuid) for r in rows] == [(SYSTEM, expected), (GROUP, expected)]
    assert [r.idempotency_key for r in rows] == [
        idempotency_key(expected, SYSTEM),
        idempotency_key(expected, GROUP),
    ]


def test_removed_subtree_gives_destroys_children_first_each_after_its_member_removals(
    sim: Simulator, store: Store, top: int
) -> None:
    """A deleted subtree: projects first, then each group child before parent, its members'
    removals (``dependent: :destroy`` callbacks) just before its own destroy."""
    user = sim.world.add_user("member1")
    parent = sim.world.add_group("doomed", parent_id=top)
    child = sim.world.add_group("doomed-child", parent_id=parent.id)
    sim.world.add_project("doomed-proj", namespace_id=child.id)
    sim.world.add_member("group", child.id, user.id, 30)
    run(sim, store, top)
    sim.world.remove_group(parent.id)
    run(sim, store, top)
    assert queued(store) == [
        ("project_destroy", SYSTEM, "System Hook"),
        ("project_destroy", GROUP, "Project Hook"),
        ("user_remove_from_group", SYSTEM, "System Hook"),
        ("user_remove_from_group", GROUP, "Member Hook"),
        ("group_destroy", SYSTEM, "System Hook"),
        ("subgroup_destroy", GROUP, "Subgroup Hook"),
        ("group_destroy", SYSTEM, "System Hook"),
        ("subgroup_destroy", GROUP, "Subgroup Hook"),
    ]
    groups = [payload(r)["group_id"] for r in store.outbox()[2::2]]
    assert groups == [child.id, child.id, parent.id]
    assert payload(store.outbox()[2])["user_id"] == user.id
    assert (child.id, user.id) not in store.all_members("group")


def test_destroys_are_queued_projects_before_groups(sim: Simulator, store: Store, top: int) -> None:
    """A deleted group with a project queues project_destroy before group_destroy."""
    run(sim, store, top)
    doomed = sim.world.add_group("doomed", visibility="private")
    project = sim.world.add_project("inside", namespace_id=doomed.id)
    run(sim, store, top)
    sim.world.remove_group(doomed.id)
    run(sim, store, top)
    names = [name for name, receiver, _ in queued(store) if receiver == SYSTEM]
    tail = [n for n in names if n in ("project_destroy", "group_destroy")]
    assert tail == ["project_destroy", "group_destroy"], (project.id, names)


def test_destroyed_user_with_memberships_gives_their_removals_then_user_destroy(
    sim: Simulator, store: Store, top: int
) -> None:
    """A deleted member: ``destroy_memberships`` removes each row with its hook, then the user
    goes (``user_destroy``)."""
    user = sim.world.add_user("member-leaver")
    project_id = min(sim.world.snapshot().projects)
    sim.world.add_member("group", top, user.id, 30)
    sim.world.add_member("project", project_id, user.id, 20)
    run(sim, store, top)
    sim.world.remove_user(user.id)
    run(sim, store, top)
    assert queued(store) == [  # the baseline was silent
        ("user_remove_from_group", SYSTEM, "System Hook"),
        ("user_remove_from_group", GROUP, "Member Hook"),
        ("user_remove_from_team", SYSTEM, "System Hook"),
        ("user_destroy", SYSTEM, "System Hook"),
    ]
    assert (top, user.id) not in store.all_members("group")
    assert (project_id, user.id) not in store.all_members("project")
