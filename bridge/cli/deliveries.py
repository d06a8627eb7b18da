"""Delivery commands: ``deliver`` and ``deliveries list|show|retry|purge``.

Handlers load the configuration, open the store and call the delivery side; ``bridge.cli.main``
registers them. Output is a readable table by default and JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from bridge.cli.common import command, command_group, load_settings, open_store, print_table
from bridge.errors import EX_TEMPFAIL, UsageError
from bridge.model.ledger import WAITING

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.delivery.deliverer import DeliveryReport
    from bridge.model.ledger import OutboxRecord, OutboxStatus
    from bridge.store import Store

STATUSES = ("pending", "retrying", "dead", "delivered")
REDACTED = "[REDACTED]"  # GitLab's word for a hidden header value in its hook logs


def deliver_pass(settings: Settings, store: Store) -> tuple[DeliveryReport, int]:
    """One delivery pass; prints a summary line, returns the report and the exit code."""
    from bridge.delivery.deliverer import Deliverer

    deliverer = Deliverer(store.deliveries, settings.hooks, settings.delivery)
    try:
        report = deliverer.run_pass()
    finally:
        deliverer.sender.close()
    dead = sum(r.dead for r in report.receivers.values())
    retrying = sum(r.retrying for r in report.receivers.values())
    print(
        f"deliver: {report.attempted} attempts, {report.delivered} delivered, "
        f"{retrying} to retry, {dead} dead letters, {report.seconds:.1f} s"
    )
    waiting = {**report.waiting, **report.unknown}
    if not waiting:
        return report, 0
    paused = {n for n, r in report.receivers.items() if r.circuit_open}
    parts = []
    for name, count in sorted(waiting.items()):
        why = (
            " (not configured)"
            if name in report.unknown
            else " (circuit open)"
            if name in paused
            else ""
        )
        parts.append(f"{name} {count}{why}")
    total = sum(waiting.values())
    print(f"gitlab-bridge: {total} events undelivered: {', '.join(parts)}", file=sys.stderr)
    return report, EX_TEMPFAIL


def _deliver(args: argparse.Namespace) -> int:
    """Give every due event one attempt now."""
    settings, store = _open(args)
    with store:
        return deliver_pass(settings, store)[1]


def _list(args: argparse.Namespace) -> int:
    """Outbox rows, oldest first (the last --limit of them)."""
    _settings, store = _open(args)
    with store:
        status: OutboxStatus | None = "retrying" if args.status == "failed" else args.status
        statuses: tuple[OutboxStatus, ...] = (status,) if status else ()
        rows = store.deliveries.listing(statuses=statuses, receiver=args.receiver)
    rows = rows[-args.limit :] if args.limit else rows
    if args.json:
        print(json.dumps([_summary(r) for r in rows], indent=2))
        return 0
    header = ("ID", "STATUS", "RECEIVER", "EVENT", "SUBJECT", "TRIES", "WHEN", "LAST ERROR")
    table: list[tuple[str, ...]] = [header]
    for r in rows:
        when = r.delivered_at if r.status == "delivered" else r.next_attempt_at
        table.append(
            (
                str(r.id),
                r.status,
                r.receiver,
                r.event_name,
                r.subject,
                str(r.attempts),
                _time(when) if r.status != "dead" else "-",
                (r.last_error or "")[:60],
            )
        )
    print_table(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    """One row: payload, the headers of its next attempt (secrets redacted), every attempt."""
    from bridge.delivery.deliverer import endpoints_of
    from bridge.delivery.wire import Endpoint, build_request

    settings, store = _open(args)
    with store:
        row = _row(store, args.id)
        attempts = store.deliveries.attempts(row.id)
    endpoint = endpoints_of(settings.hooks).get(row.receiver) or Endpoint(
        name=row.receiver, url="-"
    )
    request = build_request(
        row,
        endpoint,
        webhook_uuid="<new per attempt>",
        timestamp=0,
        product_token=settings.delivery.user_agent_product_token,
    )
    # As GitLab's hook logs: the token and every custom header value become "[REDACTED]"
    # (WebHookLog#request_headers, WebHookService#build_custom_headers(values_redacted: true)).
    custom = {name.lower() for name in endpoint.custom_headers or {}}
    secret = {"x-gitlab-token", "webhook-signature", "authorization", *custom}
    headers = [(k, REDACTED if k.lower() in secret else v) for k, v in request.headers]
    if args.json:
        out = {
            **_summary(row),
            "payload": json.loads(row.payload),
            "headers": dict(headers),
            "attempts": [_attempt_json(a) for a in attempts],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"event {row.id}: {row.event_name} ({row.hook}) for {row.receiver}, {row.status}")
    print(f"subject {row.subject}, queued {_time(row.created_at)}, attempts {row.attempts}")
    if row.last_error:
        print(f"last error: {row.last_error}")
    print("\nheaders of the next attempt:")
    for name, value in headers:
        print(f"  {name}: {value}")
    print("\npayload:")
    print(json.dumps(json.loads(row.payload), indent=2, ensure_ascii=False))
    print(f"\nattempts ({len(attempts)}):")
    for a in attempts:
        code = a.status_code if a.status_code is not None else "-"
        print(
            f"  #{a.number} {_time(a.started_at)} {a.outcome} HTTP {code} in {a.duration_ms} ms "
            f"to {a.url}{f': {a.error}' if a.error else ''}"
        )
        if a.response_body:
            print(f"     response: {a.response_body[:200]!r}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    """Queue rows again: same body and keys, a new Webhook-UUID per attempt."""
    from bridge.delivery.deliverer import endpoints_of
    from bridge.delivery.wire import split_credentials

    if (args.id is None) == (not args.dead):
        raise UsageError("deliveries retry: give an event ID or --dead, not both")
    settings, store = _open(args)
    endpoints = endpoints_of(settings.hooks)
    with store:
        if args.id is not None:
            rows = [_row(store, args.id)]
        else:
            rows = store.deliveries.listing(statuses=("dead",), receiver=args.receiver)
        refused = []
        for row in rows:
            endpoint = endpoints.get(row.receiver)
            if endpoint is None:
                raise UsageError(f"event {row.id}: receiver {row.receiver!r} is not configured")
            last = store.deliveries.last_url(row.id)
            if last is not None and last != split_credentials(endpoint.url)[0] and not args.force:
                refused.append(row.id)
        if refused:
            raise UsageError(
                f"events {', '.join(map(str, refused))}: the receiver's URL changed since the "
                "last attempt; use --force to send them to the new URL"
            )
        count = store.deliveries.redeliver([r.id for r in rows], dt.datetime.now(dt.UTC))
    print(f"{count} events queued again (same Idempotency-Key); `deliver` or the daemon sends them")
    return 0


def _purge(args: argparse.Namespace) -> int:
    """Delete delivered (and with --include-dead, dead) rows older than --older-than."""
    from bridge.config.fields import parse_duration

    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise UsageError(f"deliveries purge: --older-than: {exc}") from None
    statuses: list[OutboxStatus] = ["delivered"]
    if args.include_dead:
        statuses.append("dead")
    _settings, store = _open(args)
    with store:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
        count = store.deliveries.purge(cutoff, statuses)
    print(f"{count} {' and '.join(statuses)} events older than {args.older_than} purged")
    return 0


# -- helpers -----------------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> tuple[Settings, Store]:
    settings = load_settings(args)
    return settings, open_store(settings)


def _row(store: Store, row_id: int) -> OutboxRecord:
    row = store.deliveries.get(row_id)
    if row is None:
        raise UsageError(f"no event {row_id} in the outbox")
    return row


def _time(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _summary(row: OutboxRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "receiver": row.receiver,
        "hook": row.hook,
        "event_name": row.event_name,
        "subject": row.subject,
        "attempts": row.attempts,
        "idempotency_key": row.idempotency_key,
        "queued_at": _time(row.created_at),
        "next_attempt_at": _time(row.next_attempt_at) if row.status in WAITING else None,
        "delivered_at": _time(row.delivered_at) if row.delivered_at else None,
        "last_error": row.last_error,
    }


def _attempt_json(attempt: Any) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": _time(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "url": attempt.url,
        "status_code": attempt.status_code,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "response_body": attempt.response_body,
    }


def _positive_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an event id")
    return int(text)


def add_commands(commands: Any) -> None:
    """Register ``deliver``, ``deliveries`` and ``hooks`` on the main parser's subcommands."""
    command(
        commands,
        "deliver",
        _deliver,
        help="give every due event one delivery attempt now",
        description="One delivery pass over the outbox: every event due now gets one attempt, "
        f"receivers in parallel. Exit 0 when nothing waits afterwards, {EX_TEMPFAIL} when events "
        "stay undelivered (retrying, held by an open circuit, or for unconfigured receivers).",
    )

    sub = command_group(
        commands,
        "deliveries",
        help="inspect and manage queued events",
        description="The outbox: `list` and `show` queued, delivered and dead events, `retry` "
        "them with the same Idempotency-Key, `purge` old delivered ones.",
    )
    listing = command(
        sub,
        "list",
        _list,
        help="list queued events",
        description="Outbox rows, oldest first.",
    )
    listing.add_argument(
        "--status",
        choices=(*STATUSES, "failed"),
        help="only rows with this status (failed: the former name of retrying)",
    )
    listing.add_argument("--receiver", help="only rows for this receiver")
    listing.add_argument("--limit", type=int, default=100, help="the last N rows (0: all)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")

    show = command(
        sub,
        "show",
        _show,
        help="one event: payload, headers, every attempt",
        description="The payload, the headers its next attempt will carry (token, signature and "
        "custom header values redacted, as GitLab's hook logs show them) and every attempt with "
        "its status, duration, error and response.",
    )
    show.add_argument("id", type=_positive_id, help="event id (from `deliveries list`)")
    show.add_argument("--json", action="store_true", help="JSON output")

    retry = command(
        sub,
        "retry",
        _retry,
        help="queue events again (same Idempotency-Key)",
        description="Queue one event, or every dead letter, again: same body, Idempotency-Key "
        "and X-Gitlab-Event-UUID; a new X-Gitlab-Webhook-UUID per attempt; attempts and the "
        "max_age clock start over. Refused when the receiver's URL changed, unless --force.",
    )
    retry.add_argument("id", nargs="?", type=_positive_id, help="event id")
    retry.add_argument("--dead", action="store_true", help="every dead letter")
    retry.add_argument("--receiver", help="with --dead: only this receiver's")
    retry.add_argument("--force", action="store_true", help="send to a changed URL anyway")

    purge = command(
        sub,
        "purge",
        _purge,
        help="delete old delivered events",
        description="Delete delivered events (and their attempts) last updated before the given "
        "age. Waiting events are never purged; dead letters only with --include-dead.",
    )
    purge.add_argument("--older-than", required=True, help="an age such as 30d or 12h")
    purge.add_argument("--include-dead", action="store_true", help="purge dead letters too")


__all__ = ["add_commands", "deliver_pass"]
