"""What every command shares: the one place that loads the configuration, opens the store and
connects to GitLab, the ``--config`` option, and a plain table printer."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bridge.errors import ConfigError, FatalSourceError, SourceError

if TYPE_CHECKING:
    from bridge.config.settings import Settings
    from bridge.source import GitLabSource
    from bridge.store import Store

DEFAULT_CONFIG = "/etc/gitlab-bridge/config.yaml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``, defaulting to ``$GITLAB_BRIDGE_CONFIG`` or ``DEFAULT_CONFIG``."""
    parser.add_argument(
        "-c",
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

    prepare_state_folder(settings.state.url)
    return Store.open(settings.state.url)


@contextmanager
def sole_poller(settings: Settings, store: Store) -> Iterator[None]:
    """Poll only when no daemon does: two pollers on one state would both queue each change.

    SQLite: the daemon's instance lock; PostgreSQL: the poller lease. AlreadyRunning (73)
    otherwise.
    """
    from bridge.errors import AlreadyRunning
    from bridge.service.locks import InstanceLock, sqlite_path

    database = sqlite_path(settings.state.url)
    if database is not None:
        lock = InstanceLock(database).acquire()
        try:
            yield
        finally:
            lock.release()
        return
    lease = store.poller_lease()
    if not lease.try_lead():
        raise AlreadyRunning(f"another gitlab-bridge polls this state ({store.url}); sync refused")
    try:
        yield
    finally:
        lease.release()


def prepare_state_folder(url: str, where: str = "state.url", *, create: bool = True) -> None:
    """Create a SQLite state's folder; one that cannot be created or written is a configuration
    error (exit 78): restarting will not fix it, unlike a database that is down (74).

    ``create=False`` (``check-config``) changes nothing: the nearest existing folder, and the
    database file if there is one, must be writable.
    """
    from bridge.service.locks import sqlite_path

    database = sqlite_path(url)
    if database is None:
        return
    folder = database.parent
    if not create:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise ConfigError(f"{where}: cannot create {folder}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK) or (
            database.exists() and not os.access(database, os.W_OK)
        ):
            raise ConfigError(f"{where}: cannot write in {existing}: permission denied")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: cannot write in {folder}: permission denied")


def connect(settings: Settings) -> GitLabSource:
    """The GitLab of ``gitlab.*``, connected with an admin token.

    What retrying cannot fix at this point (a token GitLab refuses or that is not an admin's, a
    URL that redirects or is not GitLab's API) is a configuration error (78), as for ``run``;
    GitLab unreachable or failing stays a SourceError (69).
    """
    from bridge.source import GitLabSource

    source = GitLabSource.from_settings(settings.gitlab)
    try:
        source.check(needs_admin=True)
    except FatalSourceError as exc:
        raise ConfigError(f"gitlab.token: {exc}") from exc  # the culprit `run` names too
    except SourceError as exc:
        raise SourceError(f"GitLab at {settings.gitlab.url} is unavailable: {exc}") from exc
    return source


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
