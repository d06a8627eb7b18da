"""``gitlab-bridge hooks test NAME``: one sample event to a receiver now, like GitLab's Test."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

from bridge.cli.common import command, command_group, load_settings, open_store
from bridge.errors import EX_TEMPFAIL, UsageError

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.store import Store

# GitLab's own "Test" sample for system hooks (Admin > System Hooks > Test, POST /hooks/:id).
SYSTEM_SAMPLE = {
    "event_name": "project_create",
    "name": "Ruby",
    "path": "ruby",
    "project_id": 1,
    "owner_name": "Someone",
    "owner_email": "example@gitlabhq.com",
}


def _hooks_test(args: argparse.Namespace) -> int:
    """Send one sample event to a receiver now, like GitLab's "Test" button."""
    from bridge.delivery.deliverer import endpoint_of
    from bridge.delivery.sender import HttpSender
    from bridge.delivery.wire import build_request
    from bridge.model.ledger import OutboxRecord

    settings = load_settings(args)
    store = open_store(settings)
    receivers = {r.name: r for r in settings.hooks.receivers()}
    if args.name not in receivers:
        known = ", ".join(receivers) or "none configured"
        raise UsageError(f"hooks test: unknown receiver {args.name!r} (known: {known})")
    with store:
        hook, payload = _sample(settings, store, args.name)
    now = dt.datetime.now(dt.UTC)
    event = str(uuid.uuid4())
    row = OutboxRecord(
        id=0,
        event_uuid=event,
        receiver=args.name,
        hook=hook,
        event_name=str(payload["event_name"]),
        subject="test",
        payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        idempotency_key=str(uuid.uuid4()),
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
    # GitLab's Test button obeys the same local-network rule as real deliveries.
    sender = HttpSender(allow_local_network=settings.delivery.allow_local_network)
    try:
        answer = sender.send(args.name, request)
    finally:
        sender.close()
    status = "no answer" if answer.status is None else f"HTTP {answer.status}"
    print(f"{args.name}: {row.event_name} ({hook}) -> {status} in {answer.duration_ms} ms")
    if answer.body:
        print(f"response: {answer.body[:500]}")
    if answer.status is not None and 200 <= answer.status < 300:
        return 0
    print(f"gitlab-bridge: hooks test {args.name}: {answer.error}", file=sys.stderr)
    return EX_TEMPFAIL


def _sample(settings: Settings, store: Store, name: str) -> tuple[str, dict[str, object]]:
    """GitLab's test payload for a system receiver; a Member Hook from the snapshot otherwise."""
    from bridge.hooks.payloads.context import PayloadContext, is_enterprise
    from bridge.hooks.payloads.members import user_add_to_group
    from bridge.hooks.routing import resolve_receivers

    if any(r.name == name for r in settings.hooks.system):
        return "System Hook", dict(SYSTEM_SAMPLE)
    groups = store.groups()
    receivers, _problems = resolve_receivers(settings.hooks, groups)
    receiver = next((r for r in receivers if r.name == name), None)
    if receiver is None or receiver.group_id is None:
        raise UsageError(f"hooks test {name}: its group is not in the snapshot; run `sync` first")
    members = store.members("group", receiver.group_id)
    if not members:
        raise UsageError(
            f"hooks test {name}: group {receiver.group_id} has no direct member in the snapshot "
            "to build a Member Hook sample from"
        )
    member = members[min(members)]
    ctx = PayloadContext(
        settings=settings.payloads,
        enterprise=is_enterprise(settings.payloads.edition, False),
        users=store.users(),
        groups=groups,
        group_members={},
        project_members={},
        observed_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
    return "Member Hook", user_add_to_group(ctx, groups[receiver.group_id], member)


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
        description="Like GitLab's Test button: a system receiver gets GitLab's own sample "
        "project_create; a group receiver a Member Hook built from its group's first direct "
        f"member in the snapshot. Not queued; exit 0 on 2xx, {EX_TEMPFAIL} otherwise.",
    )
    test.add_argument("name", help="receiver name")
