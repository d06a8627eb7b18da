"""bench/freshness.py's accounting: arrivals matched to the truth, latencies, lost, spurious
(docs/freshness.md#the-benchmark)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest

from bridge.sync.planner import CLASSES
from bridge.testing.receiver import Delivery
from bridge.testing.workload import Klass

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))
freshness: Any = importlib.import_module("freshness")


def line(t: float, klass: str, *hooks: tuple[str, list[int]]) -> dict[str, Any]:
    return {
        "t": t,
        "class": klass,
        "mutation": {},
        "hooks": [["system", "System Hook", event, ids] for event, ids in hooks],
    }


def delivery(seq: int, at: float, key: str, body: dict[str, Any], status: int = 200) -> Delivery:
    return Delivery(
        seq=seq,
        method="POST",
        path="/system",
        headers=(("X-Gitlab-Event", "System Hook"), ("Idempotency-Key", key)),
        body=json.dumps(body).encode(),
        received_at=at,
        reply_status=status,
    )


ADD = {"event_name": "user_add_to_group", "group_id": 7, "user_id": 64}
CREATE = {"event_name": "user_create", "user_id": 99}


def test_latency_is_the_first_arrival_of_each_key_minus_the_change() -> None:
    truth = [
        line(100.0, "group_member", ("user_add_to_group", [7, 64])),
        line(110.0, "new_user", ("user_create", [99])),
    ]
    deliveries = [
        delivery(1, 103.0, "a", ADD),
        delivery(2, 104.0, "a", ADD),  # the same key again: at-least-once, not a new arrival
        delivery(3, 125.0, "b", CREATE, status=500),  # refused by the receiver: not delivered
        delivery(4, 130.0, "b", CREATE),
        delivery(5, 131.0, "c", {"event_name": "project_update", "project_id": 3}),
    ]
    result = freshness.analyse(truth, deliveries)
    assert result["classes"]["group_member"] == {
        "changes": 1, "expected": 1, "delivered": 1, "lost": 0, "superseded": 0,
        "p50_s": 3.0, "p95_s": 3.0, "max_s": 3.0,
    }  # fmt: skip
    assert result["classes"]["new_user"]["p50_s"] == 20.0
    assert (result["expected"], result["delivered"], result["lost"]) == (2, 2, 0)
    assert (result["spurious"], result["duplicates_same_key"]) == (1, 1)
    assert result["spurious_hooks"] == [["project_update", 3]]


def test_a_second_occurrence_needs_a_second_key() -> None:
    """Added, removed, added again: two user_add_to_group; one key arrived, so one is lost.
    The arrival stands for the latest add; the earlier add and the removal were superseded."""
    truth = [
        line(10.0, "group_member", ("user_add_to_group", [7, 64])),
        line(20.0, "group_member", ("user_remove_from_group", [7, 64])),
        line(30.0, "group_member", ("user_add_to_group", [7, 64])),
    ]
    deliveries = [delivery(1, 40.0, "a", ADD)]
    result = freshness.analyse(truth, deliveries)
    group = result["classes"]["group_member"]
    assert (group["expected"], group["delivered"], group["lost"]) == (3, 1, 2)
    assert (group["superseded"], result["superseded"]) == (2, 2)
    assert group["p50_s"] == 10.0
    assert sorted(result["lost_hooks"]) == [
        ["user_add_to_group", 7, 64],
        ["user_remove_from_group", 7, 64],
    ]
    assert freshness._all_arrived(truth, deliveries)  # nothing left that could still come
    assert not freshness._all_arrived(truth, [])  # the last add is not superseded
    assert freshness._all_arrived(truth[:1], deliveries)


def test_member_changes_are_also_counted_per_operation() -> None:
    """The issue's figures name operations: a group member's add, update and remove, and a
    project member's role change (``update``) apart from its adds and removals."""
    truth = [
        {**line(10.0, "group_member", ("user_add_to_group", [7, 64])),
         "mutation": {"op": "member_add"}},
        {**line(20.0, "group_member", ("user_update_for_group", [7, 65])),
         "mutation": {"op": "member_update"}},
        {**line(30.0, "new_user", ("user_create", [99])), "mutation": {"op": "user_create"}},
    ]  # fmt: skip
    update = {"event_name": "user_update_for_group", "group_id": 7, "user_id": 65}
    deliveries = [delivery(1, 14.0, "a", ADD), delivery(2, 50.0, "b", update)]
    result = freshness.analyse(truth, deliveries)
    assert set(result["operations"]) == {"group_member add", "group_member update"}
    assert result["operations"]["group_member update"]["p95_s"] == 30.0
    assert result["operations"]["group_member add"]["delivered"] == 1
    assert result["classes"]["group_member"]["changes"] == 2
    assert result["classes"]["new_user"]["lost"] == 1


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert freshness._percentile(values, 0.5) == 50.0
    assert freshness._percentile(values, 0.95) == 95.0
    assert freshness._percentile([], 0.5) is None


def test_the_table_names_every_class() -> None:
    truth = [line(1.0, "share", ("group_add_to_team", [3, 4]))]
    plan = {
        "idle_per_minute": 450.0,
        "classes": {"shares": {"target": 7200.0, "predicted_worst": 3600.04}},
    }
    result = {
        "label": "t", "dataset": "small", "version": "16.11", "latency_ms": 0.0,
        "settings": {"gitlab": {"budget": 600}, "freshness": {"shares": "2h"}}, "budget": 600,
        "requests": 1200, "window_minutes": 2.0, "requests_per_minute": 600.0,
        "active_requests_per_minute": 610.0, "max_requests_per_minute": 611.5,
        "within_budget": False, "quiet_requests_per_minute": 450.0, "quiet_minutes": 1.0,
        "plan": plan, "quiet_vs_plan": 1.0, "daemon_peak_rss_mb": 80.0,
        "seconds_to_baseline": 3.0, "baseline_requests": 56, "seconds_to_ready": 1.0,
        **freshness.analyse(truth, []),
    }  # fmt: skip
    result["classes"]["share"]["plan_worst_s"] = freshness.plan_worst(plan, "share")
    text = freshness.table(result)
    assert "| share | 1 | 1 | 0 | 1 (0) | - | - | - | 3600 s |" in text
    assert "1,200 requests in 2.0 min = 600 a minute" in text
    assert "at most 611.5 in a minute of a budget of 600 (OVER budget)" in text
    assert "the plan predicts 450 (measured/predicted 1)" in text
    assert "targets {'shares': '2h'}" in text


def test_the_report_sets_the_previous_version_and_the_naive_poller_beside() -> None:
    def run(p95: float, per_minute: float) -> dict[str, Any]:
        truth = [line(1.0, "new_user", ("user_create", [99]))]
        deliveries = [delivery(1, 1.0 + p95, "a", CREATE)]
        return {
            "label": "x", "dataset": "small", "version": "16.11", "latency_ms": 0.0,
            "settings": {"poll": {"users": "1m"}}, "budget": None, "requests": 10,
            "window_minutes": 1.0, "requests_per_minute": per_minute,
            "active_requests_per_minute": per_minute, "max_requests_per_minute": per_minute,
            "within_budget": None, "quiet_requests_per_minute": per_minute / 2,
            "quiet_minutes": 1.0, "daemon_peak_rss_mb": 1.0, "seconds_to_baseline": 1.0,
            "baseline_requests": 5, "seconds_to_ready": 1.0, **freshness.analyse(truth, deliveries),
        }  # fmt: skip

    new, previous = run(30.0, 600.0), run(120.0, 4800.0)
    comparison = freshness.compare(new, previous)
    assert comparison["requests_per_minute_ratio"] == 0.125
    assert comparison["quiet_requests_per_minute_ratio"] == 0.125
    assert comparison["classes"]["new_user"] == {
        "p95_s": 30.0, "previous_p95_s": 120.0, "p95_ratio": 0.25,
    }  # fmt: skip
    # A full pass of 24,000 requests every 30 s: 48,000 a minute, 80 times the bridge's 600.
    naive = freshness.naive_figures(
        {"requests_per_pass": 24_000, "seconds_per_pass": 40.0, "workers": 10}, new
    )
    assert naive["classes"]["new_user"] == {
        "p95_s": 30.0, "naive_requests_per_minute": 48_000.0, "bridge_vs_naive": 0.0125,
    }  # fmt: skip
    text = freshness.report(new | {"previous": previous, "comparison": comparison,
                                   "naive": naive})  # fmt: skip
    assert "| new_user | 30 s | 120 s | 0.25 |" in text
    assert "requests a minute: 600 / 4,800 = 0.125" in text
    assert "| new_user | 30 s | 48,000 | 0.0125 |" in text


def test_the_rate_is_the_largest_increase_over_a_minute_of_sample_time() -> None:
    # Samples every 5 s, but drifting to 5.1 s: 12 apart is 61.2 s, not 60.
    times = [i * 5.1 for i in range(30)]
    counts = [0] * 30
    for i in range(1, 30):  # 10 a second, and a burst of 300 between samples 20 and 21
        counts[i] = counts[i - 1] + 51 + (300 if i == 21 else 0)
    samples = list(zip(times, counts, strict=True))
    rate = freshness.max_rate(samples)
    # The largest window holds the burst: 12 intervals of 51 plus 300, over 61.2 s.
    assert rate == round((12 * 51 + 300) * 60 / 61.2, 1)
    assert freshness.max_rate(samples[:10]) == 600.0  # shorter than a minute: its average
    assert freshness.max_rate(samples[:1]) is None
    assert freshness.max_rate([]) is None


def test_a_missing_sample_widens_the_span_rather_than_shortening_it() -> None:
    samples = [(0.0, 0), (5.0, 50), (10.0, 100), (62.0, 620), (70.0, 700)]
    # From 0: the first sample at least 59.5 s later is at 62 s (620 in 62 s = 600 a minute);
    # from 5: 62 s is only 57 s later, so 70 s (650 in 65 s).
    assert freshness.max_rate(samples) == 600.0


def test_every_workload_class_maps_onto_a_plan_class() -> None:
    assert set(freshness.PLAN_CLASS) == set(get_args(Klass))
    assert set(freshness.PLAN_CLASS.values()) <= set(CLASSES) - {"reconcile"}
    plan = {"classes": {k: {"target": 60.0, "predicted_worst": 10.0 + i}
                        for i, k in enumerate(CLASSES)}}  # fmt: skip
    assert freshness.plan_worst(plan, "new_user") == 10.0
    assert freshness.plan_worst(plan, "new_user_access") == 11.0
    assert freshness.plan_worst(plan, "project_member") == 13.0
    assert freshness.plan_worst(plan, "rename_transfer") == 14.0
    assert freshness.plan_worst(plan, "share") == 15.0
    assert freshness.plan_worst(None, "share") is None
    assert freshness.plan_worst(plan, "unknown") is None


def test_the_drain_waits_for_the_slowest_class_or_about_one_reconcile() -> None:
    plan = {
        "budget_per_minute": 600.0, "full_reconcile_requests": 24_000.0,
        "classes": {"new_users": {"predicted_worst": 31.0},
                    "shares": {"predicted_worst": 7220.0},
                    "reconcile": {"predicted_worst": 10_820.0}},
    }  # fmt: skip
    # 24,000 requests at 600 a minute: 40 minutes, and a quarter more for the signals.
    assert freshness.plan_drain(plan, {}) == 50 * 60 + 300
    for c in plan["classes"].values():
        c["predicted_worst"] = min(c["predicted_worst"], 301.0)
    assert freshness.plan_drain(plan, {}) == 301 + 300
    assert freshness.plan_drain(None, {"freshness": {"reconcile": "1h"}}) == 3600 + 300
    assert freshness.plan_drain(None, {}) == 3 * 3600 + 300


def test_extra_config_merges_section_by_section() -> None:
    base = {"poll": {"users": "5m"}, "server": {"listen": "127.0.0.1:0"}}
    extra = {"poll": {"members": "1m"}, "delivery": {"concurrency": 2}, "server": "x"}
    assert freshness.merged(base, extra) == {
        "poll": {"users": "5m", "members": "1m"},
        "server": "x",
        "delivery": {"concurrency": 2},
    }


def test_each_daemon_gets_the_configuration_of_its_time() -> None:
    extra = {
        "gitlab": {"budget": 300, "concurrency": 2},
        "freshness": {"shares": "1h"},
        "poll": {"members": "10m"},
        "delivery": {"concurrency": 2},
    }
    targets = freshness.parse_targets(["new_users=30s", "reconcile=2h"])
    assert freshness.current_settings(extra, None, targets) == {
        "gitlab": {"budget": 300, "concurrency": 2},
        "freshness": {"shares": "1h", "new_users": "30s", "reconcile": "2h"},
        "payloads": {"share_events": True},
        "server": {"listen": "127.0.0.1:0"},
        "delivery": {"concurrency": 2},
    }
    assert freshness.current_settings({}, 1200, {})["gitlab"] == {"budget": 1200}
    assert freshness.current_settings({}, None, {})["gitlab"] == {"budget": 600}
    assert freshness.previous_settings(extra, ["users=2m"]) == {
        "poll": {"users": "2m", "groups": "3m", "projects": "3m", "members": "10m"},
        "gitlab": {"concurrency": 2},
        "payloads": {"share_events": True},
        "server": {"listen": "127.0.0.1:0"},
        "delivery": {"concurrency": 2},
    }
    with pytest.raises(ValueError, match="new_users"):
        freshness.parse_targets(["new_user=1m"])
    with pytest.raises(ValueError, match="duration"):
        freshness.parse_targets(["shares=soon"])


def test_the_benchmark_end_to_end_on_small(tmp_path: Path) -> None:
    """The real thing, briefly: a sync baseline, then simulator, daemon and workload as
    processes, a budget no small instance can spend and targets of seconds; then one naive
    crawl. Every expected hook arrives, none other does, and GitLab's requests are counted."""
    out = tmp_path / "result.json"
    rates = ["new_user=0", "group_member=900", "project_member=900", "project_create=300",
             "rename_transfer=300", "destroy=120", "group_create=120", "share=300"]  # fmt: skip
    targets = ["new_users=2s", "new_user_memberships=2s", "group_members=3s",
               "project_members=3s", "groups_and_projects=3s", "shares=5s",
               "reconcile=10s"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCH / "freshness.py"), "--dataset", "small", "--latency-ms", "0",
         "--minutes", "0.25", "--quiet-minutes", "0.1", "--drain", "60", "--seed", "4",
         "--budget", "60000", "--naive", "--json", str(out),
         *(f"--target={t}" for t in targets), *(f"--rate={r}" for r in rates)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["expected"] > 0
    # Every hook arrived, but one whose subject changed again before any read could see it.
    assert result["lost"] == result["superseded"], result["lost_hooks"]
    assert result["delivered"] + result["lost"] == result["expected"]
    assert (result["spurious"], result["duplicates_other_key"]) == (0, 0)
    assert result["baseline_requests"] > 0
    assert result["requests"] > 0
    assert result["budget"] == 60000
    assert result["within_budget"] is True
    assert 0 < result["max_requests_per_minute"] <= 60000
    assert result["quiet_requests_per_minute"] > 0
    assert result["plan"]["budget_per_minute"] == 60000
    assert result["plan"]["classes"]["new_users"]["target"] == 2.0
    assert result["quiet_vs_plan"] > 0
    assert any(c["plan_worst_s"] is not None for c in result["classes"].values())
    assert result["naive"]["requests_per_pass"] > 0
    assert result["daemon_peak_rss_mb"] > 0
    assert "| Class | changes |" in done.stdout
    assert "naive poller:" in done.stdout
