"""The daemon's idle cost and the time from a change in GitLab to its hook, default budget.

    python bench/daemon.py [--dataset small] [--idle 60] [--samples 3] [--new-users 60]

A simulated GitLab runs in its own process, ``gitlab-bridge run`` in another with the default
budget and targets (``freshness.new_users`` from ``--new-users``) and one system receiver here.
After the first reads (the baseline), the daemon is left alone for ``--idle`` seconds: its CPU
time (``/proc/PID/stat``) and RSS are read before and after. Then, ``--samples`` times, a user
is created at a random moment within one new-users target and the time until its
``user_create`` reaches the receiver is measured. Prints one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
from _support import BRIDGE, arguments, simulator

from bridge.testing.receiver import Receiver

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return round(values["VmRSS"], 1), round(values["VmHWM"], 1)


def terminate(daemon: subprocess.Popen[str]) -> None:
    """SIGTERM and wait; a daemon that does not exit in 60 s dumps its stacks and is killed."""
    daemon.terminate()
    try:
        daemon.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.send_signal(signal.SIGUSR1)  # its threads' stacks, to stderr
        time.sleep(1)
        daemon.kill()
        raise


@contextlib.contextmanager
def running(
    config: Path, command: Sequence[str] = BRIDGE
) -> Iterator[tuple[subprocess.Popen[str], float]]:
    """``gitlab-bridge run --config CONFIG`` once it is ready: (the process, seconds from start
    to ready); SIGTERM on exit. ``command`` is how ``gitlab-bridge`` is started (another
    checkout's: ``_support.bridge_at``)."""
    started = time.monotonic()
    daemon = subprocess.Popen(
        [*command, "run", "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert daemon.stdout is not None
    base = daemon.stdout.readline().split()[1]
    try:
        while not requests.get(f"{base}/-/ready", timeout=10).ok:
            time.sleep(0.1)
        yield daemon, time.monotonic() - started
    finally:
        terminate(daemon)


def main() -> int:
    """Start everything, measure, print."""
    parser = arguments(__doc__ or "", dataset="small")
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument(
        "--new-users", type=float, default=60.0, help="freshness.new_users (seconds)"
    )
    args = parser.parse_args()
    rng = random.Random(1)
    with (
        simulator(args.dataset) as sim,
        tempfile.TemporaryDirectory() as tmp,
        Receiver() as receiver,
    ):
        url, token = sim.url, sim.token
        config = Path(tmp) / "bridge.yaml"
        config.write_text(
            json.dumps(
                {
                    "gitlab": {"url": url, "token": token},
                    "state": {"url": f"sqlite:///{Path(tmp) / 'bridge.db'}"},
                    "hooks": {"system": [{"name": "audit", "url": receiver.url_for("/audit")}]},
                    "freshness": {"new_users": args.new_users},
                    "server": {"listen": "127.0.0.1:0"},
                }
            )
        )
        with running(config) as (daemon, ready):
            baseline_rss = memory_mb(daemon.pid)
            time.sleep(5)  # let the first delivery and status passes settle
            cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.idle)
            idle_cpu = (cpu_seconds(daemon.pid) - cpu0) / (time.monotonic() - t0)
            idle_rss = memory_mb(daemon.pid)
            latencies = []
            for n in range(args.samples):
                time.sleep(rng.uniform(0, args.new_users))
                seen = len(receiver.deliveries())
                changed = time.monotonic()
                requests.post(
                    f"{url}/-/sim/users", json={"username": f"bench-{n}"}, timeout=10
                ).raise_for_status()
                receiver.wait_for(seen + 1, timeout=args.new_users * 2 + 60)
                arrived = receiver.deliveries()[seen]
                assert json.loads(arrived.body)["username"] == f"bench-{n}"
                latencies.append(round(time.monotonic() - changed, 1))
    mean = round(statistics.fmean(latencies), 1) if latencies else None
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "seconds_to_ready": round(ready, 1),
                "rss_after_baseline_mb": baseline_rss[0],
                "idle_seconds": args.idle,
                "idle_cpu_percent": round(idle_cpu * 100, 2),
                "idle_rss_mb": idle_rss[0],
                "peak_rss_mb": idle_rss[1],
                "new_users_target": args.new_users,
                "change_to_hook_seconds": latencies,
                "change_to_hook_mean": mean,
                "exit_code": daemon.returncode,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
