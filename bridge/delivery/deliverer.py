"""Delivery use case: claim due outbox rows, POST them, record each outcome (docs/delivery.md).

Receivers are served in parallel (``delivery.concurrency``); each receiver's rows go one at a
time in queue order, so one slow or failing receiver never delays another. Every attempt is
recorded with the row's new state and the receiver's circuit in one transaction; a row is
leased while in flight, so a crash at any point leaves it to be sent again (same
Idempotency-Key), never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bridge.clock import Clock, utcnow
from bridge.config.settings import (
    DeliverySettings,
    GroupHookSettings,
    HooksSettings,
    SystemHookSettings,
)
from bridge.delivery import policy
from bridge.delivery.policy import DeliveryRules
from bridge.delivery.sender import HttpSender
from bridge.delivery.wire import Answer, Endpoint, build_request, split_credentials
from bridge.model.ledger import (
    WAITING,
    AttemptOutcome,
    DeliveryAttempt,
    OutboxRecord,
    OutboxStatus,
    ReceiverState,
)
from bridge.ports import Outbox, Sender

log = logging.getLogger(__name__)
BATCH = 50  # rows looked at per query; each is claimed on its own just before it is sent


@dataclass(slots=True)
class ReceiverReport:
    """What one pass did for one receiver."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    circuit_open: bool = False

    def count(self, outcome: AttemptOutcome) -> None:
        """Count one attempt's outcome."""
        if outcome == "delivered":
            self.delivered += 1
        elif outcome == "retry":
            self.retrying += 1
        else:
            self.dead += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """What one delivery pass did, and what still waits."""

    receivers: Mapping[str, ReceiverReport]
    waiting: Mapping[str, int]  # receiver -> rows still pending or retrying after the pass
    unknown: Mapping[str, int] = field(default_factory=dict)  # rows for unconfigured receivers
    seconds: float = 0.0

    @property
    def delivered(self) -> int:
        """Rows delivered in this pass."""
        return sum(r.delivered for r in self.receivers.values())

    @property
    def attempted(self) -> int:
        """Attempts made in this pass."""
        return sum(r.delivered + r.retrying + r.dead for r in self.receivers.values())


def endpoints_of(hooks: HooksSettings) -> dict[str, Endpoint]:
    """Receiver name -> how to reach it."""
    return {r.name: endpoint_of(r) for r in hooks.receivers()}


def endpoint_of(receiver: SystemHookSettings | GroupHookSettings) -> Endpoint:
    """How to reach one configured receiver."""
    return Endpoint(
        name=receiver.name,
        url=receiver.url,
        token=None if receiver.token is None else receiver.token.get_secret_value(),
        custom_headers=dict(receiver.custom_headers),
        signing_secrets=tuple(s.get_secret_value() for s in receiver.signing_secret),
        timeout=receiver.timeout,
        verify_tls=receiver.enable_ssl_verification,
    )


def lease_seconds(settings: DeliverySettings, endpoint: Endpoint) -> float:
    """How long an attempt holds its row: ``delivery.lease``, else twice the timeout plus 5 s.

    A worker that dies mid-attempt leaves its row to another worker once the lease runs out.
    """
    return settings.lease if settings.lease is not None else 2 * endpoint.timeout + 5


class Deliverer:
    """Runs delivery passes over one outbox with one configuration."""

    def __init__(
        self,
        outbox: Outbox,
        hooks: HooksSettings,
        settings: DeliverySettings,
        *,
        sender: Sender | None = None,
        now: Clock = utcnow,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``stop`` ends a pass early between attempts (SIGTERM); leases are given back."""
        self.outbox, self.settings = outbox, settings
        self.endpoints = endpoints_of(hooks)
        self.rules = DeliveryRules.from_settings(settings)
        self.sender: Sender = sender or HttpSender(allow_local_network=settings.allow_local_network)
        self._now, self._rng, self._wall = now, rng or random.Random(), wall
        self._rng_lock = threading.Lock()
        self.stop = stop or threading.Event()
        self.owner = f"bridge-{uuid.uuid4()}"

    def run_pass(self) -> DeliveryReport:
        """Give every row due now at most one attempt; receivers in parallel."""
        started = time.perf_counter()
        deliveries = self.outbox
        names = deliveries.receivers_waiting(self._now())
        unknown = [n for n in names if n not in self.endpoints]
        for name in unknown:
            log.warning("receiver %s has queued events but is not configured; they wait", name)
        known = [n for n in names if n in self.endpoints]
        reports: dict[str, ReceiverReport] = {}
        if known:
            workers = min(self.settings.concurrency, len(known))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for name, report in zip(known, pool.map(self._serve, known), strict=True):
                    reports[name] = report
        counts = deliveries.counts()
        waiting = {
            name: sum(by_status.get(status, 0) for status in WAITING)
            for name, by_status in counts.items()
        }
        return DeliveryReport(
            receivers=reports,
            waiting={k: v for k, v in waiting.items() if v and k in self.endpoints},
            unknown={k: v for k, v in waiting.items() if v and k not in self.endpoints},
            seconds=time.perf_counter() - started,
        )

    def _serve(self, name: str) -> ReceiverReport:
        """One receiver's due rows, in order, until none is due, the circuit opens, or stop."""
        report = ReceiverReport()
        deliveries = self.outbox
        state = deliveries.receiver_state(name)
        done: set[int] = set()
        while not self.stop.is_set():
            now = self._now()
            if not policy.allows(state, now):
                report.circuit_open = True
                cutoff = now - dt.timedelta(seconds=self.rules.max_age)
                expired = deliveries.expire(name, cutoff, "older than max_age (circuit open)")
                if expired:
                    log.warning("%s: %d events became dead letters while paused", name, expired)
                    report.dead += expired
                break
            rows = [r for r in deliveries.due(name, now, BATCH) if r.id not in done]
            if not rows:
                break
            for row in rows:
                if self.stop.is_set() or not policy.allows(state, self._now()):
                    break
                done.add(row.id)
                state = self._attempt(row, state, report)
        return report

    def _attempt(
        self, row: OutboxRecord, state: ReceiverState, report: ReceiverReport
    ) -> ReceiverState:
        """Claim, send and record one row; returns the receiver's new circuit state."""
        endpoint = self.endpoints[row.receiver]
        now = self._now()
        lease = dt.timedelta(seconds=lease_seconds(self.settings, endpoint))
        if not self.outbox.claim(row.id, self.owner, now + lease, now):
            return state  # another worker has it, or it is no longer waiting
        webhook_uuid = str(uuid.uuid4())
        url, answer = self._send(row, endpoint, webhook_uuid)
        finished = self._now()
        with self._rng_lock:
            decision = policy.decide(
                self.rules,
                status=answer.status,
                attempts=row.attempts + 1,
                enqueued_at=row.enqueued_at or row.created_at,
                now=finished,
                retry_after=answer.retry_after,
                rng=self._rng,
            )
        new_state = (
            policy.after_success(state, finished)
            if decision.outcome == "delivered"
            else policy.after_failure(self.rules, state, finished)
        )
        self._log(row, answer, decision, state, new_state)
        attempt = DeliveryAttempt(
            outbox_id=row.id,
            number=row.attempts + 1,  # a redelivery starts counting again
            started_at=now,
            duration_ms=answer.duration_ms,
            url=url,
            webhook_uuid=webhook_uuid,
            status_code=answer.status,
            error=answer.error,
            response_body=answer.body,
            outcome=decision.outcome,
        )
        error = answer.error if decision.reason is None else f"{answer.error}; {decision.reason}"
        self.outbox.finish(
            attempt,
            status=_STATUS[decision.outcome],
            next_attempt_at=decision.next_attempt_at,
            error=error,
            receiver=None if new_state == state else new_state,
        )
        report.count(decision.outcome)
        return new_state

    def _send(self, row: OutboxRecord, endpoint: Endpoint, webhook_uuid: str) -> tuple[str, Answer]:
        """Build and send one row's request: the URL used and the answer.

        Whatever goes wrong here (a request that cannot be built, a sender that raises) is this
        row's failed attempt, recorded and retried like any other, never the end of the pass.
        """
        started = time.perf_counter()
        try:
            request = build_request(
                row,
                endpoint,
                webhook_uuid=webhook_uuid,
                timestamp=int(self._wall()),  # webhook-timestamp: real time, even in tests
                product_token=self.settings.user_agent_product_token,
            )
            return request.url, self.sender.send(row.receiver, request)
        except Exception as exc:  # one row's bug must not stop the others
            log.exception("%s: event %d: the attempt failed unexpectedly", row.receiver, row.id)
            text = str(exc).replace("\0", "\ufffd").strip().splitlines()
            answer = Answer(
                status=None,
                body=None,
                retry_after=None,
                error=f"internal error: {type(exc).__name__}: {text[0] if text else ''}"[:300],
                duration_ms=round((time.perf_counter() - started) * 1000),
            )
            return _safe_url(endpoint.url), answer

    def _log(
        self,
        row: OutboxRecord,
        answer: Answer,
        decision: policy.Decision,
        old: ReceiverState,
        new: ReceiverState,
    ) -> None:
        what = f"{row.receiver}: event {row.id} ({row.event_name} {row.subject})"
        if decision.outcome == "dead":
            log.error("%s is a dead letter: %s; %s", what, answer.error, decision.reason)
        elif decision.outcome == "retry":
            log.info("%s failed (%s); retry at %s", what, answer.error, decision.next_attempt_at)
        if old.circuit != new.circuit:
            if new.circuit == "open":
                log.warning(
                    "%s: circuit opened after %d consecutive failures; probing at %s",
                    row.receiver,
                    new.consecutive_failures,
                    new.probe_at,
                )
            else:
                log.warning("%s: circuit closed; delivering again", row.receiver)


def _safe_url(url: str) -> str:
    """The receiver's URL without credentials, for an attempt that never built its request."""
    try:
        return split_credentials(url)[0]
    except ValueError:
        return ""


_STATUS: dict[AttemptOutcome, OutboxStatus] = {
    "delivered": "delivered",
    "retry": "retrying",
    "dead": "dead",
}
