"""The daemon's reads: signals, targeted re-reads and the continuous reconcile, on a budget.

``Reconciler`` is the imperative shell around the pure planner (``bridge.sync.planner``): it
builds the tasks from the snapshot (every listing, member list and group's shares, plus the
signals the instance has), asks the ``Schedule`` what to read now, reads it (``workers`` at a
time; the source's ``Budget`` paces every request), applies the answers one by one
(``bridge.sync.targeted``) and feeds back what they cost and what they hint. The one-shot
``sync`` keeps its full pass (``bridge.sync.engine``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from bridge.clock import Clock
from bridge.config.settings import Settings
from bridge.errors import SourceError
from bridge.model.ledger import ResourceState
from bridge.model.records import Group, User
from bridge.model.signals import Capabilities
from bridge.ports import SnapshotStore, Source
from bridge.sync import batches, planner
from bridge.sync.batched import BatchReads
from bridge.sync.planner import (
    Allocation,
    Klass,
    allocate,
    kind_of,
    load_of,
)
from bridge.sync.readpool import ReadPool
from bridge.sync.schedule import Schedule
from bridge.sync.state import Pass
from bridge.sync.targeted import LISTINGS, SIGNAL_KINDS, Applier, Outcome, fetch
from bridge.sync.tasks import targets, task_cost, task_keys

if TYPE_CHECKING:
    from bridge.source import GitLabSource

log = logging.getLogger(__name__)
REALLOCATE = 300.0  # seconds between two allocations (sizes and costs drift slowly)
TICK = 0.9  # seconds a tick hands out reads; reads still running carry over to the next


@dataclass(frozen=True, slots=True, kw_only=True)
class TickReport:
    """What one tick read, cost and found."""

    reads: int
    requests: int
    changes: int
    events_queued: int
    failures: tuple[str, ...] = ()
    seconds: float = 0.0
    by_class: Mapping[Klass, int] = field(default_factory=dict)  # requests per class


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassFreshness:
    """One class: its target, the plan's worst case, and how stale it is now."""

    klass: Klass
    target: float
    predicted: float
    staleness: float | None  # the least recently read source's age; None: one never read


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """What the budget buys right now (``/metrics``, ``status``)."""

    classes: tuple[ClassFreshness, ...]
    budget: int  # configured, requests per minute
    effective: float  # after GitLab's limits
    used_last_minute: int | None


class Reconciler:
    """Spends the request budget on the reads the planner picks."""

    def __init__(
        self,
        source: Source,
        store: SnapshotStore,
        settings: Settings,
        *,
        now: Clock,
        caps: Capabilities,
        per_minute: float,
    ) -> None:
        """``caps``: the signals this instance has (probed at start); ``per_minute``: the
        budget the plan is made for (the source's ``Budget`` enforces it)."""
        self.source, self.store, self.settings, self._now = source, store, settings, now
        self.caps, self.per_minute = caps, per_minute
        self.targets = targets(settings)
        self.schedule = Schedule()
        self.states: dict[str, ResourceState] = {}
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.allocation: Allocation | None = None
        self._allocated_at = float("-inf")
        self._spent: dict[Klass, int] = {}
        self._inflight: dict[str, tuple[Future[tuple[Any, int]], dt.datetime]] = {}
        self._rows: dict[str, int] = {}  # listing sizes, for their cost in pages
        self._pool = ReadPool(settings.gitlab.concurrency)
        self.ready = False
        also = settings.poll.access_requests
        self.replaced = batches.lists_replace(caps, access_requests=also)  # read only if hinted
        self.batches = BatchReads(store, batches.batches(caps, access_requests=also), {})

    # -- set-up ---------------------------------------------------------------------------------

    @classmethod
    def planned(
        cls, source: GitLabSource, store: SnapshotStore, settings: Settings, *, now: Clock
    ) -> Reconciler:
        """Probe the signals the instance has and its own throttle, then plan from the snapshot."""
        caps = source.capabilities
        if caps.audit_events and not source.probe_audit_events():
            caps = dataclasses.replace(caps, audit_events=False)  # CE-like tier or no licence
        if caps.graphql_lists and not source.probe_graphql():
            caps = source.capabilities  # GraphQL is off here: REST only
        source.instance_limits()  # GitLab's throttle, when on, lowers the budget
        reconciler = cls(source, store, settings, now=now, caps=caps,
                         per_minute=settings.gitlab.budget)  # fmt: skip
        reconciler.start()
        log.info("signals: %s", ", ".join(k for k, v in dataclasses.asdict(caps).items() if v))
        return reconciler

    def start(self) -> None:
        """Build every task from the snapshot and the bookkeeping of earlier runs."""
        self.states = {s.name: s for s in self.store.resource_states()}
        self.users, self.groups = self.store.users(), self.store.groups()
        self._rows = {"users": len(self.users), "groups": len(self.groups),
                      "projects": len(self.store.ids("project"))}  # fmt: skip
        self.batches = BatchReads(self.store, self.batches.kinds, self.states)
        keys = task_keys(self.store, self.caps, sorted(self.groups),
                         batch_keys=self.batches.task_keys())  # fmt: skip
        now = self._now()
        keys += [f"memberships:{u.id}" for u in self._new_users(self.users.values(), now)]
        self._allocate(now.timestamp(), keys)
        for key in keys:
            self._add(key)
        log.info("planner: %d tasks, %s", len(self.schedule), self.describe())

    def _new_users(self, users: Iterable[User], now: dt.datetime) -> list[User]:
        """Users whose memberships are watched: created within the window (no audit events)."""
        if not self.caps.memberships or self.caps.audit_events:
            return []
        window = dt.timedelta(seconds=self.settings.freshness.new_user_window)
        return [u for u in users if u.created_at is not None and now - u.created_at <= window]

    def _add(self, key: str, *, fresh: bool = False) -> None:
        """Schedule a task with the last read its bookkeeping records."""
        state = self.states.get(key)
        if state is None and key.startswith("shares:group:"):
            state = self.states.get("groups")  # the groups pass read every group's shares
        if state is None and key.startswith("graphql:"):
            state = self.batches.oldest_read(key, self.groups, self.states)
        last = None
        if not fresh and state is not None and state.last_complete_at is not None:
            last = state.last_complete_at.timestamp()
        cost = self._cost(key)
        self.schedule.add(key, self._period(key), cost=cost, last=last)

    def _cost(self, key: str) -> float:
        """Requests a task took last time (its bookkeeping), 1 when unknown."""
        return task_cost(self.states.get(key), key, self._rows,
                         requests_too=self.settings.poll.access_requests)  # fmt: skip

    def _period(self, key: str) -> float:
        assert self.allocation is not None
        kind = kind_of(key)
        if kind in self.replaced:
            return math.inf  # a batch reads it; its own task waits for a hint
        if kind in self.allocation.periods:
            return self.allocation.periods[kind]
        return planner.signal_period(kind, self.targets, self.caps)

    def _allocate(self, now: float, keys: Iterable[str] | None = None) -> None:
        if keys is None:
            keys = list(self.schedule)
        pairs = [
            (k, self.schedule.cost(k) if k in self.schedule else self._cost(k))
            for k in keys
            if kind_of(k) not in self.replaced
        ]
        load = load_of(pairs)
        for kind in ("memberships",):
            load.setdefault(kind, planner.Load(tasks=0, requests=0.0))
        self.allocation = allocate(load, self.targets, self.caps, self._budget())
        self._allocated_at = now
        for key in list(self.schedule):
            self.schedule.add(key, self._period(key))

    def _budget(self) -> float:
        budget = getattr(self.source, "budget", None)
        effective = getattr(budget, "effective", None)
        return float(effective) if effective else self.per_minute

    def describe(self) -> str:
        """One line: the periods the budget buys."""
        a = self.allocation
        if a is None:
            return "not planned yet"
        worst = ", ".join(f"{k} {v:.0f}s" for k, v in a.worst.items())
        return f"{a.per_minute:.0f} req/min, stretch {a.stretch:.2f}, worst case: {worst}"

    # -- the loop -----------------------------------------------------------------------------

    def tick(self, stop: threading.Event) -> TickReport:
        """Keep ``gitlab.concurrency`` reads going for up to ``TICK`` seconds: hand out what the
        schedule picks as workers free up, apply each answer as it arrives. A long read (a
        listing of many pages) holds one worker, never the others; reads still running when
        the tick ends are applied by the next one."""
        started, before = time.monotonic(), self.source.requests_made
        reads = changes = queued = 0
        failures: list[str] = []
        self._spent = {}
        while not stop.is_set():
            left = TICK - (time.monotonic() - started)
            if left > 0:
                self._hand_out()
            if not self._inflight:
                break
            # Past the tick's time: take what has finished, and leave the rest to the next.
            done, _ = wait([f for f, _ in self._inflight.values()], timeout=max(0.0, left),
                           return_when=FIRST_COMPLETED)  # fmt: skip
            if done:
                run = Pass(self.source, self.store, self.settings, self._now, stop,
                           states=self.states, lazy_members=True)  # fmt: skip
                self._harvest(run, done)
                reads += len(done)
                changes, queued = changes + run.changes, queued + run.queued
                failures += run.failures
            if left <= 0:
                break
        if not self.ready and self.schedule.staleness(self._now().timestamp()) is not None:
            self.ready = True
            log.info("every source read once; %s", self.describe())
        return TickReport(
            reads=reads,
            requests=self.source.requests_made - before,
            changes=changes,
            events_queued=queued,
            failures=tuple(failures),
            seconds=time.monotonic() - started,
            by_class=dict(self._spent),
        )

    @property
    def busy(self) -> int:
        """Reads handed out and not yet applied (the next tick applies them)."""
        return len(self._inflight)

    def _hand_out(self) -> None:
        """Start the reads the schedule picks, as many as there are idle workers."""
        free = self.settings.gitlab.concurrency - len(self._inflight)
        if free <= 0:
            return
        now = self._now()
        if now.timestamp() - self._allocated_at >= REALLOCATE:
            self._rebatch()
            self._allocate(now.timestamp())
        for key in self.schedule.next(now.timestamp(), self._available(), most=free):
            sources = self.batches.sources(key, self.groups) if key.startswith("graphql:") else []
            self._inflight[key] = (self._pool.submit(partial(self._fetch, key, sources)), now)

    def _available(self) -> float:
        """Requests the budget allows now (a read always goes: the budget paces it)."""
        budget = getattr(self.source, "budget", None)
        return float(budget.available()) if budget is not None else float("inf")

    def _harvest(self, run: Pass, done: set[Future[tuple[Any, int]]]) -> None:
        """Apply the finished reads, in the order they were handed out."""
        touched = False
        for key in [k for k, (f, _) in self._inflight.items() if f in done]:
            future, started = self._inflight.pop(key)
            at = started.timestamp()
            window = self.settings.freshness.new_user_window
            applier = Applier(run, self.users, self.groups, window=window, now=started)
            try:
                answer, requests = future.result()
                if key.startswith("graphql:"):
                    busy = [k for k in self._inflight if k.startswith("members:")]
                    outcome, settled = self.batches.apply(applier, key, answer, busy)
                    for name in settled:
                        self.schedule.done(name, at)
                elif key in LISTINGS:
                    outcome = applier.listing(key, answer)
                    touched = True
                else:
                    outcome = applier.apply(key, answer, requests)
                    if key in SIGNAL_KINDS:
                        applier.record(key, requests, outcome.watermark)
                    touched = touched or bool(outcome.added or outcome.new_users)
            except SourceError as exc:
                run.failed(key, exc)
                self.schedule.failed(key, at)
                continue
            self.schedule.done(key, at, cost=requests)
            klass = planner.klass_of(kind_of(key), self.caps)
            self._spent[klass] = self._spent.get(klass, 0) + requests
            self._follow(outcome, at, started)
            if touched:  # later reads see new users and groups in their payloads
                self.users, self.groups = self.store.users(), self.store.groups()
                touched = False

    def _rebatch(self) -> None:
        """Split the batches anew when GitLab's scores allow other sizes, or sources came and
        went (``BatchReads.rebatch``)."""
        graphql = getattr(self.source, "graphql", None)
        measured = {k: f.size for k, f in graphql.fits_.items()} if graphql is not None else {}
        self.batches.rebatch(self.schedule, measured, self._period, self._now())

    def _fetch(self, key: str, sources: list[tuple[int, str]]) -> tuple[Any, int]:
        """One task's answer and its requests (a worker thread); ``sources``: a batch's."""
        before = self.source.requests_by_this_thread
        if key.startswith("graphql:"):
            answer = BatchReads.fetch(self.source, key, sources)
            return answer, self.source.requests_by_this_thread - before
        state = self.states.get(key)
        groups = self.states.get("groups")
        first = groups is None or groups.baseline_at is None
        answer = fetch(self.source, self.store.max_id, key, state.watermark if state else None,
                       first=first, with_requests=self.settings.poll.access_requests)  # fmt: skip
        return answer, self.source.requests_by_this_thread - before

    def _follow(self, outcome: Outcome, at: float, now: dt.datetime) -> None:
        """New tasks, dropped tasks and hints from one read."""
        if outcome.added or outcome.removed:
            self.batches.refresh()  # new sources join their batch, gone ones leave it
        for key in outcome.removed:
            self.schedule.remove(key)
        for key in outcome.added:
            if key not in self.schedule:
                self._add(key, fresh=True)
            self.schedule.hint(key, at)
        for user in self._new_users(outcome.new_users, now):
            key = f"memberships:{user.id}"
            self._add(key, fresh=True)
            self.schedule.hint(key, at)
        for key in outcome.hints:
            if key not in self.schedule and kind_of(key) in ("members:group", "members:project"):
                continue  # a source the snapshot lacks: its signal or listing adds it
            self.schedule.hint(key, at)

    # -- what it achieves -----------------------------------------------------------------------

    def staleness(self) -> dict[Klass, float | None]:
        """Per class, how long ago its least recently read source was read (None: never)."""
        now = self._now().timestamp()
        worst: dict[Klass, float | None] = {}
        for key in self.schedule:
            klass = planner.klass_of(kind_of(key), self.caps)
            last = self.schedule.last(key)
            if last is None:
                worst[klass] = None
            elif klass not in worst or (worst[klass] is not None and now - last > worst[klass]):  # type: ignore[operator]
                worst[klass] = now - last
        return worst

    def freshness(self) -> Freshness:
        """Per class target, predicted worst case and staleness; the budget and its use."""
        stale = self.staleness()
        worst = self.allocation.worst if self.allocation else {}
        budget = getattr(self.source, "budget", None)
        used = budget.used_last_minute() if budget is not None else None
        return Freshness(
            classes=tuple(
                ClassFreshness(
                    klass=k,
                    target=self.targets.of(k),
                    predicted=worst.get(k, 0.0),
                    staleness=stale.get(k),
                )
                for k in planner.CLASSES
            ),
            budget=self.settings.gitlab.budget,
            effective=self._budget(),
            used_last_minute=used,
        )

    def close(self) -> None:
        """Stop the read workers; a read still waiting on GitLab is abandoned (it wrote
        nothing: the next start reads it again)."""
        if self._inflight:
            log.info("abandoning %d reads in flight; nothing of them was written",
                     len(self._inflight))  # fmt: skip
        self._pool.shutdown()
