"""The daemon's schedule: the reconcile tick, housekeeping and a heartbeat.

The tick runs every second on a one-thread executor, so two never overlap and each sees a
consistent snapshot; ``max_instances=1`` and ``coalesce`` fold missed runs into one. What a tick
reads is the planner's choice (``bridge.sync.planner``), not the scheduler's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bridge.config.settings import Settings

HOUSEKEEPING_DELAY = dt.timedelta(seconds=60)  # the first housekeeping, after start-up's polls
TICK_SECONDS = 1.0  # how often the planner is asked what to read


class _OverrunFilter(logging.Filter):
    """A tick that runs past the next second (a big listing to apply) is by design: the
    scheduler's "maximum number of running instances reached" for it is not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ('"reconcile' in message and "maximum number of running instances" in message)


_SCHEDULER_LOG = logging.getLogger("apscheduler.scheduler")
if not any(isinstance(f, _OverrunFilter) for f in _SCHEDULER_LOG.filters):
    _SCHEDULER_LOG.addFilter(_OverrunFilter())


def build(
    settings: Settings,
    *,
    start: dt.datetime,
    tick: Callable[[], object],
    housekeeping: Callable[[], object],
    heartbeat: Callable[[], object],
    heartbeat_seconds: float,
) -> BackgroundScheduler:
    """The scheduler with every job, not yet started."""
    scheduler = BackgroundScheduler(
        executors={"poll": ThreadPoolExecutor(1), "default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=dt.UTC,
    )
    scheduler.add_job(
        tick,
        IntervalTrigger(seconds=TICK_SECONDS),
        id="reconcile",
        name="reconcile",
        executor="poll",
        next_run_time=start,
    )
    scheduler.add_job(
        housekeeping,
        IntervalTrigger(seconds=settings.daemon.housekeeping),
        id="housekeeping",
        next_run_time=start + HOUSEKEEPING_DELAY,
    )
    scheduler.add_job(heartbeat, IntervalTrigger(seconds=heartbeat_seconds), id="heartbeat")
    return scheduler


def reschedule(scheduler: BackgroundScheduler, old: Settings, new: Settings) -> None:
    """Apply a changed housekeeping interval after a reload (targets: the next plan)."""
    if new.daemon.housekeeping != old.daemon.housekeeping:
        scheduler.reschedule_job(
            "housekeeping", trigger=IntervalTrigger(seconds=new.daemon.housekeeping)
        )
