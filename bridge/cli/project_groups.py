"""``gitlab-bridge project-groups`` (from the snapshot) and ``gitlab-bridge serve`` (HTTP)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from bridge.cli.common import command, load_settings, open_store, print_table
from bridge.errors import UsageError
from bridge.service.signals import wait_for_stop


def _project_groups(args: argparse.Namespace) -> int:
    """A project's groups, answered from the snapshot without calling GitLab."""
    from bridge.errors import InvalidParameter
    from bridge.project_groups.finder import (
        Caller,
        parse_query,
        project_groups,
        public_group_details,
    )
    from bridge.project_groups.view import load

    params: dict[str, str | list[str]] = {"with_shared": "true" if args.with_shared else "false"}
    if args.shared_min_access_level is not None:
        params["shared_min_access_level"] = args.shared_min_access_level
    if args.skip_groups:
        params["skip_groups"] = args.skip_groups
    if args.search is not None:
        params["search"] = args.search
    try:
        query = parse_query(params)
    except InvalidParameter as exc:
        option = str(exc).split(" ", 1)[0].replace("_", "-")
        raise UsageError(f"--{option}: {exc}") from None
    settings = load_settings(args)
    with open_store(settings) as store:
        view = load(store)
    project = view.project(args.project)
    if project is None:
        raise UsageError(f"project {args.project!r} is not in the snapshot (run `sync` first?)")
    found = project_groups(project, view.groups, view.group_members, query, Caller(is_admin=True))
    age = view.age(dt.datetime.now(dt.UTC))
    if args.json:
        print(json.dumps([public_group_details(g) for g in found], indent=2, ensure_ascii=False))
    else:
        rows = [("ID", "FULL PATH", "NAME", "HOW")]
        shared = {s.group_id: s for s in project.shares}
        for group in found:
            how = "ancestor"
            if group.id in shared:
                how = f"shared (level {shared[group.id].access_level})"
            rows.append((str(group.id), group.full_path, group.name, how))
        print_table(rows)
    when = "never completely polled" if age is None else f"{_ago(age)} old"
    print(f"{project.path_with_namespace}: {len(found)} groups; snapshot {when}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API until SIGINT or SIGTERM."""
    from bridge.project_groups.http import start_server

    settings = load_settings(args)
    with open_store(settings) as store:
        server = start_server(settings, store)
        print(f"serving {server.url}/api/v4/projects/:id/groups", flush=True)
        wait_for_stop()
        server.stop()
    return 0


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def _level(text: str) -> str:
    if not text.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an access level")
    return text


def add_commands(commands: Any) -> None:
    """Register ``project-groups`` and ``serve``."""
    groups = command(
        commands,
        "project-groups",
        _project_groups,
        help="a project's groups, as GET /projects/:id/groups answers (from the snapshot)",
        description="The project's ancestor groups and, with --with-shared, the groups it is "
        "shared with, ordered by id descending, exactly as GitLab 13.10+ answers "
        "GET /projects/:id/groups. Answered from the snapshot without calling GitLab; says how "
        "old the snapshot is. Exit 64 for an unknown project or a bad option value.",
    )
    groups.add_argument("project", help="project id or full path (group/sub/project)")
    groups.add_argument("--with-shared", action="store_true", help="include shared groups")
    groups.add_argument(
        "--shared-min-access-level",
        type=_level,
        help="only shares at this level or above: 10, 15, 20, 30, 40 or 50",
    )
    groups.add_argument("--skip-groups", help="group ids to leave out, e.g. 1,2")
    groups.add_argument("--search", help="GitLab's fuzzy search on name and path")
    groups.add_argument("--json", action="store_true", help="GitLab's JSON instead of a table")

    command(
        commands,
        "serve",
        _serve,
        help="serve GET /api/v4/projects/:id/groups over HTTP",
        description="Serve the bridge's GitLab-compatible HTTP API on server.listen "
        "(127.0.0.1:9292 by default) until SIGINT or SIGTERM. Callers use their GitLab token; "
        "GitLab itself decides whether they may read the project.",
    )
