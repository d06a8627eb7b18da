"""Commands ``run`` (the daemon), ``status`` and ``demo``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from typing import Any

from bridge.cli.common import command, load_settings, open_store, prepare_state_folder, print_table

EXIT_CODES = (
    "Exit codes: 0 stopped cleanly, 1 work abandoned at the shutdown timeout or an unexpected "
    "error, 73 another daemon runs on this SQLite state, 74 state database error, 78 "
    "configuration error (including a token GitLab refuses)."
)


def _run(args: argparse.Namespace) -> int:
    """The service: poll, deliver and serve until SIGTERM."""
    from bridge.service.daemon import Daemon

    settings = load_settings(args)
    prepare_state_folder(settings.state.url)
    daemon = Daemon(
        args.config,
        settings,
        on_listen=lambda url: print(f"listening {url}", flush=True),
    )
    code = daemon.run()
    if daemon.abandoned:
        # Threads still wait on GitLab or a receiver; the interpreter would join them at exit.
        # The database rolls their transactions back; leases expire. Leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _status(args: argparse.Namespace) -> int:
    """Per resource: last complete poll, staleness, requests; per receiver: queue and circuit."""
    from bridge.service import status
    from bridge.service.health import read_status
    from bridge.service.locks import holder, sqlite_path

    settings = load_settings(args)
    database = sqlite_path(settings.state.url)
    with open_store(settings) as store:
        pid = holder(database) if database else None
        current = read_status(store, settings, now=dt.datetime.now(dt.UTC), pid=pid)
    if args.json:
        print(json.dumps(status.to_json(current), indent=2))
        return 0
    _print_human(current, database is not None)
    return 0


def _span(seconds: float) -> str:
    """300 -> 5m, 90 -> 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _print_human(current: Any, sqlite: bool) -> None:
    from bridge.service.status import short_age

    if sqlite:
        who = f"running (pid {current.daemon_pid})" if current.daemon_pid else "not running"
        print(f"daemon: {who}")
    rows = [["RESOURCE", "LAST COMPLETE POLL", "AGE", "REQUESTS", "ERRORS"]]
    for r in current.resources:
        when = r.last_complete_at.strftime("%Y-%m-%d %H:%M:%SZ") if r.last_complete_at else "never"
        name = f"{r.name} ({r.lists} lists)" if r.name == "members" else r.name
        rows.append([name, when, short_age(r.staleness), str(r.requests), str(len(r.errors))])
    print_table(rows)
    if current.classes:
        print()
        rows = [["CLASS", "TARGET", "STALEST SOURCE READ", "SOURCES", ""]]
        for c in current.classes:
            late = "LATE" if c.late else ""
            rows.append([c.name, _span(c.target), short_age(c.staleness), str(c.sources), late])
        print_table(rows)
        print(f"budget: {current.budget} requests/min (what it buys: gitlab-bridge plan)")
    for r in current.resources:
        for error in r.errors[:5]:
            print(f"  error: {error}")
        if len(r.errors) > 5:
            print(f"  ... and {len(r.errors) - 5} more failing lists")
    print()
    rows = [["RECEIVER", "QUEUED", "DELIVERED", "DEAD", "CIRCUIT"]]
    for rx in current.receivers:
        circuit = rx.circuit
        if rx.circuit != "closed" and rx.probe_at:
            circuit += f" (probe {rx.probe_at.strftime('%H:%M:%SZ')})"
        name = rx.name if rx.configured else f"{rx.name} (not configured)"
        rows.append([name, str(rx.pending), str(rx.delivered), str(rx.dead), circuit])
    if len(rows) > 1:
        print_table(rows)
    else:
        print("no receivers configured")
    oldest = current.oldest_waiting_age
    tail = f"; oldest waiting {short_age(oldest).removesuffix(' ago')}" if oldest else ""
    print(f"queue: {current.queue_depth} waiting, {current.dead_letters} dead letters{tail}")


def _demo(args: argparse.Namespace) -> int:
    """The whole bridge against the built-in simulator, narrated."""
    from bridge.cli.demo import run_demo

    return run_demo(forever=args.forever, seconds=args.timeout)


def add_commands(commands: Any) -> None:
    """Register ``run``, ``status`` and ``demo`` on the main parser's subcommands."""
    command(
        commands,
        "run",
        _run,
        help="run the daemon: read on a request budget, deliver continuously, serve HTTP",
        description="The service. Spends gitlab.budget requests a minute on GitLab's change "
        "signals, targeted re-reads and a continuous reconcile, to hold the freshness.* targets "
        "(see `gitlab-bridge plan`), delivers queued events as soon as they are due, prunes "
        "old delivered rows, and serves /metrics, /-/health, /-/ready and "
        "/api/v4/projects/:id/groups on server.listen. Talks to systemd (READY=1, STATUS=, "
        "WATCHDOG=1) when started by it. SIGTERM/SIGINT stop it within "
        "daemon.shutdown_timeout; SIGHUP reloads the configuration. " + EXIT_CODES,
    )

    status = command(
        commands,
        "status",
        _status,
        help="last polls, queue per receiver, dead letters, circuits",
        description="Read the state database (the daemon may be running or not) and show, for "
        "each resource, its last complete poll, how stale it is and the requests it used; for "
        "each receiver, its queue, delivered and dead events and its circuit.",
    )
    status.add_argument("--json", action="store_true", help="JSON instead of tables")

    demo = command(
        commands,
        "demo",
        _demo,
        help="watch the bridge work against the built-in simulator",
        description="Starts a simulated GitLab (small dataset), a local receiver that prints "
        "each hook as it arrives, and the daemon with short intervals; then plays a story (a "
        "user appears, joins a subgroup, a project is shared, renamed and transferred, a role "
        "changes, a user is removed) and shows which hooks each step produced. Needs no GitLab "
        "and writes nothing outside a temporary directory.",
        config=False,
    )
    demo.add_argument(
        "--forever", action="store_true", help="keep running after the story (Ctrl-C stops)"
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("GITLAB_BRIDGE_DEMO_TIMEOUT", "30")),
        help="seconds to wait for each step's hooks (default 30)",
    )
