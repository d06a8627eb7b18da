"""The GitLab source: typed records from the REST API over python-gitlab, complete or raising.

Every listing either returns all rows or raises; it never passes off a partial scan as complete
(GITLAB_API.md §3.4). Errors, translated once here from python-gitlab and requests::

    SourceError
    ├── RetriableSourceError   429, 5xx, connection trouble, truncated bodies, after the budget
    └── FatalSourceError       401, 403, a missing route, a next link to another host, bad data

python-gitlab's own retries are off (``obey_rate_limit=False``, ``retry_transient_errors=False``),
so ``bridge.retry`` is the only policy. Messages name the resource and page, never the token.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote, urlsplit

import gitlab
import requests

from bridge.errors import FatalSourceError, RetriableSourceError, SourceError
from bridge.gitlab_records import (
    Json,
    next_link,
    parse_date,
    parse_record,
    parse_time,
    same_origin,
    to_group,
    to_member,
    to_project,
    to_shares,
    to_user,
)
from bridge.model import Group, Instance, Member, Project, Share, SourceKind, User
from bridge.retry import RetryPolicy, next_delay
from bridge.settings import GitLabSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

Params = dict[str, str | int]
_RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504, *range(520, 531)})


@dataclass(frozen=True, slots=True)
class _Page:
    data: Any
    headers: Mapping[str, str]


class _Transient(Exception):
    """One attempt failed in a way another attempt may fix; carries the answer's headers."""

    def __init__(self, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.headers: Mapping[str, str] = headers or {}


class _Bucket:
    """Spaces requests ``1/rate`` apart across threads; a throttle 429 pauses every thread."""

    def __init__(
        self, rate: float | None, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"requests_per_second must be positive, not {rate}")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._paused_until = float("-inf")

    def acquire(self) -> None:
        """Wait for this thread's turn."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class _Counter:
    """A total, plus a per-thread count so concurrent callers can each measure their own cost."""

    def __init__(self) -> None:
        self._lock, self.value = threading.Lock(), 0
        self._local = threading.local()

    def add(self) -> None:
        with self._lock:
            self.value += 1
        self._local.value = self.mine + 1

    @property
    def mine(self) -> int:
        return int(getattr(self._local, "value", 0))


Missing = Literal["fatal", "resource", "any"]


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
        requests_per_second: float | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or not 1 <= per_page <= 100:
            raise ValueError("concurrency must be >= 1 and per_page within 1..100")
        self.url = url.rstrip("/")
        self._token, self._verify, self._timeout = token, verify_tls, timeout
        self.per_page, self.concurrency = per_page, concurrency
        self._retry, self._sleep, self._wall = retry or RetryPolicy(), sleep, wall_clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._bucket = _Bucket(requests_per_second, clock, sleep)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._local = threading.local()
        self._requests = _Counter()
        self._instance: Instance | None = None

    def __repr__(self) -> str:
        return f"GitLabSource({self.url!r})"

    @classmethod
    def from_settings(cls, settings: GitLabSettings) -> GitLabSource:
        """A source configured by the ``gitlab:`` section."""
        return cls(
            settings.url,
            settings.token.get_secret_value(),
            verify_tls=settings.verify_tls,
            timeout=settings.timeout,
            per_page=settings.per_page,
            requests_per_second=settings.requests_per_second,
            concurrency=settings.concurrency,
            retry=RetryPolicy(max_attempts=settings.retry_attempts, cap=settings.retry_max_wait),
        )

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests.value

    @property
    def requests_by_this_thread(self) -> int:
        """HTTP requests the calling thread has sent so far, retries included."""
        return self._requests.mine

    # -- instance -----------------------------------------------------------------------------

    def connect(self) -> Instance:
        """Read the version (/metadata, else /version) and who the token belongs to."""
        meta = self._fetch("/metadata", {}, "metadata", missing="any")
        if meta is None:
            meta = self._must(self._fetch("/version", {}, "version"), "version")
        info, who = (
            cast(Json, meta.data),
            cast(Json, self._must(self._fetch("/user", {}, "token user"), "token user").data),
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
        rows = sorted(self._scan("/users", params, "users"), key=lambda d: int(d["id"]))
        return tuple(parse_record("users", to_user, d) for d in rows)

    def groups(self) -> tuple[Group, ...]:
        """Every group the token can see, by id (without shares: see ``group_shares``)."""
        params: Params = {"all_available": "true", "order_by": "id", "sort": "asc"}
        rows = self._must(self._offset_scan("/groups", params, "groups"), "groups")
        return tuple(parse_record("groups", to_group, d) for d in rows)

    def group_shares(self, group_id: int) -> tuple[Share, ...] | None:
        """Groups invited into a group, from GET /groups/:id; None when the group is gone."""
        # Before ~14.x with_projects=false also dropped shared_with_groups (README).
        params: Params = {"with_projects": "false"} if self.instance.major_minor >= (14, 0) else {}
        what = f"group {group_id}: shares"
        page = self._fetch(f"/groups/{group_id}", params, what, missing="resource")
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
        rows = self._scan("/projects", params, "projects")
        return tuple(parse_record("projects", to_project, d) for d in rows)

    def members(self, kind: SourceKind, source_id: int) -> tuple[Member, ...] | None:
        """Direct members of a group or project; None when the source is gone."""
        what = f"{kind} {source_id}: members"
        rows = self._offset_scan(f"/{kind}s/{source_id}/members", {}, what, missing="resource")
        if rows is None:
            return None
        return tuple(parse_record(what, lambda d: to_member(kind, source_id, d), d) for d in rows)

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
        page = self._fetch(path, params, what, missing="resource")
        return None if page is None else parse_record(what, build, page.data)

    # -- paging -------------------------------------------------------------------------------

    def _scan(self, path: str, params: Params, what: str) -> list[Json]:
        """Keyset when the first answer is keyset (no X-Next-Page), else an offset scan."""
        first = self._must(
            self._fetch(path, {**params, "per_page": self.per_page}, f"{what}: page 1"), what
        )
        if "X-Next-Page" in first.headers:
            return self._offset_pass_checked(path, params, what, first)
        rows = {int(d["id"]): d for d in _rows(first, f"{what}: page 1")}
        seen: set[str] = set()
        page, number = first, 1
        while (url := next_link(page.headers)) is not None:
            number += 1
            label = f"{what}: page {number} ({_cursor(url)})"
            if not same_origin(url, self.url):
                raise FatalSourceError(
                    f"{label}: the next link points to another host ({urlsplit(url).netloc}); "
                    f"refusing to send the token there (configured {urlsplit(self.url).netloc})"
                )
            if url in seen:
                raise FatalSourceError(f"{label}: the next link repeats a page (pagination loop)")
            seen.add(url)
            page = self._must(self._fetch(url, {}, label), label)
            for item in _rows(page, label):
                rows.setdefault(int(item["id"]), item)
        return list(rows.values())

    def _offset_scan(
        self, path: str, params: Params, what: str, *, missing: Missing = "fatal"
    ) -> list[Json] | None:
        first = self._fetch(
            path,
            {**params, "page": 1, "per_page": self.per_page},
            f"{what}: page 1",
            missing=missing,
        )
        return None if first is None else self._offset_pass_checked(path, params, what, first)

    def _offset_pass_checked(
        self, path: str, params: Params, what: str, first: _Page
    ) -> list[Json]:
        """An offset scan that counts: rescanned once when X-Total moved during it."""
        rows, before, after = self._offset_pass(path, params, what, first)
        if before == after:
            return rows
        log.info(
            "%s: the total changed during the scan (%s -> %s); rescanning", what, before, after
        )
        rows, before, after = self._offset_pass(path, params, what, None)
        if before == after:
            return rows
        raise RetriableSourceError(
            f"{what}: the total changed during two scans in a row ({before} -> {after})"
        )

    def _offset_pass(
        self, path: str, params: Params, what: str, page: _Page | None
    ) -> tuple[list[Json], str | None, str | None]:
        rows: dict[int, Json] = {}
        number, total = 1, None
        while True:
            label = f"{what}: page {number}"
            if page is None:
                query = {**params, "page": number, "per_page": self.per_page}
                page = self._must(self._fetch(path, query, label), label)
            if number == 1:
                total = page.headers.get("X-Total")
            for item in _rows(page, label):
                rows.setdefault(int(item["id"]), item)
            nxt = page.headers.get("X-Next-Page")
            if nxt is None:
                raise FatalSourceError(f"{label}: no X-Next-Page header, cannot tell the end")
            if not nxt.strip():
                return list(rows.values()), total, page.headers.get("X-Total")
            if nxt.strip() != str(number + 1):
                raise FatalSourceError(f"{label}: X-Next-Page is {nxt!r}, not {number + 1}")
            number, page = number + 1, None

    # -- requests -----------------------------------------------------------------------------

    @staticmethod
    def _must(found: T | None, what: str) -> T:
        if found is None:
            raise FatalSourceError(f"{what}: HTTP 404 (no such route on this GitLab)")
        return found

    def _fetch(
        self, path: str, params: Params, what: str, *, missing: Missing = "fatal"
    ) -> _Page | None:
        """GET with retries; None for a 404 that ``missing`` allows."""
        attempt = 0
        while True:
            try:
                return self._attempt(path, params, what, missing)
            except _Transient as exc:
                headers = exc.headers
                with self._rng_lock:
                    delay = next_delay(
                        self._retry,
                        attempt,
                        now=self._wall(),
                        retry_after=headers.get("Retry-After"),
                        ratelimit_reset=headers.get("RateLimit-Reset"),
                        rng=self._rng,
                    )
                if delay is None:
                    raise RetriableSourceError(
                        f"{what} failed after {attempt + 1} attempts: {exc}"
                    ) from exc
                log.warning("%s: %s; retry %d in %.1f s", what, exc, attempt + 1, delay)
                if "Retry-After" in headers or "RateLimit-Reset" in headers:
                    self._bucket.pause(delay)
                else:
                    self._sleep(delay)
                attempt += 1

    def _attempt(self, path: str, params: Params, what: str, missing: Missing) -> _Page | None:
        self._bucket.acquire()
        with self._slots:
            self._requests.add()
            try:
                response = self._client().http_request(
                    "get",
                    path,
                    query_data=params,
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                )
                return _Page(response.json(), response.headers)
            except gitlab.GitlabError as exc:
                self._raise_unless_missing(exc, what, missing)
                return None
            except requests.TooManyRedirects as exc:
                where = (
                    urlsplit(exc.response.headers.get("Location", "")).netloc
                    if exc.response is not None
                    else "?"
                )
                raise FatalSourceError(
                    f"{what}: redirected to {where or 'the same host'}; configure the final URL"
                ) from exc
            except (
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                requests.Timeout,
            ) as exc:
                raise _Transient(type(exc).__name__) from exc
            except ValueError as exc:  # a body cut short parses as bad JSON
                raise _Transient("invalid JSON in the answer") from exc
            except requests.RequestException as exc:
                raise FatalSourceError(f"{what}: {self._redact(str(exc))}") from exc

    def _raise_unless_missing(self, exc: gitlab.GitlabError, what: str, missing: Missing) -> None:
        code = exc.response_code
        message = self._redact(str(exc.error_message))[:200]
        if code in _RETRIABLE_STATUS:
            last = getattr(self._local, "last", None)
            headers = last.headers if last is not None and last.status_code == code else {}
            raise _Transient(f"HTTP {code}", headers) from exc
        if code == 404 and (missing == "any" or (missing == "resource" and _is_resource_404(exc))):
            return
        if code == 401:
            message = f"the token was rejected by {self.url} (unknown, expired or revoked)"
        raise FatalSourceError(f"{what}: HTTP {code}: {message}") from exc

    def _client(self) -> gitlab.Gitlab:
        """One python-gitlab client (and connection pool) per thread."""
        gl: gitlab.Gitlab | None = getattr(self._local, "gl", None)
        if gl is None:
            gl = gitlab.Gitlab(
                self.url,
                private_token=self._token,
                ssl_verify=self._verify,
                timeout=self._timeout,
                retry_transient_errors=False,
            )
            # requests would carry PRIVATE-TOKEN across a redirect to another host.
            gl.session.max_redirects = 0
            gl.session.hooks["response"].append(self._remember)
            self._local.gl = gl
        return gl

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        # python-gitlab's exceptions drop the headers; a 429's Retry-After lives here.
        self._local.last = response

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _rows(page: _Page, label: str) -> list[Json]:
    if not isinstance(page.data, list) or not all(isinstance(d, dict) for d in page.data):
        raise FatalSourceError(f"{label}: expected a JSON list of objects")
    return cast(list[Json], page.data)


def _cursor(url: str) -> str:
    query = urlsplit(url).query
    found = re.search(r"(?:^|&)(id_after=\d+|cursor=)", query)
    return found.group(1) if found else "next link"


def _is_resource_404(exc: gitlab.GitlabError) -> bool:
    """A resource 404 (``{"message": "404 X Not Found"}``), not a route's (``{"error": ...}``)."""
    try:
        body = json.loads(exc.response_body or b"")
    except ValueError:
        return False
    return isinstance(body, dict) and "message" in body


__all__ = ["GitLabSource", "SourceError", "next_link", "parse_date", "parse_time", "same_origin"]
