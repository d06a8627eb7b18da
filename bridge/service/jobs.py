"""The daemon's schedule: one APScheduler job per polled resource, housekeeping and a heartbeat.

Polls share a one-thread executor, so they never overlap each other or themselves and always
see a consistent snapshot; ``max_instances=1`` and ``coalesce`` fold missed runs into one. The
first runs go in dependency order: users, groups, projects, members.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bridge.config.settings import Settings
from bridge.model.ledger import RESOURCES, Resource

HOUSEKEEPING_DELAY = dt.timedelta(seconds=60)  # the first housekeeping, after start-up's polls


def build(
    settings: Settings,
    *,
    start: dt.datetime,
    poll: Callable[[Resource], object],
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
    for n, resource in enumerate(RESOURCES):
        scheduler.add_job(
            poll,
            IntervalTrigger(seconds=getattr(settings.poll, resource)),
            args=(resource,),
            id=f"poll-{resource}",
            name=f"poll {resource}",
            executor="poll",
            # Due together at start; a millisecond apart keeps dependency order in the queue.
            next_run_time=start + dt.timedelta(milliseconds=n),
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
    """Apply changed poll and housekeeping intervals after a reload."""
    for resource in RESOURCES:
        seconds = getattr(new.poll, resource)
        if seconds != getattr(old.poll, resource):
            scheduler.reschedule_job(f"poll-{resource}", trigger=IntervalTrigger(seconds=seconds))
    if new.daemon.housekeeping != old.daemon.housekeeping:
        scheduler.reschedule_job(
            "housekeeping", trigger=IntervalTrigger(seconds=new.daemon.housekeeping)
        )
