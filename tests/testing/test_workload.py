"""The workload: Poisson arrivals per class, provisioning follow-ups, valid picks, and the
``sim workload`` command against a real simulator (docs/freshness.md#the-workload)."""

from __future__ import annotations

import itertools
import json
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.testing.driver import Control
from bridge.testing.mutations import apply
from bridge.testing.oracle import Receivers, expect
from bridge.testing.sim.simulator import Simulator
from bridge.testing.workload import Arrival, Planner, Rates, Schedule
from bridge.testing.workload_driver import load_model, read_log

ZERO = {name: 0.0 for name, _ in Rates().items()}


def arrivals(rates: Rates, horizon: float, seed: int) -> list[Arrival]:
    schedule = Schedule(rates, random.Random(seed), horizon=horizon)
    out = []
    while (a := schedule.pop()) is not None:
        out.append(a)
    return out


def test_each_class_arrives_at_its_rate() -> None:
    """Over 200 simulated hours the count per class is its rate within 5 %, and gaps are
    exponential (mean equals standard deviation)."""
    rates = Rates(**(ZERO | {"group_member": 60.0, "destroy": 5.0}))
    got = arrivals(rates, 200 * 3600, seed=7)
    counts = {k: sum(1 for a in got if a.klass == k) for k in ("group_member", "destroy")}
    assert abs(counts["group_member"] - 12_000) < 600
    assert abs(counts["destroy"] - 1_000) < 100
    times = [a.at for a in got if a.klass == "group_member"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert abs(statistics.fmean(gaps) - 60) < 3
    assert abs(statistics.pstdev(gaps) - 60) < 5
    assert times == sorted(times)
    assert max(times) <= 200 * 3600


def test_a_new_user_joins_one_to_three_groups_within_a_minute() -> None:
    schedule = Schedule(Rates(**ZERO), random.Random(1), horizon=10)
    joins = [schedule.provision(5.0, user=99) for _ in range(200)]
    follow = []
    while (a := schedule.pop()) is not None:
        follow.append(a)
    assert set(joins) == {1, 2, 3}
    assert len(follow) == sum(joins)
    assert all(a.klass == "new_user_access" and a.user == 99 for a in follow)
    assert all(5.0 < a.at <= 65.0 for a in follow)  # past the horizon: they still come


def test_rates_parse_names_the_culprit() -> None:
    assert Rates.parse(["share=2.5"]).share == 2.5
    for bad, word in (("nope=3", "nope"), ("share", "CLASS=N"), ("share=x", "'x'"),
                      ("share=-1", ">= 0")):  # fmt: skip
        with pytest.raises(ValueError, match=word):
            Rates.parse([bad])


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator.from_dataset("small", version="16.11") as started:
        yield started


def test_every_proposal_is_one_gitlab_accepts(sim: Simulator) -> None:
    """300 proposals of every class, applied one by one to the simulator: none is refused, and
    the model stays equal to the world's structure."""
    control = Control(sim.url)
    model, population = load_model(control)
    planner = Planner(random.Random(5), population)
    receivers = Receivers(system=("system",), share_events=True)
    classes = [k for k, _ in Rates().items()] + ["new_user_access"]
    applied = 0
    for n in range(300):
        klass = classes[n % len(classes)]
        user = next(iter(planner.users)) if klass == "new_user_access" else None
        m = planner.propose(model, Arrival(at=n, klass=klass, user=user))
        if m is None:
            continue
        done = control.apply(m)
        assert done is not None, f"refused: {m}"
        assert expect(model, done, receivers), f"no hook expected for {done}"
        model, applied = apply(model, done), applied + 1
        planner.applied(done)
    assert applied > 250
    fresh, _ = load_model(control)
    assert (fresh.groups, fresh.projects) == (model.groups, model.projects)
    assert (fresh.members, fresh.shares) == (model.members, model.shares)


def test_the_command_logs_each_change_with_its_hooks(sim: Simulator, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    rates = ["new_user=1800", "group_member=3600", "project_member=3600", "share=1800"]
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sim", "workload", "--url", sim.url, "--minutes",
         "0.1", "--truth", str(truth), "--receiver", "audit", "--share-events", "--seed", "2",
         *(f"--rate={r}" for r in rates), "--rate=destroy=0", "--rate=project_create=0",
         "--rate=rename_transfer=0", "--rate=group_create=0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = read_log(truth)
    assert len(lines) >= 5
    assert "hooks expected" in done.stdout
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    for line in lines:
        assert line["class"] in ("new_user", "new_user_access", "group_member",
                                 "project_member", "share")  # fmt: skip
        assert line["hooks"]
        assert all(h[0] == "audit" for h in line["hooks"])
    users = [line for line in lines if line["class"] == "new_user"]
    joins = [line for line in lines if line["class"] == "new_user_access"]
    if users:
        new_ids = {u["mutation"]["target"] for u in users}
        assert joins
        assert {j["mutation"]["other"] for j in joins} <= new_ids
        assert all(j["hooks"][0][2] == "user_add_to_group" for j in joins)
    assert json.loads(truth.read_text().splitlines()[0])["mutation"]["op"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--minutes", "0"], "--minutes"),
        (["--rate", "bogus=1"], "--rate"),
        (["--truth", "/nonexistent/dir/t.jsonl"], "--truth"),
    ],
)
def test_bad_arguments_get_one_line_and_a_usage_exit(
    sim: Simulator, tmp_path: Path, argv: list[str], message: str
) -> None:
    base = ["--url", sim.url, "--truth", str(tmp_path / "t.jsonl"), "--minutes", "0.01"]
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sim", "workload", *base, *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode in (64, 78), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_simulator_is_one_line_and_69(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sim", "workload", "--url", "http://127.0.0.1:9",
         "--truth", str(tmp_path / "t.jsonl"), "--minutes", "0.01"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 69
    assert "--url" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
