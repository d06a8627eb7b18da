"""Sync use case: one pass over every resource, poll -> diff -> confirm -> events -> store.

Phases run in order users, groups (+ group shares), projects (+ project shares), then the direct
members of every group and project (``bridge.sync.phases``, ``bridge.sync.members``). Each
resource commits its snapshot changes, its outbox rows and its bookkeeping in ONE transaction,
so a crash or a failed listing leaves the previous snapshot in place and the next run finds the
same changes again (with the same event ids, since they derive from the snapshot revision
before the change).

- Baseline: a resource without ``baseline_at`` is written silently, unless
  ``payloads.emit_baseline`` (then its creates are queued). The member list of a group or project
  created after its resource's baseline is not silent: its first members are real adds.
- No false removals: ``bridge.sync.confirm``.
- Destroys wait for the end of the pass and go in GitLab's order: projects, groups (children
  first), users (docs/events.md#order-within-a-poll), each in its own transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bridge.clock import Clock
from bridge.config.settings import Settings
from bridge.errors import SourceError
from bridge.model.ledger import RESOURCES, Resource
from bridge.ports import SnapshotStore, Source
from bridge.sync import members, phases
from bridge.sync.state import Pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    """What one sync pass found, queued and cost."""

    resources: int  # resources written: users, groups, projects and each member list
    requests: int
    seconds: float
    changes: int  # confirmed changes written, silent ones included
    events_queued: int  # outbox rows queued (one per event and receiver)
    baselines: tuple[str, ...]  # resources recorded silently (or with emit_baseline) this run
    failures: tuple[str, ...] = ()  # "members:group:7: <reason>": lists left as they were
    stopped: bool = False  # ``stop`` ended the pass early


def sync(
    source: Source,
    store: SnapshotStore,
    settings: Settings,
    *,
    now: Clock,
    workers: int = 4,
    progress: Callable[[str], None] = lambda _phase: None,
    resources: Collection[Resource] = RESOURCES,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Poll ``resources`` (all by default) once and queue the events of what changed.

    ``progress`` is told each phase as it starts (the CLI shows it on a terminal). ``stop``
    ends the pass between two resources' transactions (SIGTERM): what was committed stays, the
    rest is found again by the next pass. A pass that confirms a group's destroy also polls
    projects, so that the group's projects are destroyed first, as GitLab does.
    """
    unknown = set(resources) - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown resources {sorted(unknown)}")
    run = Pass(source, store, settings, now, stop or threading.Event())
    started, before = time.perf_counter(), source.requests_made
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("users", lambda: phases.users(run)),
        ("groups", lambda: phases.groups(run)),
        ("projects", lambda: phases.projects(run)),
        ("members", lambda: members.members(run, workers)),
        ("destroys", run.destroys),
    )
    for phase, step in steps:
        wanted = phase in resources or (
            phase == "projects" and bool(run.doomed["group"]) and "groups" in resources
        )
        if phase != "destroys" and not wanted:
            continue
        if run.stop.is_set():
            break
        progress(phase)
        run.phase_start = source.requests_made
        try:
            step()
        except SourceError as exc:
            # Users, groups and projects feed every later phase: a failed one ends the pass.
            if phase in ("users", "groups", "projects"):
                run.failed(phase, exc)
            raise
    return SyncReport(
        resources=len(run.resources),
        requests=source.requests_made - before,
        seconds=time.perf_counter() - started,
        changes=run.changes,
        events_queued=run.queued,
        baselines=tuple(run.baselines),
        failures=tuple(run.failures),
        stopped=run.stop.is_set(),
    )
