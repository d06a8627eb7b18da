"""Command line of gitlab-hook-bridge: parse arguments, call a use case, map errors to exits.

Exit codes (``bridge.errors``): 0 success, 1 failure, 64 usage, 69 GitLab unavailable, 73 another
daemon holds the state, 74 state database, 75 events left undelivered, 78 configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.cli import daemon, deliveries, hooks, project_groups, sim, sync
from bridge.errors import BridgeError
from bridge.service.logs import LEVELS
from bridge.service.logs import configure as configure_logging


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

    for family in (sync, daemon, deliveries, hooks, project_groups):
        family.add_commands(commands)
    sync.add_db_commands(commands)
    sim.add_commands(commands)

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
