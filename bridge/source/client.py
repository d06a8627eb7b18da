"""The GitLab source: typed records from the REST API over python-gitlab, complete or raising.

Every listing either returns all rows or raises; it never passes off a partial scan as complete
(docs/gitlab-api.md#complete-scans-and-confirmed-removals). Requests, retries and the translation
of foreign errors live in ``bridge.source.transport``; the page walks in ``bridge.source.paging``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast
from urllib.parse import quote

from bridge.config.settings import GitLabSettings
from bridge.errors import FatalSourceError, RetriableSourceError
from bridge.model.records import Group, Instance, Member, Project, Share, SourceKind, User
from bridge.model.signals import (
    AUDIT_EVENTS_KEYSET,
    AuditEntry,
    Capabilities,
    ChangedBy,
    Fingerprint,
    Membership,
)
from bridge.model.signals import capabilities as capabilities_of
from bridge.retry import RetryPolicy
from bridge.source import signals
from bridge.source.budget import Budget
from bridge.source.graphql import Dialect, GraphQL
from bridge.source.limits import InstanceLimits, read_limits
from bridge.source.paging import offset_scan, required, scan
from bridge.source.parsing import (
    Json,
    parse_record,
    to_access_request,
    to_group,
    to_member,
    to_project,
    to_shares,
    to_user,
)
from bridge.source.transport import Params, Transport

T = TypeVar("T")
log = logging.getLogger(__name__)


class GitLabSource:
    """Reads users, groups, projects, shares and direct members of one GitLab instance."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        verify_tls: bool = True,
        timeout: float = 30.0,
        per_page: int = 100,
        budget: int | Budget | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        graphql: bool = True,
    ) -> None:
        """``budget``: requests per minute (or a shared ``Budget``); None sends as fast as
        ``concurrency`` allows (tests, the simulator's tools). ``stop``: set it to cut retries
        and budget waits short (the daemon's SIGTERM). ``graphql``: read member lists over
        GraphQL where the version has what it takes (``gitlab.graphql``)."""
        if concurrency < 1 or not 1 <= per_page <= 100:
            raise ValueError("concurrency must be >= 1 and per_page within 1..100")
        self.per_page, self.concurrency = per_page, concurrency
        self._http = Transport(
            url,
            token,
            verify_tls=verify_tls,
            timeout=timeout,
            budget=budget,
            concurrency=concurrency,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            clock=clock,
            wall_clock=wall_clock,
            rng=rng,
            stop=stop,
        )
        self.url = self._http.url
        self._instance: Instance | None = None
        self._graphql_wanted = graphql
        self._graphql: GraphQL | None = None
        self._graphql_probed = False

    def __repr__(self) -> str:
        return f"GitLabSource({self.url!r})"

    @classmethod
    def from_settings(
        cls, settings: GitLabSettings, *, stop: threading.Event | None = None
    ) -> GitLabSource:
        """A source configured by the ``gitlab:`` section; ``stop`` as in ``__init__``."""
        return cls(
            settings.url,
            settings.token.get_secret_value(),
            verify_tls=settings.verify_tls,
            timeout=settings.timeout,
            per_page=settings.per_page,
            budget=settings.budget,
            concurrency=settings.concurrency,
            retry=RetryPolicy(max_attempts=settings.retry_attempts, cap=settings.retry_max_wait),
            stop=stop,
            graphql=settings.graphql,
        )

    @property
    def budget(self) -> Budget | None:
        """The request budget every read is charged to; None: no limit."""
        return self._http.budget

    def instance_limits(self) -> InstanceLimits | None:
        """GitLab's authenticated API throttle from its application settings (admins only),
        or None when they cannot be read; an enabled throttle caps ``budget`` for good."""
        limits = read_limits(self._http)
        if limits is not None and limits.enabled and self.budget is not None:
            self.budget.observe(limits.per_minute)
        return limits

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._http.requests.total

    @property
    def requests_by_this_thread(self) -> int:
        """HTTP requests the calling thread has sent so far, retries included."""
        return self._http.requests.mine

    # -- instance -----------------------------------------------------------------------------

    def connect(self) -> Instance:
        """Read the version (/metadata, else /version) and who the token belongs to."""
        meta = self._http.get("/metadata", {}, "metadata", missing="any")
        if meta is None:
            meta = self._http.must("/version", {}, "version")
        info, who = (
            cast(Json, meta.data),
            cast(Json, self._http.must("/user", {}, "token user").data),
        )
        raw = str(info.get("version", ""))
        found = re.match(r"\d+\.\d+\.\d+", raw)
        if found is None:
            raise FatalSourceError(f"{self.url}: cannot read the GitLab version from {raw!r}")
        self._instance = Instance(
            url=self.url,
            version=found.group(0),
            full_version=raw.strip(),
            revision=str(info.get("revision", "")),
            enterprise=bool(info.get("enterprise", raw.endswith("-ee"))),
            token_user_id=int(who["id"]),
            token_username=str(who["username"]),
            token_is_admin=bool(who.get("is_admin", False)),
        )
        return self._instance

    @property
    def instance(self) -> Instance:
        """The instance as of the first ``connect()`` (connecting if needed)."""
        return self._instance or self.connect()

    def check(self, *, needs_admin: bool = True) -> Instance:
        """Refuse to start (FatalSourceError) when the token cannot see what is needed."""
        inst = self.instance
        if needs_admin and not inst.token_is_admin:
            raise FatalSourceError(
                f"the token of user {inst.token_username!r} is not an administrator; the bridge "
                "needs an admin token to read all users, e-mails and memberships"
            )
        return inst

    # -- listings -----------------------------------------------------------------------------

    def users(self) -> tuple[User, ...]:
        """Every user, by id (keyset on 16.5+, else offset)."""
        params: Params = {"order_by": "id", "sort": "asc"}
        # Non-admins lose order_by and sort silently (id desc), which breaks the keyset walk;
        # they get an offset scan (checked by X-Total) and the order is restored here.
        inst = self.instance
        if inst.major_minor >= (16, 5) and inst.token_is_admin:
            params["pagination"] = "keyset"
        users: list[User] = scan(self._http, "/users", params, "users", self.per_page,
                     lambda d: parse_record("users", to_user, d))  # fmt: skip
        return tuple(sorted(users, key=lambda u: u.id))

    def groups(self) -> tuple[Group, ...]:
        """Every group the token can see, by id (without shares: see ``group_shares``)."""
        params: Params = {"all_available": "true", "order_by": "id", "sort": "asc"}
        rows = required(
            offset_scan(self._http, "/groups", params, "groups", self.per_page, by_id=True),
            "groups",
        )
        return tuple(parse_record("groups", to_group, d) for d in rows)

    def group_shares(self, group_id: int) -> tuple[Share, ...] | None:
        """Groups invited into a group, from GET /groups/:id; None when the group is gone."""
        # Before ~14.x with_projects=false also dropped shared_with_groups (README).
        params: Params = {"with_projects": "false"} if self.instance.major_minor >= (14, 0) else {}
        what = f"group {group_id}: shares"
        page = self._http.get(f"/groups/{group_id}", params, what, missing="resource")
        if page is None:
            return None
        return parse_record(
            what, lambda d: to_shares("group", group_id, d["shared_with_groups"]), page.data
        )

    def groups_and_shares(self) -> tuple[tuple[Group, ...], tuple[Share, ...]]:
        """Every group and every group share, details read ``concurrency`` at a time.

        A group deleted between the listing and its detail is left out of both.
        """
        groups = self.groups()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            details = list(pool.map(self.group_shares, [g.id for g in groups]))
        kept = tuple(g for g, s in zip(groups, details, strict=True) if s is not None)
        return kept, tuple(share for shares in details if shares for share in shares)

    def projects(self) -> tuple[Project, ...]:
        """Every project the token can see, non-simple, with direct shares, by id."""
        params: Params = {"pagination": "keyset", "order_by": "id", "sort": "asc"}
        return tuple(scan(self._http, "/projects", params, "projects", self.per_page,
                          lambda d: parse_record("projects", to_project, d)))  # fmt: skip

    def members(self, kind: SourceKind, source_id: int) -> tuple[Member, ...] | None:
        """Direct members of a group or project; None when the source is gone."""
        what = f"{kind} {source_id}: members"
        rows = offset_scan(
            self._http, f"/{kind}s/{source_id}/members", {}, what, self.per_page, missing="resource"
        )
        if rows is None:
            return None
        return tuple(parse_record(what, lambda d: to_member(kind, source_id, d), d) for d in rows)

    def access_requests(self, kind: SourceKind, source_id: int) -> tuple[Member, ...] | None:
        """Pending access requests of a group or project; None when the source is gone."""
        what = f"{kind} {source_id}: access requests"
        path = f"/{kind}s/{source_id}/access_requests"
        rows = offset_scan(self._http, path, {}, what, self.per_page, missing="resource")
        if rows is None:
            return None
        return tuple(
            parse_record(what, lambda d: to_access_request(kind, source_id, d), d) for d in rows
        )

    # -- point lookups ------------------------------------------------------------------------

    def get_user(self, user_id: int) -> User | None:
        """One user, or None when GitLab answers 404."""
        return self._get(f"/users/{user_id}", {}, f"user {user_id}", to_user)

    def get_group(self, group_id: int | str) -> Group | None:
        """One group by id or full path, or None when GitLab answers 404."""
        params: Params = {"with_projects": "false"}
        ident = quote(str(group_id), safe="")
        return self._get(f"/groups/{ident}", params, f"group {group_id}", to_group)

    def get_project(self, project_id: int) -> Project | None:
        """One project with its shares, or None when GitLab answers 404."""
        return self._get(f"/projects/{project_id}", {}, f"project {project_id}", to_project)

    def get_member(self, kind: SourceKind, source_id: int, user_id: int) -> Member | None:
        """One direct membership, or None when GitLab answers 404."""
        path, what = (
            f"/{kind}s/{source_id}/members/{user_id}",
            f"{kind} {source_id}: member {user_id}",
        )
        return self._get(path, {}, what, lambda d: to_member(kind, source_id, d))

    def _get(self, path: str, params: Params, what: str, build: Callable[[Json], T]) -> T | None:
        page = self._http.get(path, params, what, missing="resource")
        return None if page is None else parse_record(what, build, page.data)

    # -- change signals (bridge.source.signals; versions in bridge.model.signals) ---------------

    @property
    def capabilities(self) -> Capabilities:
        """The change signals this version and token offer (the licence: ``probe_audit_events``;
        GraphQL: ``probe_graphql``)."""
        caps = capabilities_of(self.instance)
        if not self._graphql_wanted:
            caps = dataclasses.replace(caps, graphql_lists=False, graphql_fingerprints=False)
        return caps

    # -- GraphQL (bridge.source.graphql) -------------------------------------------------------

    @property
    def graphql(self) -> GraphQL | None:
        """Batched member reads, where this GitLab and ``gitlab.graphql`` allow them."""
        if self._graphql is None and self.capabilities.graphql_lists:
            # Query.groups (MR !111199, ~15.10) takes ids in later versions: tried from 15.10,
            # by full path when GitLab refuses them (bridge.source.graphql).
            groups_by_id = self.instance.major_minor >= (15, 10)
            dialect = Dialect(count=False, projects_by_id=True, groups_by_id=groups_by_id)
            self._graphql = GraphQL(post=self._post_graphql, dialect=dialect)
        return self._graphql

    def probe_graphql(self) -> bool:
        """Whether ``/api/graphql`` answers (1 request, once); off for good if not."""
        if self.graphql is None:
            return False
        if self._graphql_probed:
            return True
        try:
            answer = self._post_graphql("query{queryComplexity{score limit}}", {}, "GraphQL probe")
        except RetriableSourceError as exc:  # asked again next time
            log.warning("GraphQL probe failed (%s): member lists over REST for now", exc)
            return False
        except FatalSourceError as exc:
            answer = {"errors": [{"message": str(exc)}]}
        ok = isinstance(answer.get("data"), dict) and not answer.get("errors")
        if not ok:
            log.warning("GraphQL is not usable here (%s): member lists over REST",
                        str(answer.get("errors"))[:200])  # fmt: skip
            self._graphql_wanted, self._graphql = False, None
        self._graphql_probed = ok
        return ok

    def _post_graphql(self, query: str, variables: Mapping[str, Any], what: str) -> Json:
        body = {"query": query, "variables": dict(variables)}
        page = self._http.post_json(f"{self.url}/api/graphql", body, what)
        if not isinstance(page.data, dict):
            raise FatalSourceError(f"{what}: not a GraphQL answer")
        return cast(Json, page.data)

    def member_fingerprints(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, Fingerprint | None]:
        """Each source's member fingerprint over GraphQL (None: not answered)."""
        graphql = self.graphql
        if graphql is None or not self.capabilities.graphql_fingerprints:
            raise FatalSourceError(f"{self.url}: no member fingerprints over GraphQL here")
        return graphql.fingerprints(kind, sources)

    def member_lists(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, tuple[Member, ...] | None]:
        """Many sources' direct members over GraphQL; None: read that one over REST."""
        graphql = self.graphql
        if graphql is None:
            raise FatalSourceError(f"{self.url}: no member lists over GraphQL here")
        return graphql.lists(kind, sources)

    def newest_users(self, after_id: int, per_page: int = 20) -> tuple[User, ...]:
        """Users with id > ``after_id``, ascending; 1 request when none is new."""
        return signals.newest_users(self._http, after_id, per_page)

    def newest_groups(self, after_id: int, per_page: int = 20) -> tuple[Group, ...]:
        """Groups with id > ``after_id``, ascending; 1 request when none is new."""
        return signals.newest_groups(self._http, after_id, per_page)

    def newest_projects(self, after_id: int, per_page: int = 20) -> tuple[Project, ...]:
        """Projects with id > ``after_id``, ascending, with shares; 1 request when none is new."""
        return signals.newest_projects(self._http, after_id, per_page)

    def changed_projects(
        self, since: dt.datetime, *, by: ChangedBy, per_page: int = 100
    ) -> tuple[Project, ...]:
        """Projects whose ``by`` moved after ``since``, most recent first; 1 request when none
        did. FatalSourceError on a version without that filter."""
        caps = self.capabilities
        if not (caps.updated_after if by == "updated_at" else caps.last_activity_after):
            raise FatalSourceError(
                f"{self.url}: GitLab {self.instance.version} cannot filter /projects by {by}"
            )
        return signals.changed_projects(self._http, since, by=by, per_page=per_page)

    def user_memberships(self, user_id: int) -> tuple[Membership, ...] | None:
        """A user's direct memberships (admin, 12.8+); None when the user is gone."""
        return signals.user_memberships(self._http, user_id, self.per_page)

    def audit_entries(self, since: dt.datetime, after_id: int = 0) -> tuple[AuditEntry, ...]:
        """EE instance audit events since ``since`` with id > ``after_id``, ascending."""
        keyset = self.instance.major_minor >= AUDIT_EVENTS_KEYSET
        return signals.audit_entries(self._http, since, after_id, self.per_page, keyset=keyset)

    def probe_audit_events(self) -> bool:
        """Whether GET /audit_events answers this token (1 request): EE, Premium, admin."""
        return signals.probe_audit_events(self._http)
