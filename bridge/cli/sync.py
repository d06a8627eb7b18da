"""Commands ``check-config``, ``sync`` and ``db upgrade``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bridge.cli.common import (
    command,
    command_group,
    connect,
    load_settings,
    open_store,
    prepare_state_folder,
    sole_poller,
)

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.source import GitLabSource


def _check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file; print it with secrets redacted under --show."""
    from bridge import config

    settings = load_settings(args)
    prepare_state_folder(settings.state.url, create=False)
    if args.online:
        _check_online(settings)
    receivers = len(settings.hooks.system) + len(settings.hooks.group)
    print(f"{args.config}: configuration OK ({receivers} receivers)")
    if args.show:
        print(config.show(settings), end="")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the state database to this version's schema (also done on every start)."""
    from bridge.store import current_revision, head_revision, redact, upgrade

    url = args.url or load_settings(args).state.url
    prepare_state_folder(url, "--url" if args.url else "state.url")
    before = current_revision(url)
    upgrade(url)
    print(f"{redact(url)}: schema {before or 'empty'} -> {head_revision()}")
    return 0


def _check_online(settings: Settings) -> None:
    """Connect to GitLab: the token must be an admin's and every receiver's group must exist."""
    from bridge.errors import ConfigProblems

    source = connect(settings)
    instance = source.instance
    problems = [
        f"hooks.group[{i}].group: unknown group {hook.group!r}"
        for i, hook in enumerate(settings.hooks.group)
        if source.get_group(int(hook.group) if hook.group.isdigit() else hook.group) is None
    ]
    if problems:
        raise ConfigProblems(problems)
    edition = "EE" if instance.enterprise else "CE"
    who = instance.token_username
    print(f"{settings.gitlab.url}: GitLab {instance.version} {edition}, admin token of {who!r}")
    print(_budget_line(source))


def _budget_line(source: GitLabSource) -> str:
    """The configured budget, GitLab's own throttle (which caps it) and what is left of it."""
    limits = source.instance_limits()  # also caps source.budget
    if limits is None:
        throttle = "not readable"
    elif not limits.enabled:
        throttle = "off"
    else:
        throttle = (
            f"{limits.requests_per_period} per {limits.period_seconds}s "
            f"({_per_minute(limits.per_minute)}/min)"
        )
    budget = source.budget
    if budget is None:
        return f"budget: none; GitLab's authenticated API throttle: {throttle}"
    return (
        f"budget: {budget.configured} requests/min configured; GitLab's authenticated API "
        f"throttle: {throttle}; effective: {_per_minute(budget.effective)}/min"
    )


def _per_minute(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _sync(args: argparse.Namespace) -> int:
    """One pass over every resource: poll, diff, queue the events of what changed."""
    import datetime as dt

    from bridge.cli.deliveries import deliver_pass
    from bridge.errors import SourceError
    from bridge.sync import sync

    settings = load_settings(args)
    tty = sys.stderr.isatty()

    def progress(phase: str) -> None:
        if tty:
            print(f"\rsync: {phase}...".ljust(40), end="", file=sys.stderr, flush=True)

    with open_store(settings) as store, sole_poller(settings, store):
        try:
            source = connect(settings)
            report = sync(
                source,
                store,
                settings,
                now=lambda: dt.datetime.now(dt.UTC),
                workers=settings.gitlab.concurrency,
                progress=progress,
            )
        except SourceError as exc:
            if tty:
                print(file=sys.stderr)
            print(f"gitlab-bridge: sync failed: {exc}", file=sys.stderr)
            if not args.no_deliver:
                deliver_pass(settings, store)  # what was queued before still goes out
            return exc.exit_code  # 69: GitLab could not be read
        if tty:
            print("\r".ljust(41), end="\r", file=sys.stderr)
        baseline = f", baseline of {len(report.baselines)} resources" if report.baselines else ""
        print(
            f"sync: {report.resources} resources polled, {report.requests} requests, "
            f"{report.changes} changes, "
            f"{report.events_queued} events queued{baseline}, {report.seconds:.1f} s"
        )
        delivery = 0 if args.no_deliver else deliver_pass(settings, store)[1]
    if report.failures:
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        print(
            f"gitlab-bridge: sync incomplete: {report.failures[0]}{more}; "
            "those lists keep their previous snapshot",
            file=sys.stderr,
        )
        return 1
    return delivery


def add_commands(commands: Any) -> None:
    """Register ``check-config`` and ``sync``."""
    check = command(
        commands,
        "check-config",
        _check_config,
        help="validate a configuration file",
        description="Validate a configuration file and report every problem at once, one line "
        "each with a dotted path; exit 78 if there is any. With --online, a token GitLab refuses "
        "or that is not an admin's is one too (78); a GitLab that cannot be reached exits 69. "
        "Secrets are never printed.",
    )
    check.add_argument(
        "--show", action="store_true", help="print the configuration, secrets redacted"
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also connect to GitLab: the token must be an admin's and every group must exist",
    )

    sync_cmd = command(
        commands,
        "sync",
        _sync,
        help="poll every resource once and queue the events of what changed",
        description="One pass: read users, groups, projects, shares and every direct member "
        "list, diff them against the stored snapshot, confirm removals, and queue the hooks "
        "GitLab would have sent; then give every due event one delivery attempt. The first "
        "pass of each resource is a silent baseline. Exit 0 on success, 1 when member lists "
        "failed, 69 when GitLab could not be read, 75 when events stay undelivered, 78 on "
        "configuration errors (including a token GitLab refuses).",
    )
    sync_cmd.add_argument(
        "--no-deliver", action="store_true", help="only poll and queue; deliver later"
    )


def add_db_commands(commands: Any) -> None:
    """Register ``db upgrade``."""
    db_commands = command_group(
        commands,
        "db",
        help="the state database",
        description="Manage the state database named by state.url: `db upgrade` applies the "
        "schema migrations.",
    )
    db_upgrade = command(
        db_commands,
        "upgrade",
        _db_upgrade,
        help="migrate the state database to this version's schema",
        description="Apply the schema migrations (every start does this too). A database "
        "written by a newer bridge is refused.",
    )
    db_upgrade.add_argument("--url", help="database URL instead of the configuration's state.url")
