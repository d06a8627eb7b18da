"""Command ``plan``: what freshness the budget buys on this instance, and what would buy more."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from bridge.cli.common import command, connect, load_settings, open_store, print_table

if TYPE_CHECKING:
    from bridge.model.signals import Capabilities
    from bridge.sync.planner import Allocation


def add_commands(commands: Any) -> None:
    """Register ``plan``."""
    parser = command(
        commands,
        "plan",
        _plan,
        help="predict each class's worst-case delay on this instance and budget",
        description="Read the instance's sizes from the snapshot (run `gitlab-bridge sync` "
        "first) and the signals its version offers (asked of GitLab, or given with --version), "
        "and print, for gitlab.budget, each freshness class's target and predicted worst-case "
        "delay, the reconcile period, and the request rate with nothing changing. A target the "
        "budget cannot hold gets a warning that says what would hold it. Exit 0 when every "
        "target holds, 1 when one does not.",
    )
    parser.add_argument("--json", action="store_true", help="the plan as JSON")
    parser.add_argument(
        "--version",
        dest="gitlab_version",
        metavar="X.Y[-ee]",
        help="plan for this GitLab version instead of asking GitLab (e.g. 16.11 or 17.7-ee)",
    )


def _plan(args: argparse.Namespace) -> int:
    from bridge.sync import batches
    from bridge.sync.batched import BatchReads
    from bridge.sync.planner import allocate, kind_of, load_of
    from bridge.sync.tasks import targets, task_cost, task_keys

    settings = load_settings(args)
    budget = float(settings.gitlab.budget)
    if args.gitlab_version:
        caps, where = _offline(args.gitlab_version), f"GitLab {args.gitlab_version}"
    else:
        caps, where, budget = _online(settings)
    also = settings.poll.access_requests
    with open_store(settings) as store:
        states = {s.name: s for s in store.resource_states()}
        groups = store.ids("group")
        rows = {"users": len(store.ids("user")), "groups": len(groups),
                "projects": len(store.ids("project"))}  # fmt: skip
        # GraphQL batches at the sizes GitLab's scores allowed last time (or the defaults);
        # the lists they read run on their own only when hinted.
        reads = BatchReads(store, batches.batches(caps, access_requests=also), states)
        keys = task_keys(store, caps, groups, batch_keys=reads.task_keys())
        replaced = batches.lists_replace(caps, access_requests=also)
        keys = [k for k in keys if kind_of(k) not in replaced]
    if not rows["users"]:
        print(f"{settings.state.url}: the snapshot is empty; run `gitlab-bridge sync` first, "
              "so the plan knows the instance's size")  # fmt: skip
        return 1
    tasks = [(k, task_cost(states.get(k), k, rows, requests_too=also)) for k in keys]
    wanted = targets(settings)
    allocation = allocate(load_of(tasks), wanted, caps, budget)
    if args.json:
        print(json.dumps(_as_json(allocation, wanted, rows, tasks, caps, where), indent=2))
        return 1 if any(w > wanted.of(k) for k, w in allocation.worst.items()) else 0
    print(f"{settings.gitlab.url} ({where}): {rows['users']:,} users, {rows['groups']:,} groups, "
          f"{rows['projects']:,} projects; a full reconcile reads "
          f"{sum(c for _, c in tasks):,.0f} requests")  # fmt: skip
    on = [k.replace("_", " ") for k, v in dataclasses.asdict(caps).items() if v]
    print(f"signals: new users, groups and projects by id; {', '.join(on) or 'no others'}")
    late = _table(allocation, wanted)
    print(f"budget {budget:,.0f} requests/min; with nothing changing it spends "
          f"{allocation.idle_per_minute:,.0f}/min; every source is re-read at least every "
          f"{_human(allocation.reconcile_period)}")  # fmt: skip
    for line in _advice(allocation, late, caps, budget, settings.gitlab.budget):
        print(f"warning: {line}")
    return 1 if late else 0


def _as_json(
    allocation: Allocation,
    wanted: Any,
    rows: dict[str, int],
    tasks: list[tuple[str, float]],
    caps: Capabilities,
    where: str,
) -> dict[str, object]:
    return {
        "instance": where,
        "sizes": rows,
        "full_reconcile_requests": sum(c for _, c in tasks),
        "signals": dataclasses.asdict(caps),
        "budget_per_minute": allocation.per_minute,
        "needed_per_minute": allocation.needed_per_minute,
        "idle_per_minute": allocation.idle_per_minute,
        "stretch": allocation.stretch,
        "reconcile_period": allocation.reconcile_period,
        "classes": {
            k: {"target": wanted.of(k), "predicted_worst": w} for k, w in allocation.worst.items()
        },
    }


def _table(allocation: Allocation, wanted: Any) -> list[str]:
    """Print the classes; the names of those over their target."""
    rows = [["class", "target", "predicted worst case", ""]]
    late: list[str] = []
    for klass, worst in allocation.worst.items():
        target = wanted.of(klass)
        ok = worst <= target
        if not ok:
            late.append(klass)
        rows.append([klass, _human(target), _human(worst), "ok" if ok else "LATE"])
    print_table(rows)
    return late


def _advice(
    allocation: Allocation, late: list[str], caps: Capabilities, budget: float, configured: int
) -> list[str]:
    """What would hold the targets the budget cannot."""
    if not late:
        return []
    out = [f"{', '.join(late)} cannot meet the target on {budget:,.0f} requests/min"]
    if allocation.stretch > 1:
        out.append(f"a budget of {allocation.needed_per_minute:,.0f} requests/min would hold "
                   "every target")  # fmt: skip
    if budget < configured:
        out.append(f"GitLab's own throttle caps the budget at {budget:,.0f}/min: allowlisting "
                   "the bridge's user from it (Admin > Settings > Network > User and IP rate "
                   "limits) lets it reach gitlab.budget")  # fmt: skip
    if not caps.audit_events:
        out.append("instance audit events (GitLab Premium) would make member changes visible "
                   "within about a minute, whatever the instance's size")  # fmt: skip
    if not caps.graphql_lists:
        out.append("GitLab 13.9 or later reads member lists through GraphQL, many per request "
                   "(gitlab.graphql)")  # fmt: skip
    return out


def _offline(version: str) -> Capabilities:
    from bridge.errors import UsageError
    from bridge.model.records import Instance
    from bridge.model.signals import capabilities

    number, _, edition = version.partition("-")
    parts = number.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts) or edition not in ("", "ee"):
        raise UsageError(f"--version {version!r}: expected X.Y or X.Y-ee, e.g. 16.11 or 17.7-ee")
    full = ".".join([*parts, "0"][:3])
    instance = Instance(url="", version=full, full_version=version, revision="",
                        enterprise=edition == "ee", token_user_id=1, token_username="-",  # noqa: S106 - a user name
                        token_is_admin=True)  # fmt: skip
    return capabilities(instance)


def _online(settings: Any) -> tuple[Capabilities, str, float]:
    source = connect(settings)
    caps = source.capabilities
    if caps.audit_events and not source.probe_audit_events():
        caps = dataclasses.replace(caps, audit_events=False)
    if caps.graphql_lists and not source.probe_graphql():
        caps = source.capabilities  # GraphQL is off there: REST only
    source.instance_limits()
    inst = source.instance
    budget = source.budget.effective if source.budget is not None else settings.gitlab.budget
    edition = "EE" if inst.enterprise else "CE"
    return caps, f"GitLab {inst.version} {edition}", float(budget)


def _human(seconds: float) -> str:
    """90 -> 1m30s; 10800 -> 3h."""
    seconds = round(seconds)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            out.append(f"{n}{unit}")
    return "".join(out[:2]) or "0s"
