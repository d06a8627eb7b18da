"""bench/freshness.py's accounting: arrivals matched to the truth, latencies, lost, spurious
(docs/freshness.md#the-benchmark)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridge.testing.receiver import Delivery

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


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert freshness._percentile(values, 0.5) == 50.0
    assert freshness._percentile(values, 0.95) == 95.0
    assert freshness._percentile([], 0.5) is None


def test_the_table_names_every_class() -> None:
    truth = [line(1.0, "share", ("group_add_to_team", [3, 4]))]
    result = {
        "label": "t", "dataset": "small", "version": "16.11", "latency_ms": 0.0,
        "poll": {"members": "30m"}, "requests": 1200, "window_minutes": 2.0,
        "requests_per_minute": 600.0, "daemon_peak_rss_mb": 80.0, "seconds_to_ready": 1.0,
        **freshness.analyse(truth, []),
    }  # fmt: skip
    text = freshness.table(result)
    assert "| share | 1 | 1 | 0 | 1 (0) | - | - | - |" in text
    assert "1,200 requests in 2.0 min = 600.0 a minute" in text


def test_extra_config_merges_section_by_section() -> None:
    base = {"poll": {"users": "5m"}, "server": {"listen": "127.0.0.1:0"}}
    extra = {"poll": {"members": "1m"}, "delivery": {"concurrency": 2}, "server": "x"}
    assert freshness.merged(base, extra) == {
        "poll": {"users": "5m", "members": "1m"},
        "server": "x",
        "delivery": {"concurrency": 2},
    }


def test_the_benchmark_end_to_end_on_small(tmp_path: Path) -> None:
    """The real thing, briefly: simulator, daemon and workload as processes, two-second polls.
    Every expected hook arrives, none other does, and GitLab's requests are counted."""
    out = tmp_path / "result.json"
    rates = ["new_user=0", "group_member=900", "project_member=900", "project_create=300",
             "rename_transfer=300", "destroy=120", "group_create=120", "share=300"]  # fmt: skip
    polls = [f"--poll={r}=2s" for r in ("users", "groups", "projects", "members")]
    done = subprocess.run(
        [sys.executable, str(BENCH / "freshness.py"), "--dataset", "small", "--latency-ms", "0",
         "--minutes", "0.25", "--drain", "60", "--seed", "4", "--json", str(out), *polls,
         *(f"--rate={r}" for r in rates)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["expected"] > 0
    # Every hook arrived, but one whose subject changed again before any poll could see it.
    assert result["lost"] == result["superseded"], result["lost_hooks"]
    assert result["delivered"] + result["lost"] == result["expected"]
    assert (result["spurious"], result["duplicates_other_key"]) == (0, 0)
    assert result["requests"] > 0
    assert result["daemon_peak_rss_mb"] > 0
    assert "| Class | changes |" in done.stdout
