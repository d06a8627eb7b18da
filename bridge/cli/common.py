"""What every command shares: the one place that loads the configuration and opens the store,
the ``--config`` option, and a plain table printer."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.store import Store

DEFAULT_CONFIG = "/etc/gitlab-bridge/config.yaml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``, defaulting to ``$GITLAB_BRIDGE_CONFIG`` or ``DEFAULT_CONFIG``."""
    parser.add_argument(
        "--config",
        default=os.environ.get("GITLAB_BRIDGE_CONFIG", DEFAULT_CONFIG),
        help=f"YAML configuration (default: $GITLAB_BRIDGE_CONFIG or {DEFAULT_CONFIG})",
    )


def command(
    commands: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    config: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand with its help, its description, ``--config`` unless it needs none, and the
    handler that ``main`` calls."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    if config:
        add_config_option(parser)
    parser.set_defaults(func=func)
    return parser


def command_group(commands: Any, name: str, *, help: str, description: str) -> Any:
    """A command made of subcommands (``deliveries list``, ``db upgrade``): their registry."""
    parser = commands.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")


def load_settings(args: argparse.Namespace) -> Settings:
    """The configuration named by ``--config`` (every problem at once: ConfigProblems)."""
    from bridge import config

    return config.load(args.config)


def open_store(settings: Settings) -> Store:
    """The state database of ``state.url``, migrated (a newer schema is refused)."""
    from bridge.store import Store

    return Store.open(settings.state.url)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
