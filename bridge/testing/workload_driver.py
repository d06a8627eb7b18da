"""The workload's hands: it applies planned changes to a simulated GitLab in real time and
writes the ground truth, one JSON line per change GitLab accepted.

Each line: ``t`` (wall-clock seconds when GitLab had applied it), ``class``, the mutation, and
``hooks``: every (receiver, X-Gitlab-Event, event name, ids) GitLab sends for it, from the
oracle (``bridge.testing.oracle``). ``bench/freshness.py`` compares the receiver's record with
it (docs/freshness.md).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from bridge.testing.driver import Control
from bridge.testing.mutations import Model, Mutation, apply
from bridge.testing.oracle import Receivers, expect
from bridge.testing.workload import Planner, Population, Rates, Schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a run did: applied changes per class, and arrivals that found nothing to change or
    that GitLab refused."""

    applied: dict[str, int]
    skipped: int
    refused: int
    hooks: int


def load_model(control: Control) -> tuple[Model, Population]:
    """The whole instance as a ``Model``, from ``GET /-/sim/world``."""
    dump = control.call("GET", "/world")
    model = Model(
        users=frozenset(u for u, _state, _kind in dump["users"]),
        groups=dict(dump["groups"]),
        projects=dict(dump["projects"]),
        members={(kind, s, u): level for kind, s, u, level in dump["members"]},
        shares={(kind, s, g): level for kind, s, g, level in dump["shares"]},
    )
    eligible = tuple(u for u, state, kind in dump["users"] if state == "active" and kind == "human")
    return model, Population(eligible_users=eligible)


def run(
    control: Control,
    *,
    seconds: float,
    rates: Rates,
    receivers: Receivers,
    out: IO[str],
    seed: int = 0,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Outcome:
    """Apply arrivals due within ``seconds`` as they fall due, logging each to ``out``."""
    stop = stop or threading.Event()
    rng = random.Random(seed)
    model, population = load_model(control)
    planner = Planner(rng, population)
    schedule = Schedule(rates, rng, horizon=seconds)
    applied: Counter[str] = Counter()
    skipped = refused = hooks = 0
    start = clock()
    while not stop.is_set():
        arrival = schedule.pop()
        if arrival is None:
            break
        if stop.wait(max(0.0, start + arrival.at - clock())):
            break
        proposed = planner.propose(model, arrival)
        if proposed is None:
            skipped += 1
            continue
        done = control.apply(proposed)
        if done is None:
            refused += 1
            continue
        at = wall()
        expected = expect(model, done, receivers)
        model = apply(model, done)
        planner.applied(done)
        if done.op == "user_create" and done.target is not None:
            schedule.provision(arrival.at, done.target)
        applied[arrival.klass] += 1
        hooks += len(expected)
        out.write(json.dumps(_line(at, arrival.klass, done, expected)) + "\n")
        out.flush()
    return Outcome(applied=dict(applied), skipped=skipped, refused=refused, hooks=hooks)


def _line(at: float, klass: str, m: Mutation, hooks: Any) -> dict[str, Any]:
    return {
        "t": round(at, 3),
        "class": klass,
        "mutation": {k: v for k, v in asdict(m).items() if v is not None},
        "hooks": [[h.receiver, h.kind, h.event, list(h.ids)] for h in hooks],
    }


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every line of a ground-truth log."""
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]
