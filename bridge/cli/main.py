"""Command line of gitlab-hook-bridge: parse arguments, call a use case, map errors to exits.

Exit codes (``bridge.errors``): 0 success, 1 failure, 64 usage, 69 GitLab unavailable, 73 another
daemon holds the state, 74 state database, 75 events left undelivered, 78 configuration, 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from bridge import __version__
from bridge.cli import daemon, deliveries, hooks, plan, project_groups, sim, sync
from bridge.errors import EXIT_INTERRUPTED, BridgeError, UsageError
from bridge.service.logs import LEVELS
from bridge.service.logs import configure as configure_logging

FORMATS = ("text", "json")


class Parser(argparse.ArgumentParser):
    """argparse whose errors are a ``UsageError``: one line and exit 64, not argparse's 2.

    Subcommand parsers are made by ``add_parser``, which uses the parent's class, so every
    command of the tree reports the same way.
    """

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting 2."""
        where = self.prog.removeprefix("gitlab-bridge").strip()
        raise UsageError(f"{where + ': ' if where else ''}{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = Parser(
        prog="gitlab-bridge",
        description="Poll GitLab's REST API and deliver the webhooks the instance lacks.",
        epilog="--log-format and --log-level may also follow the command. Start with "
        "`gitlab-bridge demo`; `gitlab-bridge COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_log_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for family in (sync, daemon, plan, deliveries, hooks, project_groups):
        family.add_commands(commands)
    sync.add_db_commands(commands)
    sim.add_commands(commands)

    return parser


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
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


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, or a UsageError; the logging variables are checked like options."""
    front, rest = _split_log_options(argv)
    args, extra = build_parser().parse_known_args([*front, *rest])
    if extra:
        # argparse would blame the top-level parser; name the command that was given.
        words = [args.command, *(v for k, v in vars(args).items() if k.endswith("_command"))]
        command = " ".join(words)
        raise UsageError(
            f"{command}: unrecognized arguments: {' '.join(extra)} "
            f"(see `gitlab-bridge {command} --help`)"
        )
    # argparse checks a default against ``choices`` only when it came from the command line.
    for name, value, allowed in (
        ("GITLAB_BRIDGE_LOG_FORMAT", args.log_format, FORMATS),
        ("GITLAB_BRIDGE_LOG_LEVEL", args.log_level, (None, *LEVELS)),
    ):
        if value not in allowed:
            choices = ", ".join(a for a in allowed if a)
            raise UsageError(f"${name}: {value!r} is not one of {choices}")
    return args


def _report(exc: BridgeError) -> int:
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"gitlab-bridge: {line}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gitlab-bridge`` console script."""
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        return _report(exc)
    level = args.log_level or ("info" if args.command == "run" else "error")
    configure_logging(args.log_format, level)
    try:
        return int(args.func(args))
    except BridgeError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        # An operator's Ctrl-C is no bug: no traceback. Every transaction is atomic, so what
        # was cut short is found again by the next run. (`run` handles SIGINT itself.)
        print("gitlab-bridge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
