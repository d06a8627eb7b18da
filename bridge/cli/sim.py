"""``gitlab-bridge sim serve`` (the built-in GitLab simulator on real sockets) and ``sim
workload`` (changes at given rates, with the hooks GitLab sends for each as ground truth)."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from bridge.cli.common import command, command_group
from bridge.errors import ConfigError, SourceError, UsageError
from bridge.service.signals import wait_for_stop


def _sim_serve(args: argparse.Namespace) -> int:
    """Start the GitLab simulator and serve until SIGINT or SIGTERM."""
    from bridge.testing.sim.faults import Latency
    from bridge.testing.sim.profiles import get_profile
    from bridge.testing.sim.ratelimit import Throttle
    from bridge.testing.sim.simulator import Simulator
    from bridge.testing.sim.sizes import SIZES

    if args.dataset not in SIZES:
        raise UsageError(f"--dataset: unknown dataset {args.dataset!r} (choose {', '.join(SIZES)})")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a TCP port (0-65535)")
    throttle = None
    if args.rate_limit:
        try:
            throttle = Throttle.parse(args.rate_limit)
        except ValueError as exc:
            raise UsageError(f"--rate-limit: {exc}") from None
    try:
        get_profile(args.version)
    except ValueError as exc:
        raise UsageError(f"--version: {exc}") from None
    sim = Simulator.from_dataset(
        args.dataset,
        seed=args.seed,
        version=args.version,
        throttle=throttle,
        external_url=args.external_url,
    )
    if args.latency_ms:
        sim.faults.latency = Latency(fixed_ms=args.latency_ms, jitter_ms=args.jitter_ms)
    try:
        sim.start(args.host, args.port)
    except OSError as exc:
        raise ConfigError(
            f"--host/--port: cannot listen on {args.host}:{args.port}: {exc.strerror}"
        ) from None
    print(f"url: {sim.url}", flush=True)
    print(f"admin-token: {sim.tokens['admin']}", flush=True)
    print(f"user-token: {sim.tokens['user']}", flush=True)
    print(
        f"version: {sim.profile.version_string}  dataset: {args.dataset} (seed {args.seed})",
        flush=True,
    )
    wait_for_stop()
    sim.stop()
    return 0


def _sim_workload(args: argparse.Namespace) -> int:
    """Apply a Poisson workload to a running simulator for ``--minutes``; log the truth."""
    from pathlib import Path

    import requests

    from bridge.testing.driver import Control
    from bridge.testing.oracle import Receivers
    from bridge.testing.workload import Rates
    from bridge.testing.workload_driver import run

    if args.minutes <= 0:
        raise UsageError(f"--minutes: {args.minutes} is not a positive number")
    try:
        rates = Rates.parse(args.rate or [])
    except ValueError as exc:
        raise UsageError(f"--rate: {exc}") from None
    receivers = Receivers(system=tuple(args.receiver or ["system"]), share_events=args.share_events)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    path = Path(args.truth)
    try:
        out = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--truth: cannot open {path}: {exc.strerror}") from None
    with out:
        try:
            outcome = run(
                Control(args.url),
                seconds=args.minutes * 60,
                rates=rates,
                receivers=receivers,
                out=out,
                seed=args.seed,
                stop=stop,
            )
        except KeyboardInterrupt:
            return 130
        except (requests.RequestException, LookupError) as exc:  # LookupError: a 4xx answer
            raise SourceError(f"--url: the simulator at {args.url} failed: {exc}") from None
    applied = ", ".join(f"{k} {v}" for k, v in sorted(outcome.applied.items())) or "nothing"
    print(
        f"applied: {applied}; skipped {outcome.skipped}, refused {outcome.refused}; "
        f"{outcome.hooks} hooks expected",
        flush=True,
    )
    return 0


def add_commands(commands: Any) -> None:
    """Register ``sim serve`` and ``sim workload``."""
    sim_commands = command_group(
        commands,
        "sim",
        help="the built-in GitLab simulator",
        description="The simulated GitLab the bridge is tested against: `sim serve` serves one "
        "on real sockets, with a generated dataset, for trying the bridge without a GitLab.",
    )
    serve = command(
        sim_commands,
        "serve",
        _sim_serve,
        help="serve a simulated GitLab REST API v4",
        description="Serve a simulated GitLab on real sockets. Prints the base URL and the admin "
        "and non-admin tokens, one per line, then serves until SIGINT/SIGTERM.",
        config=False,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    serve.add_argument("--dataset", default="small", help="small, medium or large (default small)")
    serve.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    serve.add_argument(
        "--version",
        default="16.11",
        dest="version",
        help="GitLab version: 12.10, 13.12, 16.11, 17.5, 17.7; add -ee for EE (default 16.11)",
    )
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    serve.add_argument("--jitter-ms", type=float, default=0.0, help="uniform jitter on top of it")
    serve.add_argument("--rate-limit", help="throttle per user or IP, e.g. 10/s, 600/m, 7200/3600")
    serve.add_argument(
        "--external-url", help="GitLab's external URL for links (default: the bound address)"
    )
    workload = command(
        sim_commands,
        "workload",
        _sim_workload,
        help="apply random changes to a simulator at given rates, logging the expected hooks",
        description="Apply changes to a running simulator (over its /-/sim/ control API) as "
        "Poisson arrivals per class, for --minutes. Each accepted change is appended to --truth "
        "as one JSON line: its time, class, the change, and every hook GitLab sends for it "
        "(docs/freshness.md#the-workload).",
        config=False,
    )
    workload.add_argument("--url", required=True, help="the simulator's base URL")
    workload.add_argument("--minutes", type=float, default=20.0, help="how long (default 20)")
    workload.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    workload.add_argument(
        "--rate",
        action="append",
        metavar="CLASS=N",
        help="arrivals per hour of a class (repeatable): new_user, group_member, "
        "project_member, project_create, rename_transfer, destroy, group_create, share",
    )
    workload.add_argument("--truth", required=True, help="ground-truth JSONL file (appended)")
    workload.add_argument(
        "--receiver",
        action="append",
        default=[],
        help="a System Hook receiver the hooks are expected at (repeatable; default system)",
    )
    workload.add_argument(
        "--share-events", action="store_true", help="expect the bridge's share events too"
    )
