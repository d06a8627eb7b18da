"""``gitlab-bridge run``: the long-running service.

- One APScheduler job, the reconcile tick: every second the planner picks what to read on
  ``gitlab.budget`` (``bridge.sync.reconciler``), never two ticks at once.
- Delivery is a thread that sleeps until the next row is due, or a tick queues events.
- Housekeeping drops delivered rows older than ``delivery.keep_delivered``.
- SIGTERM/SIGINT: stop taking work, let the transaction in flight finish (each resource commits
  on its own), give the lease of an unsent event back, and exit within
  ``daemon.shutdown_timeout``; past it, the process exits anyway and the database rolls the
  unfinished transaction back. SIGHUP reloads the configuration or keeps the old one and says
  why. SIGUSR1 dumps every thread's stack to stderr.
- systemd: READY=1 after the first successful connection to GitLab, STATUS= after each tick and
  every ``daemon.status_interval``, WATCHDOG=1 when ``WatchdogSec=`` is set.
- SQLite state: one daemon at a time (``InstanceLock``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from bridge import config
from bridge.clock import Clock, utcnow
from bridge.config.settings import Settings
from bridge.delivery.deliverer import Deliverer
from bridge.errors import EX_SOFTWARE, BridgeError, ConfigError, FatalSourceError, SourceError
from bridge.project_groups.http import BridgeServer, start_server
from bridge.retry import RetryPolicy, backoff
from bridge.service import jobs, signals, status
from bridge.service.health import Endpoints, Readiness, read_status
from bridge.service.locks import InstanceLock, sqlite_path
from bridge.service.metrics import Metrics
from bridge.service.sdnotify import Notifier
from bridge.service.supervisor import Supervisor
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.store.leader import PollerLease
from bridge.sync.reconciler import Reconciler, TickReport

log = logging.getLogger(__name__)
# Waits between attempts to reach GitLab at start: 1-2 s, 2-4 s, ... up to 30-60 s.
RECONNECT = RetryPolicy(base=2.0, cap=60.0, jitter=0.5)


@dataclass(frozen=True)
class _Runtime:
    """What a reload may replace, swapped as one reference."""

    settings: Settings
    source: GitLabSource


class Daemon:
    """The service: start it, wait for a signal, stop it within a bounded time."""

    def __init__(
        self,
        config_path: str,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        now: Clock = utcnow,
        on_listen: Callable[[str], None] = lambda _url: None,
        on_poll: Callable[[str, TickReport | None], None] = lambda _name, _report: None,
    ) -> None:
        """``on_listen`` is told the server's URL once it listens (the CLI prints it);
        ``on_poll`` each reconcile tick's report (None when it failed), on the poll thread."""
        self._on_poll = on_poll
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self._now = now
        self._on_listen = on_listen
        self.stop_event = threading.Event()  # tells polls and deliveries to wind down
        self._wake_delivery = threading.Event()
        self._reload_requested = threading.Event()
        self._main_wake = threading.Event()
        self._exit_requested = False
        self.abandoned = False  # stop() gave up on work in flight: exit without joining threads
        self.health = Readiness()
        self.supervisor = Supervisor(self.health, self.stop_event, self.request_stop)
        self._lock: InstanceLock | None = None
        self.store: Store | None = None
        self.server: BridgeServer | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._delivery_thread: threading.Thread | None = None
        self._lease: PollerLease | None = None
        self._follower_logged = False
        self.runtime = _Runtime(settings, self._source(settings))
        self.deliverer: Deliverer | None = None
        self.reconciler: Reconciler | None = None  # built by the first tick that leads
        self.metrics = Metrics(
            self.status, lambda: self.reconciler.freshness() if self.reconciler else None
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Lock the state, open the store, serve HTTP, connect to GitLab, start the jobs.

        Raises AlreadyRunning (another daemon on this SQLite state), ConfigError (a token
        GitLab refuses, an address that cannot be bound) or StoreError.
        """
        settings = self.runtime.settings
        database = sqlite_path(settings.state.url)
        if database is not None:
            self._lock = InstanceLock(database).acquire()
        self.store = Store.open(settings.state.url)
        self._lease = self.store.poller_lease()
        self.deliverer = self._deliverer(settings)
        if settings.server.enabled:
            self.server = start_server(
                settings,
                self.store,
                Endpoints(self.health, self.metrics, lambda: self.runtime.settings),
            )
            self._on_listen(self.server.url)
        self._connect()
        if self.stop_event.is_set():
            return
        self.notifier.ready(f"connected to {settings.gitlab.url}; first polls running")
        self._scheduler = self._schedule(settings)
        self._scheduler.start()
        scheduler = self._scheduler
        self.supervisor.watch("scheduler", lambda: scheduler.running)
        self._delivery_thread = self.supervisor.start("delivery", self._deliver_forever)
        log.info(
            "running: GitLab %s, state %s, %d receivers",
            settings.gitlab.url,
            self.store.url,
            len(settings.hooks.receivers()),
        )

    def run(self) -> int:
        """Start, then serve signals until SIGTERM/SIGINT; the exit code."""

        def on_stop(signum: signal.Signals) -> None:
            log.info("%s: stopping", signum.name)
            self.request_stop()

        def on_hup(_signum: signal.Signals) -> None:
            self._reload_requested.set()
            self._main_wake.set()

        handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_hup}
        with signals.handling(handlers):
            try:
                self.start()
                while not self._exit_requested:
                    # A timeout, not a bare wait: a signal the kernel hands to another thread
                    # does not interrupt a blocked lock; the handler runs at the next wake-up.
                    self._main_wake.wait(1.0)
                    self._main_wake.clear()
                    self.supervisor.check()
                    if self._reload_requested.is_set():
                        self._reload_requested.clear()
                        self.reload()
            finally:
                clean = self.stop()
        if self.health.failed is not None:
            return EX_SOFTWARE  # systemd's Restart=on-failure starts a fresh process
        return 0 if clean else 1

    def request_stop(self) -> None:
        """What SIGTERM does: stop taking work and let ``run`` return."""
        self._exit_requested = True
        self.stop_event.set()
        if self.deliverer is not None:
            self.deliverer.stop.set()
        self._wake_delivery.set()
        self._main_wake.set()

    def stop(self) -> bool:
        """Wind down within ``daemon.shutdown_timeout``; False if work had to be abandoned."""
        self.request_stop()
        self.notifier.stopping()
        timeout = self.runtime.settings.daemon.shutdown_timeout
        deadline = time.monotonic() + timeout
        if self._scheduler is not None:
            scheduler = self._scheduler
            # shutdown(wait=True) joins the poll in flight; wait for it on the side.
            waiter = threading.Thread(target=scheduler.shutdown, name="scheduler-stop", daemon=True)
            waiter.start()
            waiter.join(max(0.0, deadline - time.monotonic()))
            finished = not waiter.is_alive()
        else:
            finished = True
        if self._delivery_thread is not None:
            self._delivery_thread.join(max(0.0, deadline - time.monotonic()))
            finished = finished and not self._delivery_thread.is_alive()
        if not finished:
            self.abandoned = True
            log.error(
                "work still in flight after %.0fs; abandoning it (the database rolls it back, "
                "the next start redoes it)",
                timeout,
            )
            return False
        if self.server is not None:
            self.server.stop()
        if self.deliverer is not None:
            self.deliverer.sender.close()
        self._drop_reconciler()
        if self._lease is not None:
            self._lease.release()
        if self.store is not None:
            self.store.close()
        if self._lock is not None:
            self._lock.release()
        log.info("stopped")
        return True

    # -- configuration ----------------------------------------------------------------------

    def reload(self) -> bool:
        """SIGHUP: apply the configuration file again, or keep the current one and say why."""
        try:
            new = config.load(self.config_path)
        except Exception as exc:  # whatever the file holds, the daemon keeps running
            problems = "; ".join(str(exc).splitlines()) or type(exc).__name__
            if not isinstance(exc, ConfigError):
                problems = f"{type(exc).__name__}: {problems}"
            log.error("reload refused, keeping the previous configuration: %s", problems[:500])
            self.metrics.reloads.labels("refused").inc()
            return False
        old = self.runtime.settings
        if new.state != old.state:
            log.error("reload refused, keeping the previous configuration: state.url changed; "
                      "restart the service to move the state")  # fmt: skip
            self.metrics.reloads.labels("refused").inc()
            return False
        source = self.runtime.source
        if new.gitlab != old.gitlab:
            source = self._source(new)
        previous = self.deliverer
        self.runtime = _Runtime(new, source)
        if new.gitlab != old.gitlab or new.freshness != old.freshness:
            self._drop_reconciler()  # the next tick plans again with the new settings
        elif self.reconciler is not None:
            self.reconciler.settings = new  # receivers and payloads: from the next read on
        self.deliverer = self._deliverer(new)
        if previous is not None:
            previous.stop.set()  # ends its pass; the loop picks the new one up
        if self._scheduler is not None:
            jobs.reschedule(self._scheduler, old, new)
        if new.server != old.server:
            log.warning("server settings changed; they apply after a restart")
        self._wake_delivery.set()
        self.metrics.reloads.labels("applied").inc()
        log.info("configuration reloaded from %s", self.config_path)
        return True

    # -- jobs ---------------------------------------------------------------------------------

    def tick(self) -> TickReport | None:
        """One reconcile tick: what the planner picks, on the budget; events wake delivery."""
        if self.stop_event.is_set() or self.store is None or self._lease is None:
            return None
        if not self._lease.try_lead():
            if not self._follower_logged:
                log.info("another instance polls this PostgreSQL state; this one delivers")
                self._follower_logged = True
            self.health.reconciled = True  # ready: the leader keeps the snapshot current
            self._drop_reconciler()
            return None
        try:
            reconciler = self.reconciler or self._plan()
            report = reconciler.tick(self.stop_event)
        except BridgeError as exc:
            log.warning("reconcile tick failed: %s", exc)
            self._on_poll("reconcile", None)
            return None
        self.metrics.tick(report)
        self.health.reconciled = self.health.reconciled or reconciler.ready
        if report.events_queued:
            self._wake_delivery.set()
        level = logging.INFO if report.changes or report.failures else logging.DEBUG
        log.log(level, "reconcile: %d reads, %d requests, %d changes, %d events queued, "
                "%d failures, %.1fs", report.reads, report.requests, report.changes,
                report.events_queued, len(report.failures), report.seconds)  # fmt: skip
        if report.reads:
            self.report_status()
        self._on_poll("reconcile", report)
        return report

    def _plan(self) -> Reconciler:
        """Probe the instance's signals and limits, and plan the reads from the snapshot."""
        assert self.store is not None
        run = self.runtime
        self.reconciler = Reconciler.planned(run.source, self.store, run.settings, now=self._now)
        return self.reconciler

    def _drop_reconciler(self) -> None:
        if self.reconciler is not None:
            self.reconciler.close()
            self.reconciler = None

    def housekeeping(self) -> int:
        """Drop delivered rows (and their attempts) older than ``delivery.keep_delivered``."""
        if self.store is None:
            return 0
        keep = dt.timedelta(seconds=self.runtime.settings.delivery.keep_delivered)
        purged = self.store.deliveries.purge(self._now() - keep, ("delivered",))
        if purged:
            log.info("housekeeping: %d delivered rows older than %s removed", purged, keep)
        return purged

    def report_status(self) -> None:
        """Refresh systemd's one-line STATUS=."""
        if self.notifier.enabled and self.store is not None:
            try:
                self.notifier.status(status.summary(self.status()))
            except BridgeError as exc:
                self.notifier.status(f"cannot read the state: {exc}")

    def status(self) -> status.Status:
        """The current status, read from the store."""
        if self.store is None:
            raise RuntimeError("the daemon is not started")
        return read_status(self.store, self.runtime.settings, now=self._now(), pid=os.getpid())

    def _deliver_forever(self) -> None:
        """Delivery passes until stop; sleeps until the next row is due or a poll wakes it."""
        while not self.stop_event.is_set():
            self._wake_delivery.clear()
            deliverer = self.deliverer
            if deliverer is None:
                return
            try:
                report = deliverer.run_pass()
                self.metrics.delivery(report)
                wait = self._until_next_due()
            except Exception as exc:  # the state database, or a bug (then with its stack)
                bug = not isinstance(exc, BridgeError)
                log.warning("delivery pass failed: %s", exc, exc_info=bug)
                wait = 5.0
            if deliverer is not self.deliverer:
                deliverer.sender.close()  # replaced by a reload
                continue
            self._wake_delivery.wait(wait)

    def _until_next_due(self) -> float:
        """Seconds until the earliest waiting row is due, between 0.05 and 5."""
        assert self.store is not None
        due = self.store.deliveries.next_due()
        if due is None:
            return 5.0
        return min(5.0, max(0.05, (due - self._now()).total_seconds()))

    def _source(self, settings: Settings) -> GitLabSource:
        # The stop event makes every retry wait and throttle pause end at SIGTERM.
        return GitLabSource.from_settings(settings.gitlab, stop=self.stop_event)

    def _deliverer(self, settings: Settings) -> Deliverer:
        assert self.store is not None
        return Deliverer(self.store.deliveries, settings.hooks, settings.delivery, now=self._now)

    def _connect(self) -> None:
        """Reach GitLab, retrying with backoff until it answers or a stop is requested."""
        settings = self.runtime.settings
        failures = 0
        rng = random.Random()
        while not self.stop_event.is_set():
            try:
                instance = self.runtime.source.check(needs_admin=True)
            except FatalSourceError as exc:
                raise ConfigError(f"gitlab.token: {exc}") from None
            except SourceError as exc:
                failures += 1
                wait = backoff(RECONNECT, failures, rng)
                log.warning("cannot reach GitLab (%s); retrying in %.0fs", exc, wait)
                self.notifier.status(f"waiting for GitLab at {settings.gitlab.url}: {exc}")
                self.stop_event.wait(wait)
                continue
            self.health.connected = True
            edition = "EE" if instance.enterprise else "CE"
            log.info("connected to GitLab %s %s as %s", instance.version, edition,
                     instance.token_username)  # fmt: skip
            return

    def _schedule(self, settings: Settings) -> BackgroundScheduler:
        beat = settings.daemon.status_interval
        if self.notifier.watchdog_seconds:
            beat = min(beat, self.notifier.watchdog_seconds / 2)
        return jobs.build(settings, start=self._now(), tick=self.tick, heartbeat_seconds=beat,
                          housekeeping=self.housekeeping, heartbeat=self._heartbeat)  # fmt: skip

    def _heartbeat(self) -> None:
        """WATCHDOG=1 while the scheduler runs jobs; STATUS= refreshed."""
        if self.notifier.watchdog_seconds:
            self.notifier.watchdog()
        self.report_status()
