"""``gitlab-bridge hooks test NAME [--event EVENT]``: one event to a receiver now, like GitLab's
Test button. What is sent is bridge.hooks.samples'; this module parses, reads the state and posts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import uuid
from typing import TYPE_CHECKING, Any

from bridge.cli.common import command, command_group, load_settings, open_store
from bridge.errors import EX_TEMPFAIL, UsageError

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.hooks.routing import Receiver
    from bridge.hooks.samples import Sample, Snapshot
    from bridge.store import Store


def _hooks_test(args: argparse.Namespace) -> int:
    """Send one sample event to a receiver now, like GitLab's "Test" button."""
    from bridge.delivery.deliverer import endpoint_of
    from bridge.delivery.sender import HttpSender
    from bridge.delivery.wire import build_request
    from bridge.hooks.payloads.context import body
    from bridge.model.ledger import OutboxRecord

    settings = load_settings(args)
    receivers = {r.name: r for r in settings.hooks.receivers()}
    if args.name not in receivers:
        known = ", ".join(receivers) or "none configured"
        raise UsageError(f"hooks test: unknown receiver {args.name!r} (known: {known})")
    sample = _sample(settings, args.name, args.event)
    now = dt.datetime.now(dt.UTC)
    event = str(uuid.uuid4())
    row = OutboxRecord(
        id=0,
        event_uuid=event,
        receiver=args.name,
        hook=sample.hook,
        event_name=str(sample.payload["event_name"]),
        subject="test",
        payload=body(sample.payload).decode("utf-8"),
        idempotency_key=str(uuid.uuid4()),  # GitLab: a new SecureRandom.uuid per test
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        instance_url=settings.gitlab.url,
        gitlab_event_uuid=event,
    )
    request = build_request(
        row,
        endpoint_of(receivers[args.name]),
        webhook_uuid=str(uuid.uuid4()),
        timestamp=int(now.timestamp()),
        product_token=settings.delivery.user_agent_product_token,
    )
    if sample.note:
        print(f"note: {sample.note}")
    # GitLab's Test button obeys the same local-network rule as real deliveries.
    sender = HttpSender(allow_local_network=settings.delivery.allow_local_network)
    try:
        answer = sender.send(args.name, request)
    finally:
        sender.close()
    status = "no answer" if answer.status is None else f"HTTP {answer.status}"
    print(f"{args.name}: {row.event_name} ({sample.hook}) -> {status} in {answer.duration_ms} ms")
    if answer.body:
        print(f"response: {answer.body[:500]}")
    if answer.status is not None and 200 <= answer.status < 300:
        return 0
    print(f"gitlab-bridge: hooks test {args.name}: {answer.error}", file=sys.stderr)
    return EX_TEMPFAIL


def _sample(settings: Settings, name: str, wanted: str | None) -> Sample:
    """The sample of ``wanted`` (or the default) for receiver ``name``; UsageError if none."""
    from bridge.hooks import samples
    from bridge.hooks.routing import Receiver

    system = any(r.name == name for r in settings.hooks.system)
    try:
        if system:
            receiver = Receiver(name=name)
            event = samples.choose(receiver, wanted)
            if not samples.needs_snapshot(receiver, event):
                return samples.sample(receiver, event, None)  # GitLab's fixed sample: no state
        with open_store(settings) as store:
            if not system:
                receiver = _group_receiver(settings, store, name)
                event = samples.choose(receiver, wanted)
            return samples.sample(receiver, event, _snapshot(settings, store, receiver))
    except samples.NoSample as exc:
        raise UsageError(f"hooks test {name}: {exc}") from exc


def _group_receiver(settings: Settings, store: Store, name: str) -> Receiver:
    """The group receiver ``name`` with its group resolved in the snapshot."""
    from bridge.hooks.routing import resolve_receivers

    receivers, _problems = resolve_receivers(settings.hooks, store.groups())
    receiver = next((r for r in receivers if r.name == name), None)
    if receiver is None:
        raise UsageError(
            f"hooks test {name}: its group is not in the snapshot; run `gitlab-bridge sync` first"
        )
    return receiver


def _snapshot(settings: Settings, store: Store, receiver: Receiver) -> Snapshot:
    """The snapshot as the sync engine's payload context sees it; member rows read on demand."""
    from bridge.hooks.payloads.context import PayloadContext, is_enterprise
    from bridge.hooks.samples import Snapshot

    ctx = PayloadContext(
        settings=settings.payloads,
        enterprise=is_enterprise(settings.payloads.edition, False),
        users=store.users(),
        groups=store.groups(),
        group_members=store.member_view("group"),
        project_members=store.member_view("project"),
        observed_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
    return Snapshot(ctx=ctx, projects=store.projects(), group_id=receiver.group_id)


def add_commands(commands: Any) -> None:
    """Register ``hooks test``."""
    hooks_sub = command_group(
        commands,
        "hooks",
        help="the configured receivers",
        description="The receivers of the configuration: `hooks test NAME` sends one sample "
        "event, as GitLab's Test button does.",
    )
    test = command(
        hooks_sub,
        "test",
        _hooks_test,
        help="send a sample event to a receiver now",
        description="Like GitLab's Test button. A system receiver gets GitLab's own fixed "
        "sample for push (the default), tag_push or repository_update; any other event, and "
        "every event of a group receiver (default user_add_to_group), is built from the "
        "snapshot's lowest-id records as a real one would be. Not queued; exit 0 on 2xx, "
        f"{EX_TEMPFAIL} otherwise.",
    )
    test.add_argument("name", help="receiver name")
    test.add_argument(
        "--event",
        metavar="EVENT",
        help="the event to send (an unknown one lists those the receiver can get)",
    )
