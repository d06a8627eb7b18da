"""The soak's scenarios; ``run`` reports one or more of them, run in one world, as a ``Row``.

``run`` sets the world up (silently, before the bridge's baseline), runs each scenario's cycles
in turn (each starts and ends with no bridge process running), then finishes the same way for
all: one clean ``sync``, ``deliver`` until nothing waits, and the comparison with the oracle
(docs/soak.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bridge.testing.mutations import Mutation, apply, plan_batch, readd_script
from bridge.testing.oracle import GroupReceiver, Receivers, Tally
from bridge.testing.soak import PG_ADMIN_URL, Soak, state_url

KILL_WINDOW = 3.0  # seconds after a batch within which the bridge is killed
BURST = 2.0  # seconds of 429s, or of a revoked token; polls run every second
FAULTS = (  # 5 % 5xx, 1 % connection resets, 1 % truncated bodies
    {"kind": "status", "status": 500, "fraction": 0.02},
    {"kind": "status", "status": 502, "fraction": 0.02},
    {"kind": "status", "status": 503, "fraction": 0.01},
    {"kind": "reset", "fraction": 0.01},
    {"kind": "truncate", "fraction": 0.01},
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One scenario's figures."""

    scenario: str
    store: str
    cycles: int
    mutations: int
    tally: Tally
    seconds: float
    gitlab_errors: tuple[tuple[int, int], ...] = ()  # (status, count): 401, 429, 5xx, 0 = reset


def setup(soak: Soak) -> None:
    """Users, a hooked group tree and a bystander tree, projects, members and links; the group
    receivers ``team`` (on the top group) and ``sub`` (on its subgroup) take every group event."""
    tag = f"{soak.rng.randrange(16**6):06x}"

    def make(m: Mutation) -> int:
        done = soak.control.apply(m)
        assert done is not None, f"setup refused {m}"
        assert done.target is not None
        soak.model = apply(soak.model, done)
        return done.target

    for n in range(8):
        make(Mutation(op="user_create", name=f"soak-{tag}-user-{n}"))
    top = make(Mutation(op="group_create", name=f"soak-{tag}-top"))
    sub = make(Mutation(op="group_create", parent=top, name="sub"))
    other = make(Mutation(op="group_create", name=f"soak-{tag}-other"))
    soak.model = replace(soak.model, fixed=frozenset({top, sub, other}))
    for n, parent in enumerate((top, sub, other)):
        make(Mutation(op="group_create", parent=parent, name=f"inner-{n}"))
    for group in sorted(soak.model.groups):
        make(Mutation(op="project_create", parent=group, name=f"soak-{tag}-project-{group}"))
    for _ in range(3):
        for m in plan_batch(soak.model, soak.rng, size=8, readd=False):
            done = soak.control.apply(m)
            if done is not None:
                soak.model = apply(soak.model, done)
    soak.receivers = Receivers(
        system=("audit",),
        group=(
            GroupReceiver(name="team", group=top, member_events=True, subgroup_events=True,
                          project_events=True),
            GroupReceiver(name="sub", group=sub, member_events=True, subgroup_events=True,
                          project_events=True),
        ),
        share_events=True,
    )  # fmt: skip


# -- scenarios: each starts from a world with no bridge running and leaves it so -----------------


def now() -> dt.datetime:
    """Wall-clock UTC, as the bridge stamps its polls."""
    return dt.datetime.now(dt.UTC)


def kill_run(soak: Soak, cycles: int) -> None:
    """``run`` killed with SIGKILL at a random moment after each batch, then restarted."""
    started = now()
    daemon = soak.start("run")
    soak.wait_pass(started, fresh=True)
    for _ in range(cycles):
        soak.batch()
        time.sleep(soak.rng.uniform(0, KILL_WINDOW))
        daemon.kill()
        started = now()
        daemon = soak.start("run")
        soak.wait_pass(started, fresh=True)  # polls by the new process began after the batch
    soak.settle()


def kill_sync(soak: Soak, cycles: int) -> None:
    """``sync`` killed with SIGKILL at a random moment of a pass, then run to completion."""
    if not soak.open_store().resource_states():
        soak.sync_until_complete()  # the baseline
    for _ in range(cycles):
        soak.batch()
        soak.sync(kill_after=soak.rng.uniform(1.0, KILL_WINDOW + 2))  # ~2 s to start
        soak.sync_until_complete()


def faults(soak: Soak, cycles: int) -> None:
    """5xx, resets and truncated bodies throughout; by turns a burst of 429s with Retry-After,
    one without headers, the bridge's token revoked and restored, and nothing more."""
    started = now()
    daemon = soak.start("run")
    soak.wait_pass(started, fresh=True)
    for rule in FAULTS:
        soak.control.call("POST", "/faults", rule)
    for cycle in range(cycles):
        mode = cycle % 4
        if mode in (0, 1):
            throttle = {"limit": 10, "period": 1, "strip_headers": mode == 1}
            soak.control.call("PUT", "/rate_limit", throttle)
        if mode == 2:
            soak.control.call("DELETE", f"/tokens/{soak.token}")
        at = soak.batch()
        if mode in (0, 1, 2):
            time.sleep(BURST)  # polls meanwhile meet 429s (or 401s)
            soak.control.call("DELETE", "/rate_limit")
            soak.control.call("POST", "/tokens", {"user_id": 1, "token": soak.token})
        soak.wait_pass(at)
    soak.control.call("DELETE", "/faults")
    assert daemon.popen.poll() is None, "the daemon died under faults"
    soak.settle()


def paging(soak: Soak, cycles: int) -> None:
    """Five rows a page and 10-30 ms a request: mutations land while polls walk the pages."""
    soak.configure(gitlab={"per_page": 5})
    soak.control.call("PUT", "/latency", {"fixed_ms": 10, "jitter_ms": 20})
    started = now()
    soak.start("run")
    soak.wait_pass(started, fresh=True)
    for _ in range(cycles):
        soak.wait_pass(soak.batch(spread=0.5))
    soak.control.call("DELETE", "/faults")  # also clears the latency
    soak.settle()
    soak.configure()


def receiver_down(soak: Soak, cycles: int) -> None:
    """The receivers refuse connections for half of the cycles, then come back."""
    started = now()
    soak.start("run")
    soak.wait_pass(started, fresh=True)
    down = range(cycles // 4, cycles // 4 + max(1, cycles // 2))
    for cycle in range(cycles):
        if cycle == down.start:
            soak.recorder.down()
        if cycle == down.stop:
            soak.recorder.up()
        soak.wait_pass(soak.batch())
    if not soak.recorder.running:
        soak.recorder.up()
    soak.settle()


def two_daemons(soak: Soak, cycles: int) -> None:
    """Two ``run`` on one PostgreSQL state; the poller (the lease holder) is killed each cycle."""
    started = now()
    soak.start("run")
    soak.start("run")
    soak.wait_pass(started, fresh=True)
    for _ in range(cycles):
        at = soak.batch()
        time.sleep(soak.rng.uniform(0, KILL_WINDOW))
        pollers = [p for p in soak.live() if p.says("this instance polls")]
        for process in pollers or [soak.rng.choice(soak.live())]:
            process.kill()
            soak.start("run")
        soak.wait_pass(at)
    soak.settle()


def readd(soak: Soak, cycles: int) -> None:
    """Add, remove, add, remove, add at another level: one group member, project member,
    group link and project link, each step seen by its own ``sync`` (issue 12)."""
    soak.sync_until_complete()
    for _ in range(max(1, cycles // 5)):
        for batch in readd_script(soak.model):
            soak.batch(mutations=batch)
            soak.sync_until_complete()


SCENARIOS: dict[str, Callable[[Soak, int], None]] = {
    "kill-run": kill_run,
    "kill-sync": kill_sync,
    "faults": faults,
    "paging": paging,
    "receiver-down": receiver_down,
    "two-daemons": two_daemons,
    "readd": readd,
}
POSTGRES_ONLY = frozenset({"two-daemons"})


def finish(soak: Soak) -> Tally:
    """One clean ``sync``, then ``deliver`` until nothing waits; compare with the oracle."""
    soak.settle()
    soak.sync_until_complete()
    for _ in range(60):
        if soak.drained() or soak.command("deliver") == 0:
            break
        time.sleep(0.5)  # rows a killed process leased wait for their lease
    return soak.tally()


def run(
    scenarios: Sequence[str],
    *,
    store: str,
    cycles: int,
    sim: Callable[[], contextlib.AbstractContextManager[tuple[str, str]]],
    folder: Path,
    seed: int = 0,
    readd_in_mix: bool = True,
    admin_url: str = PG_ADMIN_URL,
) -> Row:
    """Run scenarios one after the other in one world on ``store`` (sqlite or postgresql),
    against a fresh simulator; one row for them all."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    name = "+".join(scenarios)
    rng = random.Random(f"{seed}:{store}:{name}")  # each scenario and store its own mutations
    with sim() as (url, _admin_token), state_url(store, folder, admin_url) as state:
        soak = Soak(sim_url=url, state=state, folder=folder, rng=rng, readd=readd_in_mix)
        try:
            setup(soak)
            soak.configure()
            soak.open_store()
            for scenario in scenarios:
                SCENARIOS[scenario](soak, cycles)
            result = finish(soak)
            errors = soak.gitlab_errors()
        finally:
            soak.close()
    return Row(scenario=name, store=store, cycles=cycles, mutations=soak.mutations,
               tally=result, seconds=round(time.monotonic() - started, 1),
               gitlab_errors=errors)  # fmt: skip
