"""Command line of gitlab-hook-bridge: parse arguments, call a use case, map errors to exits.

Exit codes: 0 success, 1 unexpected bridge error, 64 usage, 69 GitLab unavailable, 73 another
daemon holds the state, 74 state database, 75 events left undelivered, 78 configuration
(EX_CONFIG).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridge import __version__
from bridge.cli.common import wait_for_signal
from bridge.cli.daemon import add_commands as add_daemon_commands
from bridge.cli.deliveries import add_commands as add_delivery_commands
from bridge.cli.project_groups import add_commands as add_project_groups_commands
from bridge.errors import BridgeError, ConfigError
from bridge.service.logs import LEVELS
from bridge.service.logs import configure as configure_logging

if TYPE_CHECKING:
    from bridge.config.settings import Settings


def _sim_serve(args: argparse.Namespace) -> int:
    """Start the GitLab simulator and serve until SIGINT or SIGTERM."""
    from bridge.testing.sim.datasets import SIZES
    from bridge.testing.sim.faults import Latency
    from bridge.testing.sim.profiles import get_profile
    from bridge.testing.sim.ratelimit import Throttle
    from bridge.testing.sim.simulator import Simulator

    if args.dataset not in SIZES:
        raise ConfigError(
            f"--dataset: unknown dataset {args.dataset!r} (choose {', '.join(SIZES)})"
        )
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: {args.port} is not a TCP port (0-65535)")
    throttle = None
    if args.rate_limit:
        try:
            throttle = Throttle.parse(args.rate_limit)
        except ValueError as exc:
            raise ConfigError(f"--rate-limit: {exc}") from None
    try:
        get_profile(args.version)
    except ValueError as exc:
        raise ConfigError(f"--version: {exc}") from None
    sim = Simulator.from_dataset(
        args.dataset,
        seed=args.seed,
        version=args.version,
        throttle=throttle,
        external_url=args.external_url,
    )
    if args.latency_ms:
        sim.faults.latency = Latency(fixed_ms=args.latency_ms, jitter_ms=args.jitter_ms)
    try:
        sim.start(args.host, args.port)
    except OSError as exc:
        raise ConfigError(
            f"--host/--port: cannot listen on {args.host}:{args.port}: {exc.strerror}"
        ) from None
    print(f"url: {sim.url}", flush=True)
    print(f"admin-token: {sim.tokens['admin']}", flush=True)
    print(f"user-token: {sim.tokens['user']}", flush=True)
    print(
        f"version: {sim.profile.version_string}  dataset: {args.dataset} (seed {args.seed})",
        flush=True,
    )
    wait_for_signal()
    sim.stop()
    return 0


DEFAULT_CONFIG = "/etc/gitlab-bridge/config.yaml"


def _check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file; print it with secrets redacted under --show."""
    from bridge import config

    settings = config.load(args.config)
    if args.online:
        _check_online(settings)
    receivers = len(settings.hooks.system) + len(settings.hooks.group)
    print(f"{args.config}: configuration OK ({receivers} receivers)")
    if args.show:
        print(config.show(settings), end="")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the state database to this version's schema (also done on every start)."""
    from bridge import config
    from bridge.store import current_revision, head_revision, redact, upgrade

    url = args.url or config.load(args.config).state.url
    before = current_revision(url)
    upgrade(url)
    print(f"{redact(url)}: schema {before or 'empty'} -> {head_revision()}")
    return 0


def _check_online(settings: Settings) -> None:
    """Connect to GitLab: the token must be an admin's and every receiver's group must exist."""
    from bridge.errors import ConfigProblems
    from bridge.source import GitLabSource

    source = GitLabSource.from_settings(settings.gitlab)
    instance = source.check(needs_admin=True)
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


def _sync(args: argparse.Namespace) -> int:
    """One pass over every resource: poll, diff, queue the events of what changed."""
    import datetime as dt

    from bridge import config
    from bridge.cli.deliveries import deliver_pass
    from bridge.errors import SourceError
    from bridge.source import GitLabSource
    from bridge.store import Store
    from bridge.sync import sync

    settings = config.load(args.config)
    source = GitLabSource.from_settings(settings.gitlab)
    tty = sys.stderr.isatty()

    def progress(phase: str) -> None:
        if tty:
            print(f"\rsync: {phase}...".ljust(40), end="", file=sys.stderr, flush=True)

    with Store.open(settings.state.url) as store:
        try:
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
            return 1
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


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("GITLAB_BRIDGE_CONFIG", DEFAULT_CONFIG),
        help=f"YAML configuration (default: $GITLAB_BRIDGE_CONFIG or {DEFAULT_CONFIG})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gitlab-bridge",
        description="Poll GitLab's REST API and deliver the webhooks the instance lacks.",
        epilog="--log-format and --log-level may also follow the command. Start with "
        "`gitlab-bridge demo`; `gitlab-bridge COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_log_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file and report every problem at once, one line "
        "each with a dotted path; exit 78 if there is any. Secrets are never printed.",
    )
    _add_config_option(check)
    check.add_argument(
        "--show", action="store_true", help="print the configuration, secrets redacted"
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also connect to GitLab: the token must be an admin's and every group must exist",
    )
    check.set_defaults(func=_check_config)

    sync_cmd = commands.add_parser(
        "sync",
        help="poll every resource once and queue the events of what changed",
        description="One pass: read users, groups, projects, shares and every direct member "
        "list, diff them against the stored snapshot, confirm removals, and queue the hooks "
        "GitLab would have sent; then give every due event one delivery attempt. The first "
        "pass of each resource is a silent baseline. Exit 0 on success, 1 when polling failed, "
        "75 when events stay undelivered, 78 on configuration errors.",
    )
    _add_config_option(sync_cmd)
    sync_cmd.add_argument(
        "--no-deliver", action="store_true", help="only poll and queue; deliver later"
    )
    sync_cmd.set_defaults(func=_sync)

    add_daemon_commands(commands, _add_config_option)
    add_delivery_commands(commands, _add_config_option)
    add_project_groups_commands(commands, _add_config_option)

    db = commands.add_parser(
        "db",
        help="the state database",
        description="Manage the state database named by state.url: `db upgrade` applies the "
        "schema migrations.",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    db_upgrade = db_commands.add_parser(
        "upgrade",
        help="migrate the state database to this version's schema",
        description="Apply the schema migrations (every start does this too). A database "
        "written by a newer bridge is refused.",
    )
    _add_config_option(db_upgrade)
    db_upgrade.add_argument("--url", help="database URL instead of the configuration's state.url")
    db_upgrade.set_defaults(func=_db_upgrade)

    sim = commands.add_parser(
        "sim",
        help="the built-in GitLab simulator",
        description="The simulated GitLab the bridge is tested against: `sim serve` serves one "
        "on real sockets, with a generated dataset, for trying the bridge without a GitLab.",
    )
    sim_commands = sim.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")
    serve = sim_commands.add_parser(
        "serve",
        help="serve a simulated GitLab REST API v4",
        description="Serve a simulated GitLab on real sockets. Prints the base URL and the admin "
        "and non-admin tokens, one per line, then serves until SIGINT/SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    serve.add_argument("--dataset", default="small", help="small, medium or large (default small)")
    serve.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    serve.add_argument(
        "--version",
        default="16.11",
        dest="version",
        help="GitLab version: 12.10, 13.12, 16.11, 17.5, 17.7; add -ee for EE (default 16.11)",
    )
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    serve.add_argument("--jitter-ms", type=float, default=0.0, help="uniform jitter on top of it")
    serve.add_argument("--rate-limit", help="throttle per user or IP, e.g. 10/s, 600/m, 7200/3600")
    serve.add_argument(
        "--external-url", help="GitLab's external URL for links (default: the bound address)"
    )
    serve.set_defaults(func=_sim_serve)
    return parser


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("GITLAB_BRIDGE_LOG_FORMAT", "text"),
        help="log lines as text or one JSON object each (default: $GITLAB_BRIDGE_LOG_FORMAT "
        "or text)",
    )
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default=os.environ.get("GITLAB_BRIDGE_LOG_LEVEL", "").lower() or None,
        help="least severe level logged (default: $GITLAB_BRIDGE_LOG_LEVEL, else info for "
        "`run` and error for the other commands, whose own output reports what they did)",
    )


def _split_log_options(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Move --log-format/--log-level wherever they are to the front, where argparse wants them."""
    front, rest = [], []
    items = list(argv)
    while items:
        item = items.pop(0)
        name = item.split("=", 1)[0]
        if name in ("--log-format", "--log-level"):
            front.append(item)
            if "=" not in item and items:
                front.append(items.pop(0))
        elif item == "--":
            rest += [item, *items]
            break
        else:
            rest.append(item)
    return front, rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gitlab-bridge`` console script."""
    parser = build_parser()
    front, rest = _split_log_options(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args([*front, *rest])
    level = args.log_level or ("info" if args.command == "run" else "error")
    configure_logging(args.log_format, level)
    try:
        return int(args.func(args))
    except BridgeError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"gitlab-bridge: {line}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
