"""Who is asking, and may they read this project? Asked of the real GitLab, briefly cached.

The bridge's project-groups endpoint must never show a project to someone GitLab would not:
each caller's token is checked with ``GET /user`` (identity, admin, external) and
``GET /projects/:id`` (readable or not), with the caller's own credentials. Answers are cached
for ``ttl`` seconds per (token digest, project); tokens themselves are never kept or logged.

When GitLab refuses the caller itself (401; 403 for a blocked or deactivated account, a token
without the scope) the refusal is passed on as GitLab worded it: ``GET /projects/:id`` and
``GET /projects/:id/groups`` share ``find_project!`` and the authentication before it, so
GitLab would answer the groups request the same way. A token that cannot be one (not visible
ASCII, or over 4,096 characters) is refused here without asking: it could not even be sent.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from bridge.errors import AuthUnavailable, InvalidToken
from bridge.project_groups.finder import Caller

_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
_UNAUTHORIZED: dict[str, object] = {"message": "401 Unauthorized"}


@dataclass(frozen=True, slots=True)
class Credential:
    """The caller's token as sent: ``PRIVATE-TOKEN: x`` or ``Authorization: Bearer x``."""

    header: str
    value: str

    @property
    def plausible(self) -> bool:
        """Could GitLab accept it? Visible ASCII, at most 4,096 characters (a CI job JWT fits)."""
        secret = (
            self.value.removeprefix("Bearer ") if self.header == "Authorization" else self.value
        )
        return _TOKEN.fullmatch(secret) is not None

    @property
    def digest(self) -> str:
        """A cache key that does not keep the token."""
        return hashlib.sha256(f"{self.header}\0{self.value}".encode()).hexdigest()


class Refused(InvalidToken):
    """GitLab refused the caller (401, or 403 for a blocked account): its status and body."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


@dataclass(frozen=True, slots=True)
class _Entry:
    value: object
    expires: float


class GitLabAuthorizer:
    """Identity and project-read checks against GitLab, cached per token digest."""

    def __init__(
        self,
        url: str,
        *,
        verify_tls: bool = True,
        timeout: float = 10.0,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``url`` is GitLab's base URL (the API lives under ``/api/v4``)."""
        self._api = url.rstrip("/") + "/api/v4"
        self._verify, self._timeout, self._ttl, self._clock = verify_tls, timeout, ttl, clock
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(pool_maxsize=32))
        self._session.mount("https://", HTTPAdapter(pool_maxsize=32))
        self.requests_made = 0

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def caller(self, token: Credential | None) -> Caller:
        """The caller behind ``token`` (anonymous without one); Refused as GitLab refuses it."""
        if token is None:
            return Caller()
        cached = self._cached(token, "user")
        if isinstance(cached, Caller):
            return cached
        status, body = self._get("/user", token)
        _raise_refusal(status, body)
        if status != 200 or not isinstance(body, dict):
            raise AuthUnavailable(f"GET /user answered HTTP {status}")
        who = Caller(
            user_id=int(body["id"]),
            is_admin=bool(body.get("is_admin", False)),
            external=bool(body.get("external", False)),
            auditor=bool(body.get("is_auditor", False)),
        )
        self._store(token, "user", who)
        return who

    def can_read_project(self, token: Credential | None, project_id: int) -> bool:
        """Whether GitLab lets this caller read the project (404 means no); Refused as GitLab."""
        key = f"project:{project_id}"
        cached = self._cached(token, key)
        if isinstance(cached, bool):
            return cached
        status, body = self._get(f"/projects/{project_id}", token)
        _raise_refusal(status, body)
        if status not in (200, 404):
            raise AuthUnavailable(f"GET /projects/{project_id} answered HTTP {status}")
        allowed = status == 200
        self._store(token, key, allowed)
        return allowed

    def _get(self, path: str, token: Credential | None) -> tuple[int, object]:
        if token is not None and not token.plausible:
            return 401, _UNAUTHORIZED
        headers = {token.header: token.value} if token else {}
        self.requests_made += 1
        try:
            response = self._session.get(
                self._api + path,
                headers=headers,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise AuthUnavailable(f"GitLab did not answer ({type(exc).__name__})") from exc
        try:
            body: object = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def _cached(self, token: Credential | None, key: str) -> object:
        digest = token.digest if token else ""
        with self._lock:
            entry = self._cache.get((digest, key))
            if entry is None or entry.expires <= self._clock():
                return None
            return entry.value

    def _store(self, token: Credential | None, key: str, value: object) -> None:
        with self._lock:
            if len(self._cache) > 100_000:  # bounded: drop expired entries, then everything
                now = self._clock()
                self._cache = {k: e for k, e in self._cache.items() if e.expires > now}
                if len(self._cache) > 100_000:
                    self._cache.clear()
            self._cache[(token.digest if token else "", key)] = _Entry(
                value, self._clock() + self._ttl
            )


def _raise_refusal(status: int, body: object) -> None:
    """Pass on GitLab's 401 or 403 with its body (a small JSON object), else GitLab's default."""
    if status not in (401, 403):
        return
    if isinstance(body, dict) and len(str(body)) <= 4096:
        raise Refused(status, {str(k): v for k, v in body.items()})
    raise Refused(status, _UNAUTHORIZED if status == 401 else {"message": "403 Forbidden"})
