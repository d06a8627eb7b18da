"""``gitlab-bridge run`` as a real process against the simulator and a real receiver.

Mutate, see the hooks, SIGTERM, restart, mutate again: nothing lost, nothing repeated (apart
from redeliveries with the same Idempotency-Key). Also: a second daemon on the same state is
refused, SIGHUP reloads or keeps the old configuration, sd_notify messages reach a socket,
and the HTTP endpoints answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bridge.testing.configs import FAST_BUDGET, fast_freshness
from bridge.testing.receiver import Receiver
from bridge.testing.sim.faults import Latency
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

TIMEOUT = 60.0


def write_config(
    path: Path, sim: Simulator, receiver: Receiver, group: int, **extra: object
) -> Path:
    """One system and one group receiver, one-second targets, an ephemeral server port."""
    settings = {
        "gitlab": {"url": sim.url, "token": sim.tokens["admin"], "budget": FAST_BUDGET},
        "state": {"url": f"sqlite:///{path.parent / 'bridge.db'}"},
        "hooks": {
            "system": [{"name": "audit", "url": receiver.url_for("/audit")}],
            "group": [
                {
                    "name": "team",
                    "url": receiver.url_for("/team"),
                    "group": str(group),
                    "member_events": True,
                }
            ],
        },
        "freshness": fast_freshness(),
        "delivery": {"backoff_base": "1s", "backoff_cap": "2s"},
        "server": {"listen": "127.0.0.1:0", "token": "metrics-secret"},
        "daemon": {"shutdown_timeout": "10s", "status_interval": "1s"},
        **extra,
    }
    path.write_text(json.dumps(settings))
    return path


class Daemon:
    """A ``gitlab-bridge run`` subprocess and the URL it serves on."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line.startswith("listening "), line or self.process.stderr.read()  # type: ignore[union-attr]
        self.url = line.removeprefix("listening ")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send ``sig``; the exit code and everything logged."""
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=TIMEOUT)
        return self.process.returncode, err

    def get(self, path: str, **headers: str) -> requests.Response:
        """GET from the daemon's HTTP server."""
        return requests.get(self.url + path, headers=headers, timeout=10)


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds, or fail naming ``what``."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def events(receiver: Receiver, path: str) -> list[tuple[str, str]]:
    """(event_name, Idempotency-Key) of every accepted delivery to ``path``, in arrival order."""
    return [
        (str(d.json().get("event_name")), d.header("Idempotency-Key") or "")
        for d in receiver.deliveries(path)
        if d.reply_status == 200
    ]


def test_run_survives_a_restart_without_losing_or_repeating(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """Hooks arrive; SIGTERM exits 0; after a restart later changes arrive, none twice."""
    sim = make_sim("small", version="16.11")
    world = sim.world
    top = world.add_group("e2e", name="E2E")
    config = write_config(tmp_path / "config.yaml", sim, receiver, top.id)
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.get("/-/ready", Authorization="Bearer metrics-secret").ok,
                   "readiness after the first polls")  # fmt: skip
        assert receiver.deliveries() == []  # the baseline is silent
        alice = world.add_user("alice", name="Alice")
        # Each resource polls on its own schedule: a membership made before the users poll saw
        # its user could be queued first. GitLab fires user_create first; so does this story.
        wait_until(lambda: len(events(receiver, "/audit")) == 1, "user_create")
        world.add_member("group", top.id, alice.id, 30)
        wait_until(lambda: len(events(receiver, "/team")) == 1, "the member hook")
        wait_until(lambda: len(events(receiver, "/audit")) == 2, "two system hooks")
        delivered = 'gitlab_bridge_deliveries_total{outcome="delivered",receiver="audit"} 2.0'
        wait_until(
            lambda: delivered in daemon.get("/metrics", Authorization="Bearer metrics-secret").text,
            "the delivery counter",
        )
        assert daemon.get("/metrics").status_code == 401  # the token is required
        assert daemon.get("/-/health").json() == {"status": "ok"}
        # A change GitLab makes while the bridge is down must not be lost.
        code, log = daemon.stop()
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    assert code == 0, log
    assert "stopped" in log
    world.update_member("group", top.id, alice.id, access_level=40)
    world.add_user("bob", name="Bob")
    daemon = Daemon(config)
    try:
        wait_until(lambda: len(events(receiver, "/audit")) == 4, "the changes made while down")
        wait_until(lambda: len(events(receiver, "/team")) == 2, "the member update")
        world.remove_user(alice.id)  # her membership goes first, with its hooks (cascades)
        wait_until(lambda: len(events(receiver, "/audit")) == 6, "the destroy")
        wait_until(lambda: len(events(receiver, "/team")) == 3, "the membership's removal")
        time.sleep(2.5)  # two more polls of everything: nothing more may arrive
    finally:
        code, log = daemon.stop(signal.SIGINT)
    assert code == 0, log
    audit = events(receiver, "/audit")
    assert sorted(name for name, _ in audit[2:4]) == ["user_create", "user_update_for_group"]
    assert [name for name, _ in audit[:2] + audit[4:]] == [
        "user_create",
        "user_add_to_group",
        "user_remove_from_group",
        "user_destroy",
    ]
    assert [name for name, _ in events(receiver, "/team")] == [
        "user_add_to_group",
        "user_update_for_group",
        "user_remove_from_group",
    ]
    keys = [key for _, key in audit + events(receiver, "/team")]
    assert len(keys) == len(set(keys))  # nothing delivered twice


def test_a_second_daemon_on_the_same_state_is_refused(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """Exit 73 with a one-line message naming the running daemon's pid and the lock; a
    one-shot ``sync`` is refused the same way (two pollers would both queue each change)."""
    sim = make_sim("small", version="16.11")
    config = write_config(tmp_path / "config.yaml", sim, receiver, sim.world.add_group("g").id)
    first = Daemon(config)
    try:
        refused = [
            subprocess.run(
                [sys.executable, "-m", "bridge", command, "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            for command in ("run", "sync")
        ]
    finally:
        code, _ = first.stop()
    assert code == 0
    for second in refused:
        assert second.returncode == 73, second.stderr
        message = second.stderr.strip().splitlines()[-1]
        assert message == (
            f"gitlab-bridge: another gitlab-bridge (pid {first.process.pid}) already runs on "
            f"this state: {tmp_path / 'bridge.db.lock'}"
        )


def test_sighup_reloads_or_keeps_the_old_configuration(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """A broken file is refused and logged; a good one is applied (a new receiver gets hooks)."""
    sim = make_sim("small", version="16.11")
    top = sim.world.add_group("hup")
    config = write_config(tmp_path / "config.yaml", sim, receiver, top.id)
    good = config.read_text()
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.get("/-/ready", Authorization="Bearer metrics-secret").ok,
                   "readiness")  # fmt: skip
        config.write_text("gitlab: {url: nowhere}\n")
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(lambda: reloads(daemon, "refused") == 1, "the refused reload")
        assert daemon.process.poll() is None  # still running on the old configuration
        data = json.loads(good)
        data["hooks"]["system"].append({"name": "second", "url": receiver.url_for("/second")})
        config.write_text(json.dumps(data))
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(lambda: reloads(daemon, "applied") == 1, "the applied reload")
        sim.world.add_user("after-reload")
        wait_until(lambda: len(events(receiver, "/second")) == 1, "the new receiver's hook")
    finally:
        code, log = daemon.stop()
    assert code == 0, log
    assert "reload refused, keeping the previous configuration: gitlab.url: must be" in log
    assert "configuration reloaded" in log


def reloads(daemon: Daemon, outcome: str) -> int:
    """gitlab_bridge_config_reloads_total{outcome} as the daemon reports it."""
    text = daemon.get("/metrics", Authorization="Bearer metrics-secret").text
    line = f'gitlab_bridge_config_reloads_total{{outcome="{outcome}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return int(float(found[0].removeprefix(line))) if found else 0


def test_sd_notify_ready_status_and_watchdog(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """READY=1 after connecting, STATUS= summaries, WATCHDOG=1 pings, STOPPING=1 at the end."""
    sim = make_sim("small", version="16.11")
    config = write_config(tmp_path / "config.yaml", sim, receiver, sim.world.add_group("n").id)
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(TIMEOUT)
    messages: list[str] = []
    daemon = Daemon(config, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    try:
        while not any(m.startswith("WATCHDOG=1") for m in messages) or not any(
            "STATUS=polled users" in m for m in messages
        ):
            messages.append(listener.recv(4096).decode())
    finally:
        code, log = daemon.stop()
        listener.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            while True:  # everything sent up to the exit
                messages.append(listener.recv(4096).decode())
        listener.close()
    assert code == 0, log
    ready = next(i for i, m in enumerate(messages) if m.startswith("READY=1"))
    assert messages[ready].startswith("READY=1\nSTATUS=connected to ")
    summary = next(m for m in messages if "STATUS=polled users" in m)
    assert "queue 0; dead 0" in summary
    assert "STOPPING=1" in messages


def test_sigterm_during_a_hung_read_exits_at_once(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """A read stuck on a slow GitLab does not hold the stop: it wrote nothing, so it is
    abandoned at once, and the change it was reading arrives after the restart."""
    sim = make_sim("small", version="16.11")
    config = write_config(tmp_path / "config.yaml", sim, receiver, sim.world.add_group("slow").id)
    data = json.loads(config.read_text())
    data["daemon"]["shutdown_timeout"] = "1s"
    config.write_text(json.dumps(data))
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.get("/-/ready", Authorization="Bearer metrics-secret").ok,
                   "readiness")  # fmt: skip
        sim.world.add_user("while-slow")
        sim.faults.latency = Latency(fixed_ms=8000)  # every request now hangs for 8 s
        time.sleep(2.0)  # a poll is waiting on GitLab
        started = time.monotonic()
        code, log = daemon.stop()
        took = time.monotonic() - started
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    assert code == 0, log
    assert "reads in flight; nothing of them was written" in log
    assert took < 5.0  # the 1 s timeout plus start-up of the exit, not the 8 s request
    sim.faults.latency = Latency()
    daemon = Daemon(config)
    try:
        wait_until(lambda: len(events(receiver, "/audit")) == 1, "the change made before the stop")
        time.sleep(2.5)
    finally:
        code, log = daemon.stop()
    assert code == 0, log
    assert [name for name, _ in events(receiver, "/audit")] == ["user_create"]
