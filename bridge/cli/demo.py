"""``gitlab-bridge demo``: the daemon against the simulator, a receiver, and a story.

Everything runs in this process on loopback ports, with the state in a temporary directory:
the simulated GitLab (``small`` dataset, 16.11), a receiver that prints each hook as it
arrives, and the real ``Daemon`` with two-second freshness targets. Each step of the story
changes the simulated GitLab the way an admin would, then waits until its hooks have arrived,
none has followed for a moment, and every queued hook has been delivered.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bridge import config
from bridge.service.daemon import Daemon
from bridge.service.sdnotify import Notifier
from bridge.service.signals import wait_for_stop
from bridge.sync.reconciler import TickReport
from bridge.testing.configs import FAST_BUDGET, fast_freshness
from bridge.testing.receiver import Delivery, Receiver
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.world import World

QUIET = 1.5  # seconds without a new hook before a step counts as done
HOOK_TOKEN = "demo-secret"  # noqa: S105 - the demo receiver's X-Gitlab-Token, printed on purpose


@dataclass
class _Step:
    label: str
    change: Callable[[], object]
    hooks: list[Delivery] = field(default_factory=list)
    seconds: float | None = None  # from the change to its last hook
    number: int = 0


class _Watch:
    """Polls seen by the daemon and hooks seen by the receiver, for waiting on both."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Condition()
        self.ticks = 0  # reconcile ticks that read something
        self.step: _Step | None = None
        self.started = 0.0
        self.last_hook = 0.0

    def ticked(self, _name: str, report: TickReport | None) -> None:
        with self.lock:
            if report is not None and report.reads:
                self.ticks += 1
            self.lock.notify_all()

    def arrived(self, delivery: Delivery) -> None:
        with self.lock:
            step = self.step
            if step is not None:
                step.hooks.append(delivery)
                step.seconds = time.monotonic() - self.started
                self.last_hook = time.monotonic()
            where = f"step {step.number}" if step is not None else "later"
            print(f"  [{where}] {_describe(delivery)}", file=self.out, flush=True)
            self.lock.notify_all()

    def wait(self, until: Callable[[], bool], timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(until, timeout)


def run_demo(*, forever: bool = False, seconds: float = 30.0, out: TextIO = sys.stdout) -> int:
    """Play the story; 0 when every step produced its hooks within ``seconds``."""
    watch = _Watch(out)
    with tempfile.TemporaryDirectory(prefix="gitlab-bridge-demo-") as tmp:
        sim = Simulator.from_dataset("small", seed=0, version="16.11")
        world = sim.world
        acme = world.add_group("acme", name="Acme")
        platform = world.add_group("platform", name="Platform", parent_id=acme.id)
        partners = world.add_group("partners", name="Partners")
        portal = world.add_project("portal", name="Portal", namespace_id=partners.id)
        dana = world.add_user("dana", name="Dana Scully", email="dana@example.com")
        world.add_member("group", platform.id, dana.id, 30)
        with sim, Receiver(on_delivery=watch.arrived) as receiver:
            path = _write_config(Path(tmp), sim, receiver, str(acme.id))
            settings = config.load(path)
            daemon = Daemon(str(path), settings, notifier=Notifier({}), on_poll=watch.ticked)
            print(f"GitLab simulator: {sim.url} (GitLab {sim.profile.version_string})", file=out)
            print(f"receiver:         {receiver.url} ({_RECEIVERS})", file=out)
            print(f"state:            {settings.state.url}", file=out)
            started = time.monotonic()
            daemon.start()
            try:
                print(f"bridge:           {daemon.server.url if daemon.server else '-'} "
                      "(/metrics, /-/ready, /api/v4/projects/:id/groups)", file=out)  # fmt: skip
                if not watch.wait(lambda: daemon.health.problem() is None, seconds):
                    print("the first reads did not finish in time", file=out)
                    return 1
                snap = world.snapshot()
                print(
                    f"\nbaseline: {len(snap.users)} users, {len(snap.groups)} groups, "
                    f"{len(snap.projects)} projects recorded silently in "
                    f"{time.monotonic() - started:.1f}s; now the story.\n",
                    file=out,
                    flush=True,
                )
                steps = _story(world, acme.id, platform.id, portal.id, dana.id)
                ok = all(_play(n, step, watch, daemon, seconds) for n, step in enumerate(steps, 1))
                _summary(steps, out)
                if forever:
                    print(
                        f"\nstill running: change the simulator through {sim.url}/-/sim/ or "
                        f"look at `gitlab-bridge status --config {path}`; Ctrl-C stops.",
                        file=out,
                        flush=True,
                    )
                    with watch.lock:
                        watch.step = None
                    wait_for_stop()
                return 0 if ok else 1
            finally:
                daemon.stop()


_RECEIVERS = "audit: every System Hook; team: group hook on acme and its subgroups"


def _write_config(tmp: Path, sim: Simulator, receiver: Receiver, group: str) -> Path:
    path = tmp / "config.yaml"
    settings = {
        "state": {"url": f"sqlite:///{tmp / 'bridge.db'}"},
        "hooks": {
            "system": [{"name": "audit", "url": receiver.url_for("/audit"), "token": HOOK_TOKEN}],
            "group": [
                {
                    "name": "team",
                    "url": receiver.url_for("/team"),
                    "token": HOOK_TOKEN,
                    "group": group,
                    "member_events": True,
                    "subgroup_events": True,
                    "project_events": True,
                }
            ],
        },
        # Every class within a second or two: the simulator is small and answers at once.
        "gitlab": {"url": sim.url, "token": sim.tokens["admin"], "budget": FAST_BUDGET},
        "freshness": fast_freshness("2s"),
        "delivery": {"backoff_base": "1s", "backoff_cap": "5s"},
        "payloads": {"share_events": True},
        "server": {"listen": "127.0.0.1:0"},
        "daemon": {"shutdown_timeout": "10s"},
    }
    path.write_text(json.dumps(settings, indent=2))  # JSON is YAML
    return path


def _story(world: World, acme: int, platform: int, portal: int, dana: int) -> list[_Step]:
    hire: dict[str, int] = {}

    def new_user() -> None:
        hire["id"] = world.add_user("newbie", name="New Hire", email="newbie@example.com").id

    return [
        _Step("a new user, newbie, signs up", new_user),
        _Step(
            "newbie joins acme/platform as Developer (team watches acme and its subgroups)",
            lambda: world.add_member("group", platform, hire["id"], 30),
        ),
        _Step(
            "partners/portal is shared with acme/platform (Developer)",
            lambda: world.share("project", portal, platform, 30),
        ),
        _Step(
            "partners/portal is renamed to customer-portal",
            lambda: world.update_project(portal, path="customer-portal", name="Customer Portal"),
        ),
        _Step(
            "partners/customer-portal is transferred into acme",
            lambda: world.update_project(portal, namespace_id=acme),
        ),
        _Step(
            "newbie becomes Maintainer of acme/platform",
            lambda: world.update_member("group", platform, hire["id"], access_level=40),
        ),
        _Step("dana's account is deleted", lambda: world.remove_user(dana)),
    ]


def _play(n: int, step: _Step, watch: _Watch, daemon: Daemon, seconds: float) -> bool:
    """Apply one change and wait for its poll and its hooks."""
    step.number = n
    print(f"step {n}: {step.label}", file=watch.out, flush=True)
    with watch.lock:
        watch.step, watch.started = step, time.monotonic()
    step.change()
    deadline = time.monotonic() + seconds

    def settled() -> bool:
        # A change can make several hooks, read a moment apart: wait for a quiet spell.
        quiet = time.monotonic() - watch.last_hook > QUIET
        return bool(step.hooks) and quiet and daemon.status().queue_depth == 0

    while not watch.wait(settled, 0.2):
        if time.monotonic() > deadline:
            print("    (no hook arrived in time)", file=watch.out, flush=True)
            return False
    with watch.lock:
        watch.step = None
    return True


def _summary(steps: list[_Step], out: TextIO) -> None:
    total = sum(len(s.hooks) for s in steps)
    print(f"\nsummary: {total} hooks for {len(steps)} changes", file=out)
    for n, step in enumerate(steps, 1):
        events = ", ".join(sorted({_event(d) for d in step.hooks})) or "none"
        took = f"{step.seconds:.1f}s" if step.seconds is not None else "-"
        print(f"  {n}. {len(step.hooks)} hooks after {took:>5}: {events}", file=out)
    print(
        "\nEach hook carries GitLab's headers (X-Gitlab-Event, X-Gitlab-Token, "
        "Idempotency-Key, ...) and GitLab's exact JSON body.",
        file=out,
        flush=True,
    )


def _event(delivery: Delivery) -> str:
    with contextlib.suppress(ValueError):
        data = delivery.json()
        if isinstance(data, dict):
            return str(data.get("event_name") or data.get("object_kind") or "?")
    return "?"


_DETAIL_KEYS = (
    "username", "user_username", "old_username", "group_path", "full_path",
    "path_with_namespace", "old_path_with_namespace", "group_access", "project_access",
    "project_path_with_namespace", "group_full_path",
)  # fmt: skip


def _describe(delivery: Delivery) -> str:
    """``-> team    Member Hook      user_add_to_group  newbie -> acme/platform (Developer)``."""
    receiver = delivery.path.strip("/")
    kind = delivery.header("X-Gitlab-Event") or "-"
    data: dict[str, object] = {}
    with contextlib.suppress(ValueError):
        loaded = delivery.json()
        data = loaded if isinstance(loaded, dict) else {}
    detail = ", ".join(f"{key}={data[key]}" for key in _DETAIL_KEYS if key in data)
    return f"-> {receiver:<6} {kind:<12} {_event(delivery):<24} {detail}"
