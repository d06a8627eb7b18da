"""GraphQL batch tasks in the planner: keys, sizes, classes, periods, hint-only lists."""

from __future__ import annotations

import datetime as dt
import math

from bridge.model.records import Member
from bridge.model.signals import Capabilities, Fingerprint
from bridge.sync import batches
from bridge.sync.batched import BatchReads
from bridge.sync.batches import DEFAULT_SIZES, Sizes
from bridge.sync.members import exact_rows
from bridge.sync.planner import Load, Targets, allocate, kind_of, klass_of
from bridge.sync.schedule import Schedule

CAPS = Capabilities(updated_after=True, last_activity_after=True, memberships=True,
                    audit_events=False, graphql_lists=True, graphql_fingerprints=True)  # fmt: skip
TARGETS = Targets(new_users=60, new_user_memberships=90, group_members=300, project_members=300,
                  groups_and_projects=600, shares=7200, reconcile=10800)  # fmt: skip


def test_batch_keys_split_sources_modulo_and_parse_back() -> None:
    keys = batches.keys(("lists", "project"), 3)
    assert keys == ["graphql:lists:project:0", "graphql:lists:project:1", "graphql:lists:project:2"]
    assert batches.parse(keys[2]) == (("lists", "project"), 2)
    ids = range(1, 11)
    split = [batches.members(ids, 3, i) for i in range(3)]
    assert sorted(i for part in split for i in part) == list(ids)  # each source in one batch
    assert split[1] == [1, 4, 7, 10]
    assert batches.count_for(250, 100) == 3
    assert batches.count_for(0, 100) == 1


def test_sizes_round_trip_and_fall_back_to_the_defaults() -> None:
    sizes = Sizes({**DEFAULT_SIZES, ("lists", "group"): 9})
    assert Sizes.parse(sizes.text()) == sizes
    assert Sizes.parse("lists:group=x,nonsense,fingerprints:project=0").of == DEFAULT_SIZES


def test_which_batches_an_instance_reads() -> None:
    assert batches.batches(CAPS, access_requests=False) == (
        ("lists", "group"), ("lists", "project"), ("fingerprints", "project"),
    )  # fmt: skip
    # Access requests are REST only: the lists stay REST, fingerprints still hint them.
    assert batches.batches(CAPS, access_requests=True) == (("fingerprints", "project"),)
    assert batches.lists_replace(CAPS, access_requests=True) == frozenset()
    old = Capabilities(updated_after=False, last_activity_after=True, memberships=True,
                       audit_events=False)  # fmt: skip
    assert batches.batches(old, access_requests=False) == ()


def test_batch_kinds_serve_their_classes_and_fingerprints_run_every_half_target() -> None:
    assert kind_of("graphql:fingerprints:project:12") == "graphql:fingerprints:project"
    assert klass_of("graphql:lists:group", CAPS) == "group_members"
    assert klass_of("graphql:lists:project", CAPS) == "reconcile"
    assert klass_of("graphql:fingerprints:project", CAPS) == "project_members"
    load = {
        "graphql:lists:group": Load(tasks=10, requests=10),
        "graphql:lists:project": Load(tasks=200, requests=200),
        "graphql:fingerprints:project": Load(tasks=200, requests=200),
    }
    plan = allocate(load, TARGETS, CAPS, 600)
    assert plan.stretch == 1.0
    assert plan.periods["graphql:fingerprints:project"] == 150  # half of 5 minutes
    assert plan.periods["graphql:lists:group"] == 150  # cheap: half the target, like a signal
    assert plan.worst["group_members"] == 150
    assert plan.worst["project_members"] == 150
    # A budget too small stretches fingerprints like every walk.
    tight = allocate(load, TARGETS, CAPS, 30)
    assert tight.stretch > 1
    assert tight.periods["graphql:fingerprints:project"] > 150


def test_a_list_a_batch_reads_runs_on_its_own_only_when_hinted() -> None:
    schedule = Schedule()
    schedule.add("members:project:1", math.inf)
    schedule.add("graphql:lists:project:0", 300)
    assert schedule.next(0.0, 100) == ["graphql:lists:project:0"]
    assert schedule.next(10_000.0, 100) == []  # the list: never due, never the stalest
    schedule.done("graphql:lists:project:0", 1.0)
    schedule.hint("members:project:1", 5.0)
    assert schedule.next(6.0, 100) == ["members:project:1"]
    schedule.done("members:project:1", 7.0)
    assert schedule.next(10_000.0, 100) == ["graphql:lists:project:0"]
    assert schedule.last("members:project:1") == 7.0


def _member(user: int, level: int, created: dt.datetime, role: str | None = None) -> Member:
    return Member(source_kind="group", source_id=1, user_id=user, username=f"u{user}",
                  name="U", state="active", access_level=level, expires_at=None,
                  created_at=created, member_role=role)  # fmt: skip


def test_graphql_rows_keep_what_graphql_cannot_tell_and_minimal_access_goes_to_rest() -> None:
    precise = dt.datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=dt.UTC)
    whole = precise.replace(microsecond=0)
    stored = {2: _member(2, 30, precise, "Auditor")}
    rows = exact_rows(stored, (_member(2, 40, whole), _member(3, 10, whole)))
    assert rows is not None
    assert rows[0].created_at == precise
    assert rows[0].member_role == "Auditor"
    assert rows[0].access_level == 40  # what GraphQL does tell wins
    assert rows[1].created_at == whole
    assert exact_rows(stored, (_member(4, 5, whole),)) is None
    assert exact_rows({4: _member(4, 5, whole)}, ()) is None
    assert exact_rows(stored, None) is None


def test_a_fingerprint_moves_when_it_changes_and_the_first_one_against_the_last_read() -> None:
    reads = BatchReads(None, (), {})  # type: ignore[arg-type]
    read_at = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    old = Fingerprint(None, "2026-01-01T11:00:00Z")
    assert reads._moved("project", 1, old, read_at) is False  # older than the last read
    assert reads._moved("project", 1, old, read_at) is False  # the same again
    assert reads._moved("project", 1, Fingerprint(None, "2026-01-01T13:00:00Z"), read_at) is True
    # The first since start, newer than the list's last read: changed while nobody looked.
    assert reads._moved("project", 2, Fingerprint(None, "2026-01-01T12:05:00Z"), read_at) is True
    # Within a minute before the read: the clocks may differ, so it is read again.
    assert reads._moved("project", 3, Fingerprint(None, "2026-01-01T11:59:30Z"), read_at) is True
    assert reads._moved("project", 4, Fingerprint(None, None), read_at) is False  # no members
    assert reads._moved("project", 5, None, read_at) is True  # not answered: REST decides
