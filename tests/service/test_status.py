"""The pure status model behind ``gitlab-bridge status``, ``/metrics`` and systemd's STATUS=."""

from __future__ import annotations

import datetime as dt

from bridge.model.ledger import ReceiverState, ResourceState
from bridge.service import status

NOW = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> dt.datetime:
    """``seconds`` before NOW."""
    return NOW - dt.timedelta(seconds=seconds)


def sample() -> status.Status:
    """Users fresh, groups failing, projects never polled, two member lists of different age."""
    return status.build(
        now=NOW,
        states=[
            ResourceState(name="users", last_complete_at=ago(42), last_requests=3),
            ResourceState(
                name="groups",
                last_complete_at=ago(900),
                last_attempt_at=ago(60),
                last_error="HTTP 503",
                last_requests=20,
            ),
            ResourceState(name="members:group:1", last_complete_at=ago(100), last_requests=2),
            ResourceState(
                name="members:project:9",
                last_complete_at=ago(4000),
                last_attempt_at=ago(30),
                last_error="HTTP 500",
                last_requests=1,
            ),
        ],
        counts={
            "audit": {"pending": 2, "retrying": 1, "delivered": 10, "dead": 1},
            "old": {"dead": 4},
        },
        circuits=[
            ReceiverState(
                name="audit",
                circuit="open",
                consecutive_failures=6,
                probe_at=NOW + dt.timedelta(seconds=60),
            )
        ],
        configured=["audit", "team"],
        oldest_waiting=ago(75),
        daemon_pid=1234,
    )


def test_resources_report_staleness_requests_and_current_errors() -> None:
    """Each resource's age and cost; members is as old as its oldest list and sums requests."""
    users, groups, projects, members = sample().resources
    assert (users.name, users.staleness, users.requests, users.errors) == ("users", 42, 3, ())
    assert groups.errors == ("groups: HTTP 503",)  # the failure is newer than the last success
    assert (projects.last_complete_at, projects.staleness) == (None, None)
    assert (members.staleness, members.requests, members.lists) == (4000, 3, 2)
    assert members.errors == ("members:project:9: HTTP 500",)


def test_an_error_older_than_the_last_success_is_not_reported() -> None:
    """A list that failed once and then completed is healthy again."""
    healthy = status.build(
        now=NOW,
        states=[
            ResourceState(
                name="users", last_complete_at=ago(5), last_attempt_at=ago(5), last_error="old"
            )
        ],
        counts={},
        circuits=[],
        configured=[],
        oldest_waiting=None,
    )
    assert healthy.resources[0].errors == ()


def test_receivers_show_queue_dead_letters_circuit_and_unconfigured_names() -> None:
    """pending + failed is the queue; receivers only in the outbox are marked unconfigured."""
    current = sample()
    by_name = {r.name: r for r in current.receivers}
    assert set(by_name) == {"audit", "old", "team"}
    audit = by_name["audit"]
    assert (audit.pending, audit.delivered, audit.dead, audit.circuit) == (3, 10, 1, "open")
    assert not by_name["old"].configured
    assert (by_name["team"].pending, by_name["team"].circuit) == (0, "closed")
    assert (current.queue_depth, current.dead_letters, current.oldest_waiting_age) == (3, 5, 75)


def test_summary_is_one_line_for_systemd() -> None:
    """STATUS= gets staleness per resource, queue depth and dead letters."""
    assert status.summary(sample()) == (
        "polled users 42s ago, groups 15m ago, projects never, members 1h ago; queue 3; dead 5"
    )


def test_json_has_iso_times_and_numbers() -> None:
    """The --json shape: Z-suffixed times, seconds as numbers, members with its list count."""
    data = status.to_json(sample())
    assert data["now"] == "2026-11-29T12:00:00Z"
    resources = data["resources"]
    assert isinstance(resources, list)
    assert resources[0] == {
        "name": "users",
        "last_complete_at": "2026-11-29T11:59:18Z",
        "staleness_seconds": 42.0,
        "requests": 3,
        "errors": [],
    }
    assert resources[3]["lists"] == 2
    assert (data["queue_depth"], data["dead_letters"], data["daemon_pid"]) == (3, 5, 1234)


def test_each_class_reports_its_stalest_source_against_its_target() -> None:
    """Per class: the oldest last read among its sources; LATE past the target; a source
    never completed makes the class "never"."""
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

    def read(name: str, seconds_ago: float | None) -> ResourceState:
        last = None if seconds_ago is None else now - dt.timedelta(seconds=seconds_ago)
        return ResourceState(name=name, last_complete_at=last)

    states = [
        read("members:group:1", 100),
        read("members:group:2", 400),  # past the 300 s target
        read("members:project:7", 3600),
        read("users", 60),
        read("shares:group:1", None),  # never completed
        read("signal:new_users", 20),
    ]
    targets = {"new_users": 60.0, "group_members": 300.0, "shares": 7200.0, "reconcile": 10800.0,
               "project_members": 300.0}  # fmt: skip
    result = status.build(now=now, states=states, counts={}, circuits=[], configured=[],
                          oldest_waiting=None, targets=targets, budget=600)  # fmt: skip
    by_name = {c.name: c for c in result.classes}
    assert (by_name["group_members"].staleness, by_name["group_members"].late) == (400.0, True)
    assert by_name["group_members"].sources == 2
    assert (by_name["reconcile"].staleness, by_name["reconcile"].late) == (3600.0, False)
    assert by_name["new_users"].staleness == 20.0
    assert by_name["shares"].staleness is None
    assert by_name["project_members"].sources == 0  # no signal read recorded yet
    data = status.to_json(result)
    assert data["budget_per_minute"] == 600
    assert {"class": "group_members", "target_seconds": 300.0, "staleness_seconds": 400.0,
            "sources": 2, "late": True} in data["freshness"]  # fmt: skip
