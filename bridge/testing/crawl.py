"""A complete crawl of GitLab with unmodified python-gitlab: the naive poller, as a baseline.

It lists what the bridge's poller lists (docs/gitlab-api.md#cost-of-a-full-pass): users, groups
(each one's detail for its shares), projects, and the direct members of every group and project,
with ``workers`` concurrent connections (one python-gitlab client, hence one pool, per thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gitlab


@dataclass
class CrawlResult:
    """What a crawl saw; ``members`` maps ("group"|"project", id) to member user ids."""

    users: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    projects: list[int] = field(default_factory=list)
    group_shares: dict[int, list[int]] = field(default_factory=dict)
    project_shares: dict[int, list[int]] = field(default_factory=dict)
    members: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def member_rows(self) -> int:
        """Direct membership rows seen."""
        return sum(len(ids) for ids in self.members.values())


def crawl(
    url: str, token: str, *, workers: int = 10, per_page: int = 100, keyset: bool = True
) -> CrawlResult:
    """Crawl every resource; raises python-gitlab's errors if any request fails."""
    local = threading.local()

    def gl() -> gitlab.Gitlab:
        if not hasattr(local, "gl"):
            local.gl = gitlab.Gitlab(
                url, private_token=token, retry_transient_errors=True, timeout=60
            )
        return local.gl  # type: ignore[no-any-return]

    started = time.perf_counter()
    result = CrawlResult()
    paging: dict[str, Any] = {"get_all": True, "per_page": per_page}
    keyset_args: dict[str, Any] = (
        {"pagination": "keyset", "order_by": "id", "sort": "asc"} if keyset else {}
    )
    # Before ~14.x with_projects=false dropped shared_with_groups from GET /groups/:id.
    version = gl().http_get("/version")
    assert isinstance(version, dict)
    major = int(str(version["version"]).split(".")[0])
    detail_args = {"with_projects": False} if major >= 14 else {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        users = pool.submit(lambda: [u.id for u in gl().users.list(**paging, **keyset_args)])
        groups = pool.submit(
            lambda: [
                g.id
                for g in gl().groups.list(**paging, all_available=True, order_by="id", sort="asc")
            ]
        )
        projects = pool.submit(lambda: _projects(gl(), paging, keyset_args))
        result.users, result.groups = users.result(), groups.result()
        result.projects, result.project_shares = projects.result()
        jobs: list[tuple[str, int, Callable[[], Any]]] = []
        for gid in result.groups:
            jobs.append(("share", gid, partial(_group_shares, gl, gid, detail_args)))
            jobs.append(("group", gid, partial(_member_ids, gl, "group", gid, paging)))
        for pid in result.projects:
            jobs.append(("project", pid, partial(_member_ids, gl, "project", pid, paging)))
        futures = [(kind, ident, pool.submit(job)) for kind, ident, job in jobs]
        for kind, ident, future in futures:
            if kind == "share":
                result.group_shares[ident] = future.result()
            else:
                result.members[(kind, ident)] = future.result()
    result.seconds = time.perf_counter() - started
    return result


def _projects(
    gl: gitlab.Gitlab, paging: dict[str, Any], keyset: dict[str, Any]
) -> tuple[list[int], dict[int, list[int]]]:
    ids, shares = [], {}
    for project in gl.projects.list(**paging, **keyset):
        ids.append(project.id)
        shares[project.id] = [link["group_id"] for link in project.shared_with_groups]
    return ids, shares


def _group_shares(
    gl: Callable[[], gitlab.Gitlab], group_id: int, detail_args: dict[str, Any]
) -> list[int]:
    group = gl().groups.get(group_id, **detail_args)
    return [link["group_id"] for link in group.shared_with_groups]


def _member_ids(
    gl: Callable[[], gitlab.Gitlab], kind: str, source_id: int, paging: dict[str, Any]
) -> list[int]:
    manager = gl().groups if kind == "group" else gl().projects
    return [m.id for m in manager.get(source_id, lazy=True).members.list(**paging)]
