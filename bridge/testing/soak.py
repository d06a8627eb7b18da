"""The soak's harness: a simulated GitLab driven over ``/-/sim/``, a recording receiver, the
bridge as real processes (``python -m bridge run`` / ``sync``), and a fresh state database.

Everything here talks to the world; the decisions are pure (``bridge.testing.mutations``,
``bridge.testing.oracle``). ``Soak.batch`` applies one planned batch and logs, for every
mutation the simulator accepted, the hooks the oracle expects; ``Soak.tally`` compares them with
what the receiver accepted. Scenarios: ``bridge.testing.scenarios``; docs/soak.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from bridge.cli.main import main
from bridge.store import Store, upgrade
from bridge.testing.configs import FAST_BUDGET, fast_freshness
from bridge.testing.driver import Control, Recorder
from bridge.testing.mutations import Model, Mutation, apply, plan_batch
from bridge.testing.oracle import Expected, Receivers, Tally, expect, tally

log = logging.getLogger(__name__)
BRIDGE = (sys.executable, "-m", "bridge")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NO_RECEIVERS = Receivers(system=())  # until the scenario's setup has made the receivers' groups
TIMEOUT = 120.0  # for any one wait; a soak that hangs longer has found a bug


@contextlib.contextmanager
def state_url(kind: str, folder: Path, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A URL to an empty state: a SQLite file, or a PostgreSQL database created for the run."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bridge.db'}"
        return
    name = f"soak_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Process:
    """One bridge command as a real process, its output in a log file."""

    def __init__(self, config: Path, command: str, log_path: Path) -> None:
        self.log_path = log_path
        self.command = command
        self.killed = False  # ended on purpose: kill() or stop()
        with log_path.open("a") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed argv
                [*BRIDGE, command, "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": _pythonpath()},
            )

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        self.killed = True
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=TIMEOUT)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        self.killed = True
        if self.popen.poll() is None:
            self.popen.terminate()
        return self.popen.wait(timeout=TIMEOUT)

    def says(self, text: str) -> bool:
        """Whether its log contains ``text``."""
        return text in self.log_path.read_text(errors="replace")

    def check(self) -> None:
        """Raise if it crashed (a traceback) or a daemon exited on its own."""
        crashed = self.says("Traceback (most recent call last)")
        if crashed or (self.command == "run" and self.popen.poll() is not None):
            tail = self.log_path.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"{self.log_path.name} ended ({self.popen.poll()}): {tail}")


def _pythonpath() -> str:
    """This checkout first, so that the processes run the code the soak was started from."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``check`` every 0.1 s until it holds; ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


class Soak:
    """One scenario's world: simulator, receiver, bridge configuration, state and oracle log."""

    def __init__(
        self,
        *,
        sim_url: str,
        state: str,
        folder: Path,
        rng: random.Random,
        receivers: Receivers = NO_RECEIVERS,
        readd: bool = True,
    ) -> None:
        self.control = Control(sim_url)
        self.sim_url, self.state, self.folder = sim_url, state, folder
        self.receivers, self.rng, self.readd = receivers, rng, readd
        # The bridge's own admin token, so that revoking it touches nothing else.
        self.token = self.control.call("POST", "/tokens", {"user_id": 1})["token"]
        self.recorder = Recorder()
        self.model = Model()
        self.expected: list[Expected] = []
        self.mutations = 0
        self.processes: list[Process] = []
        self.store: Store | None = None

    # -- configuration and processes ---------------------------------------------------------

    def configure(self, **overrides: dict[str, Any]) -> Path:
        """Write the bridge's configuration: 1 s targets, fast retries, share events on."""
        r = self.receivers
        settings: dict[str, Any] = {
            "gitlab": {"url": self.sim_url, "token": self.token, "timeout": "5s",
                       "retry_max_wait": "2s", "budget": FAST_BUDGET},
            "state": {"url": self.state},
            "hooks": {
                "system": [{"name": n, "url": self.recorder.url_for(f"/{n}"), "timeout": "2s"}
                           for n in r.system],
                "group": [{"name": g.name, "group": str(g.group), "timeout": "2s",
                           "url": self.recorder.url_for(f"/{g.name}"),
                           "member_events": g.member_events, "subgroup_events": g.subgroup_events,
                           "project_events": g.project_events} for g in r.group],
            },
            "freshness": fast_freshness(),
            "delivery": {"backoff_base": "0.5s", "backoff_cap": "2s", "circuit_probe": "1s",
                         "circuit_probe_max": "2s", "max_attempts": 1000, "lease": "5s"},
            "payloads": {"share_events": r.share_events},
            "server": {"listen": "127.0.0.1:0"},
            "daemon": {"shutdown_timeout": "5s", "status_interval": "1s"},
        }  # fmt: skip
        for section, values in overrides.items():
            settings[section] = {**settings.get(section, {}), **values}
        path = self.folder / "bridge.yaml"
        path.write_text(json.dumps(settings, indent=1))
        return path

    def start(self, command: str = "run") -> Process:
        """Start ``gitlab-bridge COMMAND`` with the current configuration."""
        n = len(self.processes)
        log.info("starting %s (%d)", command, n)
        process = Process(self.folder / "bridge.yaml", command, self.folder / f"{command}-{n}.log")
        self.processes.append(process)
        return process

    def sync(self, *, kill_after: float | None = None) -> int | None:
        """One ``sync``; killed with SIGKILL after ``kill_after`` seconds if still running."""
        process = self.start("sync")
        try:
            code = process.popen.wait(timeout=TIMEOUT if kill_after is None else kill_after)
        except subprocess.TimeoutExpired:
            process.kill()
            return None
        process.check()
        return code

    def command(self, *argv: str) -> int:
        """A bridge command run in this process (``main(argv)``), for passes nobody kills;
        what it prints goes to ``inline.log``."""
        with (self.folder / "inline.log").open("a") as out, contextlib.redirect_stdout(out),\
                contextlib.redirect_stderr(out):  # fmt: skip
            return main([*argv, "--config", str(self.folder / "bridge.yaml")])

    def sync_until_complete(self) -> None:
        """``sync`` until one pass completes (exit 0, or 75: events left to deliver)."""
        for _ in range(30):
            if self.command("sync") in (0, 75):
                return
            time.sleep(0.5)
        raise TimeoutError("no complete sync pass in 30 tries")

    def live(self) -> list[Process]:
        """The processes still running."""
        return [p for p in self.processes if p.popen.poll() is None]

    # -- observation ---------------------------------------------------------------------------

    def open_store(self) -> Store:
        """The state, migrated before any bridge process starts, so nothing races on it."""
        if self.store is None:
            upgrade(self.state)
            self.store = Store.open(self.state)
        return self.store

    def polled_since(self, since: dt.datetime) -> bool:
        """Whether users, groups, projects and every owned member list completed after ``since``."""
        states = {s.name: s.last_complete_at for s in self.open_store().resource_states()}
        names = ["users", "groups", "projects"]
        names += [f"members:group:{g}" for g in self.model.groups]
        names += [f"members:project:{p}" for p in self.model.projects]
        return all((at := states.get(n)) is not None and at > since for n in names)

    def wait_pass(self, since: dt.datetime | None = None, *, fresh: bool = False) -> None:
        """Wait for a complete poll that started after ``since`` (default now).

        Listings are stamped when they end, to the second, so one that ends after ``since`` may
        have begun before it: wait for one poll past ``since`` and then for the next. With
        ``fresh`` (every process that polls started after ``since``) the first is enough.
        """
        started = time.monotonic()
        first = since or dt.datetime.now(dt.UTC)
        wait_until(lambda: self.healthy() and self.polled_since(first), "a poll after the batch")
        if not fresh:
            second = dt.datetime.now(dt.UTC)
            wait_until(lambda: self.healthy() and self.polled_since(second), "the next poll")
        log.info("a complete poll after the batch: %.1f s", time.monotonic() - started)

    def healthy(self) -> bool:
        """True; raises when a daemon that should run has died."""
        for process in self.processes:
            if process.command == "run" and not process.killed and process.popen.poll() is not None:
                process.check()
        return True

    def settle(self) -> None:
        """Let running daemons deliver what they queued, then stop them (SIGTERM)."""
        if self.live():
            with contextlib.suppress(TimeoutError):
                wait_until(self.drained, "the queue to drain", timeout=TIMEOUT / 2)
        for process in self.live():
            process.stop()

    def drained(self) -> bool:
        """No event waits for delivery."""
        counts = self.open_store().deliveries.counts()
        return not any(c.get(s, 0) for c in counts.values() for s in ("pending", "retrying"))

    # -- mutations and the oracle --------------------------------------------------------------

    def mutate(self, m: Mutation) -> bool:
        """Apply one mutation; log its expected hooks if GitLab took it."""
        done = self.control.apply(m)
        if done is None:
            return False
        self.expected += [Expected(hook=h, order=self.mutations)
                          for h in expect(self.model, done, self.receivers)]  # fmt: skip
        self.model = apply(self.model, done)
        self.mutations += 1
        return True

    def batch(
        self, size: int = 6, *, spread: float = 0.0, mutations: tuple[Mutation, ...] | None = None
    ) -> dt.datetime:
        """Apply one batch (planned unless given), ``spread`` seconds at most between two
        mutations; returns when the batch was complete."""
        planned = mutations or plan_batch(self.model, self.rng, size=size, readd=self.readd)
        for m in planned:
            self.mutate(m)
            if spread:
                time.sleep(self.rng.uniform(0, spread))
        return dt.datetime.now(dt.UTC)

    def gitlab_errors(self) -> tuple[tuple[int, int], ...]:
        """How often the simulator answered 401, 429, 5xx or reset (0), by status."""
        found: dict[int, int] = {}
        for row in self.control.call("GET", "/counters")["counters"]:
            if row["status"] in (0, 401, 429) or row["status"] >= 500:
                found[row["status"]] = found.get(row["status"], 0) + row["count"]
        return tuple(sorted(found.items()))

    def tally(self) -> Tally:
        """What arrived against what the oracle expects."""
        return tally(self.expected, self.recorder.received())

    def close(self) -> None:
        """Kill whatever still runs; stop the receiver; close the store."""
        for process in self.live():
            process.kill()
        self.recorder.stop()
        if self.store is not None:
            self.store.close()
