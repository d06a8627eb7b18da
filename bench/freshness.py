"""Change-to-hook time per event class: the daemon against a workload on a simulated GitLab.

    python bench/freshness.py [--dataset medium] [--version 16.11] [--latency-ms 20]
        [--minutes 20] [--poll users=5m --poll members=30m ...] [--rate-limit 7200/3600]
        [--rate new_user=30 ...] [--drain SECONDS] [--config EXTRA.yaml] [--label NAME]
        [--json FILE]

A simulated GitLab (``gitlab-bridge sim serve``), the daemon (``gitlab-bridge run``, SQLite) and
the workload (``gitlab-bridge sim workload``) run as separate processes; a recording receiver
runs here. Once the daemon is ready (its silent baseline done), the simulator's request
counters are zeroed and the workload runs for ``--minutes``: each change it makes is logged
with the hooks GitLab would send for it (the ground truth). Then the run waits until every
expected hook has arrived, or ``--drain`` seconds (default: the longest poll interval plus five
minutes). ``--config`` names a YAML file merged over the daemon's generated configuration
(for example ``delivery:`` or ``gitlab: {concurrency: 4}``); the GitLab URL and token, the
state and the receiver stay the benchmark's. For each class: expected, delivered, lost and
spurious hooks, and p50/p95/max of receipt minus change time; overall: requests per minute at
GitLab (the simulator's counters, from ready to the end), and the daemon's peak RSS. Prints a
table, writes JSON (docs/freshness.md).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests
import yaml
from _support import BRIDGE, arguments, simulator
from daemon import memory_mb, running

from bridge.config.settings import parse_duration
from bridge.testing.oracle import Expected, Hook, Received, identify, tally
from bridge.testing.receiver import Delivery, Receiver
from bridge.testing.workload import Rates
from bridge.testing.workload_driver import read_log

RECEIVER = "system"
DEFAULT_POLL = {"users": "5m", "groups": "15m", "projects": "15m", "members": "30m"}


def _parser() -> argparse.ArgumentParser:
    parser = arguments(__doc__ or "", dataset="medium")
    parser.add_argument("--version", default="16.11")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--poll", action="append", default=[], metavar="RESOURCE=DURATION")
    parser.add_argument("--rate-limit", help="the simulator's throttle, e.g. 7200/3600")
    parser.add_argument("--rate", action="append", default=[], metavar="CLASS=N")
    parser.add_argument("--drain", type=float, help="seconds to wait for late hooks")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="run")
    parser.add_argument("--config", help="YAML merged over the daemon's configuration")
    parser.add_argument("--json", help="write the result here as well")
    parser.add_argument("--raw", help="write the truth and every delivery here (JSON)")
    return parser


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, section by section (a mapping merges, anything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def main() -> int:
    """Run one configuration and report it."""
    args = _parser().parse_args()
    extra = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    poll = DEFAULT_POLL | extra.pop("poll", {}) | dict(spec.split("=", 1) for spec in args.poll)
    rates = Rates.parse(args.rate)
    drain = args.drain or max(parse_duration(v) for v in poll.values()) + 300
    options = ["--version", args.version, "--latency-ms", str(args.latency_ms)]
    if args.rate_limit:
        options += ["--rate-limit", args.rate_limit]
    with (
        simulator(args.dataset, *options) as sim,
        tempfile.TemporaryDirectory() as tmp,
        Receiver() as receiver,
    ):
        truth = Path(tmp) / "truth.jsonl"
        config = Path(tmp) / "bridge.yaml"
        settings: dict[str, Any] = {
            "poll": poll,
            "payloads": {"share_events": True},
            "server": {"listen": "127.0.0.1:0"},
        }
        settings = merged(settings, extra)
        settings = merged(settings, {
            "gitlab": {"url": sim.url, "token": sim.token},
            "state": {"url": f"sqlite:///{Path(tmp) / 'bridge.db'}"},
            "hooks": {"system": [{"name": RECEIVER, "url": receiver.url_for("/system")}]},
        })  # fmt: skip
        config.write_text(json.dumps(settings))
        with running(config) as (daemon, ready):
            requests.delete(f"{sim.url}/-/sim/counters", timeout=10).raise_for_status()
            window = time.monotonic()
            workload = [*BRIDGE, "sim", "workload", "--url", sim.url, "--minutes",
                        str(args.minutes), "--truth", str(truth), "--receiver", RECEIVER,
                        "--share-events", "--seed", str(args.seed)]  # fmt: skip
            workload += [f"--rate={spec}" for spec in args.rate]
            done = subprocess.run(workload, capture_output=True, text=True, check=True)
            print(done.stdout.strip(), file=sys.stderr, flush=True)
            lines = read_log(truth)
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline and not _all_arrived(lines, receiver.deliveries()):
                time.sleep(5)
            drained = time.monotonic()
            counters = requests.get(f"{sim.url}/-/sim/counters", timeout=10).json()
            peak_rss = memory_mb(daemon.pid)[1]
    minutes = (drained - window) / 60
    result = {
        "label": args.label,
        "dataset": args.dataset,
        "version": args.version,
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "workload_minutes": args.minutes,
        "poll": poll,
        "config": extra,
        "rates_per_hour": dict(rates.items()),
        "seconds_to_ready": round(ready, 1),
        "window_minutes": round(minutes, 1),
        "requests": counters["total"],
        "requests_per_minute": round(counters["total"] / minutes, 1),
        "daemon_peak_rss_mb": peak_rss,
        **analyse(lines, receiver.deliveries()),
    }
    print(table(result))
    if args.raw:
        Path(args.raw).write_text(json.dumps({"truth": lines, "deliveries": [
            {"received_at": d.received_at, "status": d.reply_status, "path": d.path,
             "headers": d.headers, "body": d.body.decode("utf-8", "replace")}
            for d in receiver.deliveries()
        ]}))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _expected(lines: list[dict[str, Any]]) -> list[tuple[Hook, str, float, int]]:
    """(hook, class, change time, order) of every hook the truth expects."""
    out = []
    for order, line in enumerate(lines):
        for receiver, kind, event, ids in line["hooks"]:
            hook = Hook(receiver=receiver, kind=kind, event=event, ids=tuple(ids))
            out.append((hook, line["class"], line["t"], order))
    return out


def _received(deliveries: list[Delivery]) -> list[tuple[Received, float]]:
    """Accepted deliveries as the oracle reads them, with their arrival times."""
    out = []
    for seq, d in enumerate(deliveries):
        if d.reply_status is None or not 200 <= d.reply_status < 300:
            continue
        try:
            body = d.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        hook = identify(d.path.strip("/"), d.header("X-Gitlab-Event") or "", body)
        key = d.header("Idempotency-Key") or f"seq-{seq}"
        out.append((Received(hook=hook, key=key, seq=seq), d.received_at))
    return out


def _matches(
    lines: list[dict[str, Any]], deliveries: list[Delivery]
) -> list[tuple[str, float | None, bool]]:
    """(class, latency or None when lost, superseded) per expected hook.

    The distinct keys that arrived for one identity (event and ids) are matched, in order, with
    its expected occurrences; when fewer arrived than expected, with the *latest* ones: a poller
    reports the state it reads, so what it missed is the earlier occurrences. Superseded: a
    later change touched the same subject, so no poller could have seen it
    (docs/freshness.md#the-benchmark)."""
    firsts: dict[Hook, list[float]] = defaultdict(list)
    seen: set[str] = set()
    for r, at in _received(deliveries):
        if r.key not in seen:
            seen.add(r.key)
            firsts[r.hook].append(at)
    expected = _expected(lines)
    last_change = {hook.subject: order for hook, _k, _t, order in expected}
    occurrences: dict[Hook, list[int]] = defaultdict(list)
    for index, (hook, _k, _t, _o) in enumerate(expected):
        occurrences[hook].append(index)
    latency: dict[int, float] = {}
    for hook, indexes in occurrences.items():
        arrivals = firsts.get(hook, [])
        missed = max(0, len(indexes) - len(arrivals))
        for index, at in zip(indexes[missed:], arrivals, strict=False):
            latency[index] = at - expected[index][2]
    return [
        (klass, latency.get(index), last_change[hook.subject] > order)
        for index, (hook, klass, _t, order) in enumerate(expected)
    ]


def _all_arrived(lines: list[dict[str, Any]], deliveries: list[Delivery]) -> bool:
    return all(latency is not None or later for _, latency, later in _matches(lines, deliveries))


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def analyse(lines: list[dict[str, Any]], deliveries: list[Delivery]) -> dict[str, Any]:
    """Per-class and overall counts and latencies."""
    by_class: dict[str, list[tuple[float | None, bool]]] = defaultdict(list)
    for klass, latency, later in _matches(lines, deliveries):
        by_class[klass].append((latency, later))
    classes = {}
    superseded = 0
    for klass, matched in by_class.items():
        arrived = [x for x, _ in matched if x is not None]
        hidden = sum(1 for x, later in matched if x is None and later)
        superseded += hidden
        classes[klass] = {
            "changes": sum(1 for line in lines if line["class"] == klass),
            "expected": len(matched),
            "delivered": len(arrived),
            "lost": len(matched) - len(arrived),
            "superseded": hidden,
            "p50_s": _percentile(arrived, 0.5),
            "p95_s": _percentile(arrived, 0.95),
            "max_s": round(max(arrived), 1) if arrived else None,
        }
    expected = [Expected(hook=h, order=o) for h, _k, _t, o in _expected(lines)]
    overall = tally(expected, [r for r, _ in _received(deliveries)])
    return {
        "classes": classes,
        "expected": overall.expected,
        "delivered": overall.delivered,
        "lost": overall.lost,
        "superseded": superseded,
        "spurious": overall.spurious,
        "duplicates_same_key": overall.dup_same_key,
        "duplicates_other_key": overall.dup_other_key,
        "spurious_hooks": [[h.event, *h.ids] for h in overall.spurious_hooks],
        "lost_hooks": [[h.event, *h.ids] for h in overall.lost_hooks],
    }


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    rows = [
        f"{result['label']}: {result['dataset']} {result['version']}, "
        f"{result['latency_ms']:g} ms latency, poll {result['poll']}",
        "",
        "| Class | changes | expected | delivered | lost (superseded) | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:g} s"

    for klass, c in sorted(result["classes"].items()):
        rows.append(
            f"| {klass} | {c['changes']} | {c['expected']} | {c['delivered']} | "
            f"{c['lost']} ({c['superseded']}) | "
            f"{sec(c['p50_s'])} | {sec(c['p95_s'])} | {sec(c['max_s'])} |"
        )
    rows += [
        "",
        f"spurious {result['spurious']}, duplicates (other key) "
        f"{result['duplicates_other_key']}; {result['requests']:,} requests in "
        f"{result['window_minutes']} min = {result['requests_per_minute']:,} a minute; "
        f"daemon peak RSS {result['daemon_peak_rss_mb']} MB; ready after "
        f"{result['seconds_to_ready']} s",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
