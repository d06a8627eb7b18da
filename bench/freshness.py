"""Change-to-hook time per event class, and the requests it costs: the daemon against a workload
on a simulated GitLab, beside the previous version and a naive poller if asked.

    python bench/freshness.py [--dataset medium] [--version 16.11] [--latency-ms 20]
        [--minutes 20] [--quiet-minutes 3] [--budget 600] [--target CLASS=DURATION ...]
        [--rate-limit 7200/3600] [--rate CLASS=N ...] [--seed 1] [--drain SECONDS]
        [--config EXTRA.yaml] [--compare-with REF [--previous-poll RESOURCE=DURATION ...]]
        [--naive] [--label NAME] [--json FILE] [--raw FILE]

A simulated GitLab (``gitlab-bridge sim serve``), the daemon (``gitlab-bridge run``, SQLite) and
the workload (``gitlab-bridge sim workload``) run as separate processes; a recording receiver
runs here. The daemon spends ``--budget`` requests a minute (``gitlab.budget``) to hold its
``freshness:`` targets (``--target new_users=1m``, repeatable; the others keep their defaults).

1. Baseline: ``gitlab-bridge sync`` with the daemon's configuration but ``gitlab.budget:
   1000000`` reads the instance once (``seconds_to_baseline``, ``baseline_requests``), so the
   daemon starts on a snapshot; then the daemon starts and is waited for (``/-/ready``).
2. ``gitlab-bridge plan --json`` is asked what the daemon should spend and how late each class
   can be (``plan``); the simulator's counters are zeroed, and from now to the end a thread
   samples them every 5 s.
3. Quiet: ``--quiet-minutes`` with nothing changing (``quiet_requests_per_minute``, and
   ``quiet_vs_plan``, measured over the plan's ``idle_per_minute``).
4. The workload runs for ``--minutes``: each change it makes is logged with the hooks GitLab
   would send for it (the ground truth). Then the run waits until every expected hook has
   arrived, or ``--drain`` seconds (default: the plan's worst delay over every class, but at
   most 1.25 times a full reconcile at the budget, plus five minutes: about 56 minutes on
   ``medium`` at 600 a minute, though the wait ends as soon as every hook is in).

Requests: ``requests_per_minute`` is the average over the whole window (quiet, workload and
drain), ``active_requests_per_minute`` that of the workload and drain only, and
``max_requests_per_minute`` the largest increase of the counters between two samples 60 s or
more apart (12 samples apart when sampling runs on time), over the time between them.
``within_budget`` is whether that maximum is at most 1.02 times the budget: the budget's
guarantee is that no 60-s window holds more than it, but a sample's time is taken here, not
when the simulator read its counter (the sample's own latency, timer jitter), a request in
flight at a sample counts on one side or the other, and the budget's small burst (a 60th of
it) can fall into a span a little shorter than 60 s; together these stay well under 2 %.

``--compare-with REF`` runs the same scenario (dataset, version, latency, throttle, seed,
minutes, rates) with the daemon of commit REF, from a temporary ``git worktree``. A REF from
issue 14 on takes the same configuration (budget and targets; without ``gitlab.graphql``,
which it does not know). An older REF runs in the configuration of its time: ``poll:``
intervals (users 1m, groups, projects and members 3m, the tuned baseline of
docs/freshness.md; ``--previous-poll`` overrides one) and no budget; its baseline is its own
first pass, and its drain by default its longest interval plus five minutes. Its own
simulator and state; this checkout's simulator and workload. Reported under ``previous``,
and ``comparison`` gives the ratios new/previous of the requests per minute and of each
class's p95.

``--naive`` then crawls the idle simulator once with unmodified python-gitlab
(``bridge.testing.crawl``, 10 connections): ``naive.requests_per_pass``, ``seconds_per_pass``,
and per class the requests a minute a naive poller would need to be as fresh as the bridge's
p95 there (a full pass every p95 seconds: ``requests_per_pass / (p95 / 60)``), and the bridge's
requests per minute over that.

``--config`` names a YAML file merged over the daemons' generated configurations (for example
``delivery:`` or ``gitlab: {concurrency: 4}``); its ``poll:`` goes to the previous daemon only,
its ``freshness:`` and ``gitlab.budget`` to the current one only (``--budget`` and
``--target`` win over it); the GitLab URL and token, the state and the receiver stay the
benchmark's. For each class: expected, delivered, lost and spurious hooks, p50/p95/max of
receipt minus change time, and the plan's predicted worst (``plan worst``: new_user ->
new_users, new_user_access -> new_user_memberships, group_member -> group_members,
project_member -> project_members, which GitLab's activity hint covers for adds and removals
only, project_create, rename_transfer, destroy and group_create -> groups_and_projects, share ->
shares); overall: the requests above, and the daemon's peak RSS. Prints tables, writes JSON
(docs/freshness.md).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from _support import BRIDGE, arguments, bridge_at, revision, simulator, worktree
from daemon import memory_mb, running

from bridge.config.fields import parse_duration
from bridge.config.settings import FreshnessSettings
from bridge.testing.crawl import crawl
from bridge.testing.oracle import Expected, Hook, Received, identify, tally
from bridge.testing.receiver import Delivery, Receiver
from bridge.testing.workload import Rates
from bridge.testing.workload_driver import read_log

RECEIVER = "system"
DEFAULT_BUDGET = 600
SYNC_BUDGET = 1_000_000  # the baseline's: as fast as GitLab answers
# The previous daemon's intervals: the tuned baseline of docs/freshness.md.
PREVIOUS_POLL = {"users": "1m", "groups": "3m", "projects": "3m", "members": "3m"}
SAMPLE_EVERY = 5.0  # seconds between two readings of the simulator's counters
RATE_SPAN = 60.0  # the budget's window
SPAN_SLACK = 0.5  # seconds: timer jitter that still counts as a full span
BUDGET_SLACK = 1.02  # the sampling edges (module docstring)
DRAIN_MARGIN = 300.0  # seconds beyond the longest expected delay
RECONCILE_SLACK = 1.25  # a full reconcile takes the whole budget's time, and the signals' share
NAIVE_WORKERS = 10
# The workload's classes (bridge.testing.workload.Klass) -> the plan's (bridge.sync.planner).
PLAN_CLASS = {
    "new_user": "new_users",
    "new_user_access": "new_user_memberships",
    "group_member": "group_members",
    "project_member": "project_members",  # adds and removals; role changes wait for reconcile
    "project_create": "groups_and_projects",
    "rename_transfer": "groups_and_projects",
    "destroy": "groups_and_projects",
    "group_create": "groups_and_projects",
    "share": "shares",
}


def _parser() -> argparse.ArgumentParser:
    parser = arguments(__doc__ or "", dataset="medium")
    parser.add_argument("--version", default="16.11", help="GitLab version, X.Y[-ee]")
    parser.add_argument("--reanalyse", metavar="RAW", help="only account a finished --raw file")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=20.0, help="the workload's")
    parser.add_argument("--quiet-minutes", type=float, default=3.0, help="nothing changing")
    parser.add_argument(
        "--budget", type=int, help=f"gitlab.budget, requests a minute (default {DEFAULT_BUDGET})"
    )
    parser.add_argument(
        "--target", action="append", default=[], metavar="CLASS=DURATION", help="freshness.*"
    )
    parser.add_argument("--rate-limit", help="the simulator's throttle, e.g. 7200/3600")
    parser.add_argument("--rate", action="append", default=[], metavar="CLASS=N")
    parser.add_argument("--drain", type=float, help="seconds to wait for late hooks")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="run")
    parser.add_argument("--config", help="YAML merged over the daemons' configurations")
    parser.add_argument("--compare-with", metavar="REF", help="also run the daemon of commit REF")
    parser.add_argument(
        "--previous-poll",
        action="append",
        default=[],
        metavar="RESOURCE=DURATION",
        help="the previous daemon's poll.* (default users=1m, groups/projects/members=3m)",
    )
    parser.add_argument("--naive", action="store_true", help="also crawl with python-gitlab")
    parser.add_argument("--json", help="write the result here as well")
    parser.add_argument("--raw", help="write the truth and every delivery here (JSON)")
    return parser


# --- configuration ----------------------------------------------------------------------------


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, section by section (a mapping merges, anything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def parse_targets(specs: Sequence[str]) -> dict[str, str]:
    """``CLASS=DURATION`` options as ``freshness:``; an unknown class or a bad duration is a
    ValueError naming it."""
    known = list(FreshnessSettings.model_fields)
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or name not in known:
            raise ValueError(f"target {spec!r}: expected CLASS=DURATION, CLASS one of {known}")
        parse_duration(value)
        out[name] = value
    return out


def current_settings(
    extra: dict[str, Any], budget: int | None, targets: dict[str, str]
) -> dict[str, Any]:
    """The daemon's configuration but for GitLab's address, the state and the receiver:
    defaults, then ``extra`` (less ``poll``), then ``--budget`` and ``--target``."""
    base: dict[str, Any] = {
        "gitlab": {"budget": DEFAULT_BUDGET},
        "payloads": {"share_events": True},
        "server": {"listen": "127.0.0.1:0"},
    }
    out = merged(base, {k: v for k, v in extra.items() if k != "poll"})
    options: dict[str, Any] = {"freshness": targets} if targets else {}
    if budget is not None:
        options["gitlab"] = {"budget": budget}
    return merged(out, options)


def previous_settings(extra: dict[str, Any], poll: Sequence[str]) -> dict[str, Any]:
    """The previous daemon's configuration, in its format: ``poll:`` (the tuned intervals, then
    ``extra``'s, then ``--previous-poll``), no ``freshness:`` and no ``gitlab.budget``."""
    extra = {k: v for k, v in extra.items() if k != "freshness"}
    intervals = PREVIOUS_POLL | extra.pop("poll", {}) | dict(s.split("=", 1) for s in poll)
    if isinstance(extra.get("gitlab"), dict):
        extra["gitlab"] = {k: v for k, v in extra["gitlab"].items() if k != "budget"}
    base = {
        "poll": intervals,
        "payloads": {"share_events": True},
        "server": {"listen": "127.0.0.1:0"},
    }
    return merged(base, extra)


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """What both daemons face: the simulated GitLab and the workload."""

    dataset: str
    version: str
    latency_ms: float
    rate_limit: str | None
    minutes: float
    quiet_minutes: float
    rates: tuple[str, ...]
    seed: int
    drain: float | None

    def sim_options(self) -> list[str]:
        """``gitlab-bridge sim serve`` options but the dataset."""
        out = ["--version", self.version, "--latency-ms", str(self.latency_ms)]
        return out + (["--rate-limit", self.rate_limit] if self.rate_limit else [])


@dataclass(frozen=True, slots=True, kw_only=True)
class Daemon:
    """One daemon under test: its configuration and how it is started."""

    label: str
    settings: dict[str, Any]  # but gitlab.url, gitlab.token, state and hooks
    command: list[str] = field(default_factory=lambda: list(BRIDGE))
    current: bool = True  # baseline by `gitlab-bridge sync`, and `gitlab-bridge plan`
    drain: float | None = None  # default seconds to wait for late hooks; None: from the plan


class Sampler:
    """A thread that reads the simulator's request total every ``every`` seconds: (time, total)
    pairs, each time the middle of its request."""

    def __init__(self, url: str, every: float = SAMPLE_EVERY) -> None:
        self.url, self.every = url, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._sample()  # the end of the window

    def _sample(self) -> None:
        before = time.monotonic()
        try:
            total = _total(self.url)
        except requests.RequestException:
            return
        self.samples.append(((before + time.monotonic()) / 2, total))

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            self._sample()
            n += 1
            self._stop.wait(max(0.0, start + n * self.every - time.monotonic()))


def _total(url: str) -> int:
    reply = requests.get(f"{url}/-/sim/counters", timeout=10)
    reply.raise_for_status()
    return int(reply.json()["total"])


def _zero(url: str) -> None:
    requests.delete(f"{url}/-/sim/counters", timeout=10).raise_for_status()


def max_rate(samples: Sequence[tuple[float, int]], span: float = RATE_SPAN) -> float | None:
    """The largest increase of a counter over any ``span`` seconds, per minute: for each
    sample, the first one at least ``span`` later (less ``SPAN_SLACK`` for timer jitter),
    their difference over the time between them. A window shorter than ``span`` gives its
    whole average; fewer than two samples give None."""
    best: float | None = None
    j = 0
    for i, (t0, c0) in enumerate(samples):
        j = max(j, i + 1)
        while j < len(samples) and samples[j][0] - t0 < span - SPAN_SLACK:
            j += 1
        if j == len(samples):
            break
        t1, c1 = samples[j]
        rate = (c1 - c0) * 60.0 / (t1 - t0)
        best = rate if best is None else max(best, rate)
    if best is None and len(samples) >= 2 and samples[-1][0] > samples[0][0]:
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        best = (c1 - c0) * 60.0 / (t1 - t0)
    return None if best is None else round(best, 1)


def plan_worst(plan: dict[str, Any] | None, klass: str) -> float | None:
    """The plan's predicted worst delay (seconds) for a workload class, if it has one."""
    name = PLAN_CLASS.get(klass)
    if plan is None or name is None:
        return None
    worst = plan.get("classes", {}).get(name, {}).get("predicted_worst")
    return None if worst is None else round(float(worst), 1)


def plan_drain(plan: dict[str, Any] | None, settings: dict[str, Any]) -> float:
    """Seconds to wait for late hooks: the plan's worst delay over every class, but at most
    ``RECONCILE_SLACK`` full reconciles at the whole budget (the continuous reconcile spends
    what the signals leave on re-reading every source, so nothing waits much longer than one
    of them), plus a margin. Without a plan: the reconcile target plus the margin."""
    if plan is None:
        reconcile = (settings.get("freshness") or {}).get("reconcile")
        seconds = FreshnessSettings().reconcile if reconcile is None else parse_duration(reconcile)
        return seconds + DRAIN_MARGIN
    worst = max(c["predicted_worst"] for c in plan["classes"].values())
    one_pass = 60.0 * plan["full_reconcile_requests"] / max(plan["budget_per_minute"], 1.0)
    return float(min(worst, RECONCILE_SLACK * one_pass)) + DRAIN_MARGIN


def _sync_baseline(
    settings: dict[str, Any], folder: Path, url: str, command: Sequence[str]
) -> dict[str, Any]:
    """``gitlab-bridge sync`` of the daemon's own checkout at an unlimited budget: the
    daemon's snapshot."""
    config = folder / "sync.yaml"
    config.write_text(json.dumps(merged(settings, {"gitlab": {"budget": SYNC_BUDGET}})))
    _zero(url)
    started = time.monotonic()
    done = subprocess.run(
        [*command, "sync", "--config", str(config)], capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"sync baseline exited {done.returncode}: {done.stderr[-2000:]}")
    print(done.stdout.strip(), file=sys.stderr, flush=True)
    return {"seconds_to_baseline": round(seconds, 1), "baseline_requests": _total(url)}


def _plan(config: Path, command: Sequence[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The daemon's checkout's ``gitlab-bridge plan --json`` (exit 1 when a target is not
    met): (the plan, an error)."""
    done = subprocess.run(
        [*command, "plan", "--config", str(config), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return json.loads(done.stdout), None
    except ValueError:
        return None, f"exit {done.returncode}: {(done.stderr or done.stdout)[-1000:]}"


@dataclass
class Measured:
    """One daemon's run: figures, and the truth and deliveries for the accounting."""

    figures: dict[str, Any]
    lines: list[dict[str, Any]]
    deliveries: list[Delivery]
    samples: list[tuple[float, int]]
    naive: dict[str, Any] | None = None


def measure(scenario: Scenario, daemon: Daemon, *, naive: bool = False) -> Measured:
    """Simulator, baseline, daemon, quiet phase, workload, drain; then a naive crawl if asked."""
    with (
        simulator(scenario.dataset, *scenario.sim_options()) as sim,
        tempfile.TemporaryDirectory() as tmp,
        Receiver() as receiver,
    ):
        folder = Path(tmp)
        truth, config = folder / "truth.jsonl", folder / "bridge.yaml"
        settings = merged(daemon.settings, {
            "gitlab": {"url": sim.url, "token": sim.token},
            "state": {"url": f"sqlite:///{folder / 'bridge.db'}"},
            "hooks": {"system": [{"name": RECEIVER, "url": receiver.url_for("/system")}]},
        })  # fmt: skip
        config.write_text(json.dumps(settings))
        figures: dict[str, Any] = {}
        _zero(sim.url)
        if daemon.current:
            figures |= _sync_baseline(settings, folder, sim.url, daemon.command)
        with running(config, daemon.command) as (process, ready):
            figures["seconds_to_ready"] = round(ready, 1)
            if not daemon.current:  # its first pass is its baseline
                figures["seconds_to_baseline"] = round(ready, 1)
                figures["baseline_requests"] = _total(sim.url)
            plan, problem = _plan(config, daemon.command) if daemon.current else (None, None)
            if daemon.current:
                figures["plan"] = plan
                if problem:
                    figures["plan_error"] = problem
            drain = scenario.drain or daemon.drain or plan_drain(plan, settings)
            _zero(sim.url)
            with Sampler(sim.url) as sampler:
                start = time.monotonic()
                time.sleep(scenario.quiet_minutes * 60)
                quiet = _total(sim.url)
                quiet_end = time.monotonic()
                workload = [*BRIDGE, "sim", "workload", "--url", sim.url, "--minutes",
                            str(scenario.minutes), "--truth", str(truth), "--receiver",
                            RECEIVER, "--share-events", "--seed", str(scenario.seed)]  # fmt: skip
                workload += [f"--rate={spec}" for spec in scenario.rates]
                done = subprocess.run(workload, capture_output=True, text=True, check=True)
                print(done.stdout.strip(), file=sys.stderr, flush=True)
                lines = read_log(truth)
                deadline = time.monotonic() + drain
                while time.monotonic() < deadline and not _all_arrived(
                    lines, receiver.deliveries()
                ):
                    time.sleep(5)
                total = _total(sim.url)
                end = time.monotonic()
                peak_rss = memory_mb(process.pid)[1]
        figures |= {
            "drain_seconds": round(drain, 1),
            "quiet_minutes": round((quiet_end - start) / 60, 2),
            "quiet_requests": quiet,
            "window_minutes": round((end - start) / 60, 2),
            "requests": total,
            "active_minutes": round((end - quiet_end) / 60, 2),
            "active_requests": total - quiet,
            "daemon_peak_rss_mb": peak_rss,
        }
        crawled = naive_pass(sim.url, sim.token, scenario.version) if naive else None
        return Measured(figures, lines, receiver.deliveries(), sampler.samples, crawled)


def naive_pass(url: str, token: str, version: str) -> dict[str, Any]:
    """One crawl of the whole (idle) instance with unmodified python-gitlab: its requests (the
    simulator's counters) and seconds."""
    _zero(url)
    keyset = version.partition("-")[0] not in ("12.10", "13.12")  # keyset pagination from 14.x
    result = crawl(url, token, workers=NAIVE_WORKERS, keyset=keyset)
    return {
        "requests_per_pass": _total(url),
        "seconds_per_pass": round(result.seconds, 1),
        "workers": NAIVE_WORKERS,
    }


def summary(
    scenario: Scenario, daemon: Daemon, run: Measured, *, budget: int | None = None
) -> dict[str, Any]:
    """A run's result: the scenario, the daemon, the requests and the accounting."""
    f = run.figures
    per_minute = _per_minute(f["requests"], f["window_minutes"])
    highest = max_rate(run.samples)
    quiet = _per_minute(f["quiet_requests"], f["quiet_minutes"])
    plan = f.get("plan")
    idle = plan.get("idle_per_minute") if plan else None
    result: dict[str, Any] = {
        "label": daemon.label,
        "dataset": scenario.dataset,
        "version": scenario.version,
        "latency_ms": scenario.latency_ms,
        "rate_limit": scenario.rate_limit,
        "seed": scenario.seed,
        "workload_minutes": scenario.minutes,
        "rates_per_hour": dict(Rates.parse(list(scenario.rates)).items()),
        "settings": daemon.settings,
        "budget": budget,
        "seconds_to_baseline": f["seconds_to_baseline"],
        "baseline_requests": f["baseline_requests"],
        "seconds_to_ready": f["seconds_to_ready"],
        "quiet_minutes": f["quiet_minutes"],
        "quiet_requests_per_minute": quiet,
        "window_minutes": f["window_minutes"],
        "drain_seconds": f["drain_seconds"],
        "requests": f["requests"],
        "requests_per_minute": per_minute,
        "active_requests_per_minute": _per_minute(f["active_requests"], f["active_minutes"]),
        "max_requests_per_minute": highest,
        "within_budget": (
            None if budget is None or highest is None else highest <= budget * BUDGET_SLACK
        ),
        "daemon_peak_rss_mb": f["daemon_peak_rss_mb"],
    }
    if daemon.current:
        result |= {"plan": plan, "quiet_vs_plan": _ratio(quiet, idle)}
        if "plan_error" in f:
            result["plan_error"] = f["plan_error"]
    result |= analyse(run.lines, run.deliveries)
    for klass, figures in result["classes"].items():
        figures["plan_worst_s"] = plan_worst(plan, klass)
    return result


def _per_minute(count: float, minutes: float) -> float | None:
    return round(count / minutes, 1) if minutes > 0 else None


def _ratio(a: float | None, b: float | None) -> float | None:
    """a/b to three significant figures; None without both, or when b is not positive."""
    return None if a is None or b is None or b <= 0 else float(f"{a / b:.3g}")


def compare(new: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """new/previous: requests per minute, and each class's p95."""
    classes = {}
    for klass in sorted(set(new["classes"]) | set(previous["classes"])):
        p95 = new["classes"].get(klass, {}).get("p95_s")
        before = previous["classes"].get(klass, {}).get("p95_s")
        classes[klass] = {"p95_s": p95, "previous_p95_s": before, "p95_ratio": _ratio(p95, before)}
    return {
        "requests_per_minute_ratio": _ratio(
            new["requests_per_minute"], previous["requests_per_minute"]
        ),
        "active_requests_per_minute_ratio": _ratio(
            new["active_requests_per_minute"], previous["active_requests_per_minute"]
        ),
        "quiet_requests_per_minute_ratio": _ratio(
            new["quiet_requests_per_minute"], previous["quiet_requests_per_minute"]
        ),
        "classes": classes,
    }


def naive_figures(crawled: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The naive poller beside the bridge: per class, the requests a minute a full pass every
    p95 seconds takes, and the bridge's requests a minute over that."""
    per_pass = crawled["requests_per_pass"]
    classes = {}
    for klass, c in sorted(result["classes"].items()):
        p95 = c.get("p95_s")
        needed = round(per_pass / (p95 / 60), 1) if p95 else None
        classes[klass] = {
            "p95_s": p95,
            "naive_requests_per_minute": needed,
            "bridge_vs_naive": _ratio(result["requests_per_minute"], needed),
        }
    return {**crawled, "classes": classes}


def main() -> int:
    """Run the daemon (and the previous one, and the naive crawl, if asked) and report."""
    parser = _parser()
    args = parser.parse_args()
    if args.reanalyse:  # a finished run's accounting again, per class and operation
        print(json.dumps(reanalyse(Path(args.reanalyse)), indent=2))
        return 0
    extra = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    extra = extra or {}
    try:
        Rates.parse(args.rate)
        targets = parse_targets(args.target)
        for spec in args.previous_poll:
            parse_duration(spec.partition("=")[2])
    except ValueError as exc:
        parser.error(str(exc))
    scenario = Scenario(
        dataset=args.dataset, version=args.version, latency_ms=args.latency_ms,
        rate_limit=args.rate_limit, minutes=args.minutes, quiet_minutes=args.quiet_minutes,
        rates=tuple(args.rate), seed=args.seed, drain=args.drain,
    )  # fmt: skip
    settings = current_settings(extra, args.budget, targets)
    current = Daemon(label=args.label, settings=settings)
    budget = int(settings["gitlab"]["budget"])
    run = measure(scenario, current, naive=args.naive)
    result = summary(scenario, current, run, budget=budget) | {"commit": _head()}
    raw: dict[str, Any] = _raw(run)
    if run.naive is not None:
        result["naive"] = naive_figures(run.naive, result)
    if args.compare_with:
        with worktree(args.compare_with) as (tree, commit):
            if _has_budget(tree):  # issue 14 on: the same targets and budget, its own reads
                previous = Daemon(
                    label=f"previous ({args.compare_with})", settings=_without_graphql(settings),
                    command=bridge_at(tree), drain=args.drain,
                )  # fmt: skip
            else:
                old = previous_settings(extra, args.previous_poll)
                longest = max(parse_duration(v) for v in old["poll"].values())
                previous = Daemon(
                    label=f"previous ({args.compare_with})", settings=old,
                    command=bridge_at(tree), current=False, drain=longest + DRAIN_MARGIN,
                )  # fmt: skip
            before = measure(scenario, previous)
        result["previous"] = summary(scenario, previous, before) | {"commit": commit}
        result["comparison"] = compare(result, result["previous"])
        raw["previous"] = _raw(before)
    print(report(result))
    if args.raw:
        Path(args.raw).write_text(json.dumps(raw))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _has_budget(tree: Path) -> bool:
    """Whether the checkout at ``tree`` plans on a budget (issue 14 on): then it takes the
    current configuration, ``freshness:`` and ``gitlab.budget`` included."""
    return "class FreshnessSettings" in (tree / "bridge/config/settings.py").read_text()


def _without_graphql(settings: dict[str, Any]) -> dict[str, Any]:
    """The configuration without ``gitlab.graphql`` (issue 16), which older checkouts refuse."""
    gitlab = {k: v for k, v in settings["gitlab"].items() if k != "graphql"}
    return {**settings, "gitlab": gitlab}


def _head() -> str | None:
    """This checkout's commit (uncommitted changes not included), if git can tell."""
    try:
        return revision()
    except (OSError, subprocess.CalledProcessError):
        return None


def _raw(run: Measured) -> dict[str, Any]:
    return {
        "truth": run.lines,
        "rate_samples": run.samples,
        "deliveries": [
            {"received_at": d.received_at, "status": d.reply_status, "path": d.path,
             "headers": d.headers, "body": d.body.decode("utf-8", "replace")}
            for d in run.deliveries
        ],
    }  # fmt: skip


# --- the accounting ---------------------------------------------------------------------------


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


def _figures(matched: list[tuple[float | None, bool]], changes: int) -> dict[str, Any]:
    arrived = [x for x, _ in matched if x is not None]
    return {
        "changes": changes,
        "expected": len(matched),
        "delivered": len(arrived),
        "lost": len(matched) - len(arrived),
        "superseded": sum(1 for x, later in matched if x is None and later),
        "p50_s": _percentile(arrived, 0.5),
        "p95_s": _percentile(arrived, 0.95),
        "max_s": round(max(arrived), 1) if arrived else None,
    }


MEMBER_CLASSES = ("group_member", "project_member")


def analyse(lines: list[dict[str, Any]], deliveries: list[Delivery]) -> dict[str, Any]:
    """Per-class and overall counts and latencies; member classes also per operation (add,
    update: a role or expiry change, remove)."""
    by_class: dict[str, list[tuple[float | None, bool]]] = defaultdict(list)
    by_operation: dict[str, list[tuple[float | None, bool]]] = defaultdict(list)
    changes: dict[str, int] = defaultdict(int)
    for line in lines:
        changes[line["class"]] += 1
        if line["class"] in MEMBER_CLASSES:
            changes[_operation(line)] += 1
    matched = _matches(lines, deliveries)
    for (klass, latency, later), (_h, _k, _t, order) in zip(matched, _expected(lines), strict=True):
        by_class[klass].append((latency, later))
        if klass in MEMBER_CLASSES:
            by_operation[_operation(lines[order])].append((latency, later))
    classes = {klass: _figures(m, changes[klass]) for klass, m in by_class.items()}
    operations = {op: _figures(m, changes[op]) for op, m in sorted(by_operation.items())}
    superseded = sum(c["superseded"] for c in classes.values())
    expected = [Expected(hook=h, order=o) for h, _k, _t, o in _expected(lines)]
    overall = tally(expected, [r for r, _ in _received(deliveries)])
    return {
        "classes": classes,
        "operations": operations,
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


def _operation(line: dict[str, Any]) -> str:
    """``project_member update``: a member change's class and what it did."""
    op = str((line.get("mutation") or {}).get("op", "?")).removeprefix("member_")
    return f"{line['class']} {op}"


def reanalyse(raw_path: Path) -> dict[str, Any]:
    """The accounting of a finished run again, from its ``--raw`` file."""
    raw = json.loads(raw_path.read_text())
    deliveries = [
        Delivery(seq=n, method="POST", path=d["path"], headers=tuple(map(tuple, d["headers"])),
                 body=d["body"].encode(), received_at=d["received_at"], reply_status=d["status"])
        for n, d in enumerate(raw["deliveries"], 1)
    ]  # fmt: skip
    return analyse(raw["truth"], deliveries)


# --- the report -------------------------------------------------------------------------------


def _sec(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,g}"


def table(result: dict[str, Any]) -> str:
    """One run as a Markdown table, and its requests."""
    settings = result.get("settings", {})
    if "poll" in settings:
        daemon = f"poll {settings['poll']}"
    else:
        targets = settings.get("freshness") or "defaults"
        daemon = f"budget {_num(result.get('budget'))}/min, targets {targets}"
    rows = [
        f"{result['label']}: {result['dataset']} {result['version']}, "
        f"{result['latency_ms']:g} ms latency, {daemon}",
        "",
        "| Class | changes | expected | delivered | lost (superseded) | p50 | p95 | max "
        "| plan worst |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for klass, c in sorted(result["classes"].items()):
        rows.append(
            f"| {klass} | {c['changes']} | {c['expected']} | {c['delivered']} | "
            f"{c['lost']} ({c['superseded']}) | "
            f"{_sec(c['p50_s'])} | {_sec(c['p95_s'])} | {_sec(c['max_s'])} | "
            f"{_sec(c.get('plan_worst_s'))} |"
        )
    for op, c in result.get("operations", {}).items():
        rows.append(
            f"| _{op}_ | {c['changes']} | {c['expected']} | {c['delivered']} | "
            f"{c['lost']} ({c['superseded']}) | "
            f"{_sec(c['p50_s'])} | {_sec(c['p95_s'])} | {_sec(c['max_s'])} | |"
        )
    budget = result.get("budget")
    within = result.get("within_budget")
    verdict = "" if within is None else (" (within budget)" if within else " (OVER budget)")
    rows += [
        "",
        f"spurious {result['spurious']}, duplicates (other key) "
        f"{result['duplicates_other_key']}; {result['requests']:,} requests in "
        f"{result['window_minutes']} min = {_num(result['requests_per_minute'])} a minute "
        f"(workload and drain {_num(result['active_requests_per_minute'])}); at most "
        f"{_num(result['max_requests_per_minute'])} in a minute"
        + (f" of a budget of {budget:,}{verdict}" if budget is not None else ""),
        f"quiet: {_num(result['quiet_requests_per_minute'])} a minute over "
        f"{result['quiet_minutes']} min"
        + (
            f"; the plan predicts {_num(round(result['plan']['idle_per_minute'], 1))} "
            f"(measured/predicted {_num(result['quiet_vs_plan'])})"
            if result.get("plan")
            else ""
        ),
        f"baseline: {result['baseline_requests']:,} requests in {result['seconds_to_baseline']} s;"
        f" ready after {result['seconds_to_ready']} s; daemon peak RSS "
        f"{result['daemon_peak_rss_mb']} MB",
    ]
    return "\n".join(rows)


def report(result: dict[str, Any]) -> str:
    """Every table: the run, the previous version's and the comparison, the naive poller."""
    parts = [table(result)]
    if "previous" in result:
        comparison = result["comparison"]
        rows = [
            f"new / previous ({result['previous']['label']})",
            "",
            "| Class | p95 new | p95 previous | ratio |",
            "|---|---:|---:|---:|",
        ]
        for klass, c in comparison["classes"].items():
            rows.append(
                f"| {klass} | {_sec(c['p95_s'])} | {_sec(c['previous_p95_s'])} | "
                f"{_num(c['p95_ratio'])} |"
            )
        rows += [
            "",
            f"requests a minute: {_num(result['requests_per_minute'])} / "
            f"{_num(result['previous']['requests_per_minute'])} = "
            f"{_num(comparison['requests_per_minute_ratio'])}; quiet "
            f"{_num(result['quiet_requests_per_minute'])} / "
            f"{_num(result['previous']['quiet_requests_per_minute'])} = "
            f"{_num(comparison['quiet_requests_per_minute_ratio'])}",
        ]
        parts += [table(result["previous"]), "\n".join(rows)]
    if "naive" in result:
        naive = result["naive"]
        rows = [
            f"naive poller: {naive['requests_per_pass']:,} requests a pass, "
            f"{naive['seconds_per_pass']} s with {naive['workers']} connections",
            "",
            "| Class | bridge p95 | naive needs a minute | bridge / naive |",
            "|---|---:|---:|---:|",
        ]
        for klass, c in naive["classes"].items():
            rows.append(
                f"| {klass} | {_sec(c['p95_s'])} | {_num(c['naive_requests_per_minute'])} | "
                f"{_num(c['bridge_vs_naive'])} |"
            )
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
