"""The daemon's pieces: sd_notify, the instance lock, logging options, metrics, the endpoints."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path

import pytest

from bridge.cli.main import _split_log_options, main
from bridge.delivery.deliverer import DeliveryReport, ReceiverReport
from bridge.errors import AlreadyRunning, ConfigError
from bridge.model.ledger import ResourceState
from bridge.project_groups.http import _operator
from bridge.service.locks import InstanceLock, holder, sqlite_path
from bridge.service.logs import JsonFormatter
from bridge.service.metrics import Metrics
from bridge.service.sdnotify import Notifier
from bridge.service.status import Status, build
from bridge.sync.reconciler import ClassFreshness, Freshness, TickReport

NOW = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)


def test_notifier_sends_datagrams_to_a_path_socket(tmp_path: Path) -> None:
    """READY=1 with STATUS=, then WATCHDOG=1, reach the socket named by NOTIFY_SOCKET."""
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": address})
        notifier.ready("up\nand running")
        notifier.watchdog()
        assert listener.recv(100) == b"READY=1\nSTATUS=up and running"
        assert listener.recv(100) == b"WATCHDOG=1"


def test_notifier_speaks_the_abstract_namespace() -> None:
    """``@name`` is Linux's abstract socket namespace."""
    name = f"gitlab-bridge-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        Notifier({"NOTIFY_SOCKET": "@" + name}).status("fine")
        assert listener.recv(100) == b"STATUS=fine"


def test_notifier_is_silent_without_systemd_and_reads_the_watchdog() -> None:
    """No NOTIFY_SOCKET: nothing is sent; WATCHDOG_USEC counts only for this pid."""
    quiet = Notifier({})
    assert not quiet.enabled
    quiet.ready("ignored")  # no error without a socket
    assert Notifier({"WATCHDOG_USEC": "4000000"}).watchdog_seconds == 4.0
    assert Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    mine = {"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_seconds == 0.5


def test_instance_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    """flock is per open file: a second lock on the same state fails while the first is held."""
    database = tmp_path / "state" / "bridge.db"
    first = InstanceLock(database).acquire()
    try:
        assert holder(database) == os.getpid()
        with pytest.raises(AlreadyRunning, match=rf"\(pid {os.getpid()}\) already runs"):
            InstanceLock(database).acquire()
    finally:
        first.release()
    assert holder(database) is None
    InstanceLock(database).acquire().release()  # free again


def test_instance_lock_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    """A state folder under a regular file: one line naming state.url, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^state\.url: cannot create .*file/bridge\.db\.lock"):
        InstanceLock(blocker / "bridge.db").acquire()


def test_sqlite_path_reads_only_file_urls() -> None:
    """PostgreSQL and in-memory SQLite need no lock file."""
    assert sqlite_path("sqlite:///state/bridge.db") == Path("state/bridge.db")
    assert sqlite_path("sqlite:////var/lib/b.db?timeout=5") == Path("/var/lib/b.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://bridge@db/bridge") is None


def test_log_options_may_follow_the_command() -> None:
    """--log-format/--log-level move to the front wherever they are; -- ends the scan."""
    front, rest = _split_log_options(
        ["status", "--log-level", "debug", "--config", "c.yaml", "--log-format=json"]
    )
    assert (front, rest) == (["--log-level", "debug", "--log-format=json"],
                             ["status", "--config", "c.yaml"])  # fmt: skip
    assert _split_log_options(["x", "--", "--log-level"]) == ([], ["x", "--", "--log-level"])


def test_json_log_lines_carry_time_level_logger_and_message() -> None:
    """One JSON object per record."""
    record = logging.LogRecord(
        "bridge.service.daemon", logging.WARNING, __file__, 1, "a %s", ("b",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == (
        "warning",
        "bridge.service.daemon",
        "a b",
    )
    assert line["time"].endswith("+00:00")


def test_bad_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse names the option and the choices; exit 64 (EX_USAGE), as the README says."""
    assert main(["--log-level", "loud", "status"]) == 64
    assert "argument --log-level: invalid choice: 'loud'" in capsys.readouterr().err


def empty_status() -> Status:
    """A status with one receiver and one polled resource."""
    return build(
        now=NOW,
        states=[ResourceState(name="users", last_complete_at=NOW - dt.timedelta(seconds=30))],
        counts={"audit": {"pending": 4, "dead": 1}},
        circuits=[],
        configured=["audit"],
        oldest_waiting=NOW - dt.timedelta(seconds=90),
    )


def test_metrics_render_counters_and_store_gauges() -> None:
    """Counters from the ticks, gauges from the status and the planner, Prometheus format."""
    freshness = Freshness(
        classes=(
            ClassFreshness(klass="new_users", target=60.0, predicted=30.0, staleness=12.0),
            ClassFreshness(klass="shares", target=7200.0, predicted=7200.0, staleness=None),
        ),
        budget=600,
        effective=480.0,
        used_last_minute=321,
    )
    metrics = Metrics(empty_status, lambda: freshness)
    report = TickReport(reads=5, requests=7, changes=2, events_queued=4,
                        by_class={"group_members": 6, "new_users": 1})  # fmt: skip
    metrics.tick(report)
    metrics.delivery(
        DeliveryReport(receivers={"audit": ReceiverReport(delivered=2, retrying=1)}, waiting={})
    )
    text = metrics.render().decode()
    for line in (
        "gitlab_bridge_reconcile_reads_total 5.0",
        'gitlab_bridge_gitlab_requests_total{class="group_members"} 6.0',
        'gitlab_bridge_gitlab_requests_total{class="new_users"} 1.0',
        'gitlab_bridge_changes_total{resource="reconcile"} 2.0',
        'gitlab_bridge_events_queued_total{resource="reconcile"} 4.0',
        'gitlab_bridge_deliveries_total{outcome="delivered",receiver="audit"} 2.0',
        'gitlab_bridge_deliveries_total{outcome="retry",receiver="audit"} 1.0',
        'gitlab_bridge_queue_depth{receiver="audit"} 4.0',
        'gitlab_bridge_dead_letters{receiver="audit"} 1.0',
        'gitlab_bridge_circuit_open{receiver="audit"} 0.0',
        "gitlab_bridge_oldest_pending_age_seconds 90.0",
        'gitlab_bridge_staleness_seconds{resource="users"} 30.0',
        'gitlab_bridge_freshness_target_seconds{class="new_users"} 60.0',
        'gitlab_bridge_freshness_predicted_seconds{class="new_users"} 30.0',
        'gitlab_bridge_freshness_staleness_seconds{class="new_users"} 12.0',
        'gitlab_bridge_budget_requests_per_minute{kind="configured"} 600.0',
        'gitlab_bridge_budget_requests_per_minute{kind="effective"} 480.0',
        'gitlab_bridge_budget_requests_per_minute{kind="used"} 321.0',
    ):
        assert line in text.splitlines(), line
    assert 'gitlab_bridge_staleness_seconds{resource="groups"}' not in text  # never polled
    assert 'gitlab_bridge_freshness_staleness_seconds{class="shares"}' not in text  # never read


def test_a_follower_exports_no_freshness_gauges() -> None:
    """Without a plan (a follower, or before the first tick) the planner's gauges are absent."""
    text = Metrics(empty_status).render().decode()
    assert "gitlab_bridge_freshness_target_seconds" not in text
    assert "gitlab_bridge_budget_requests_per_minute" not in text


def test_operator_endpoints_need_the_token_or_loopback() -> None:
    """Without server.token only loopback clients; with it, the Bearer token exactly."""
    assert _operator(None, "127.0.0.1", "")
    assert _operator(None, "::1", "")
    assert _operator(None, "::ffff:127.0.0.1", "")
    assert not _operator(None, "10.0.0.5", "")
    assert _operator("s3cret", "10.0.0.5", "Bearer s3cret")
    assert not _operator("s3cret", "127.0.0.1", "")
    assert not _operator("s3cret", "10.0.0.5", "Bearer wrong")
    assert not _operator("s3cret", "10.0.0.5", "Basic s3cret")
