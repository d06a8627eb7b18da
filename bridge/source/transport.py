"""One request to GitLab (a GET, or a GraphQL POST) over python-gitlab: charged to the
budget, counted, retried, errors translated once.

Foreign exceptions (python-gitlab, requests) become the bridge's here and nowhere else::

    SourceError
    ├── RetriableSourceError   429, 5xx, connection trouble, truncated bodies, after the budget
    └── FatalSourceError       401, 403, a missing route, a redirect, bad data

python-gitlab's own retries are off (``obey_rate_limit=False``, ``retry_transient_errors=False``),
so ``bridge.retry`` is the only policy. Every attempt, retries included, is charged to the
``Budget``; a throttle 429 (Rack::Attack's, not an endpoint's application limit) pauses it and
lowers it to GitLab's ``RateLimit-Limit``. Messages name the resource and page, never the token.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import gitlab
import requests

from bridge.errors import FatalSourceError, RetriableSourceError, TokenRefused
from bridge.retry import RetryPolicy, read_delay
from bridge.source.budget import Budget
from bridge.source.throttle import RequestCounter

log = logging.getLogger(__name__)
Params = dict[str, str | int]
# "fatal": a 404 is an error; "resource": a resource's 404 means gone (None), a route's is an
# error; "any": every 404 means None (an endpoint this version lacks).
Missing = Literal["fatal", "resource", "any"]
_RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504, *range(520, 531)})


@dataclass(frozen=True, slots=True)
class Page:
    """One answer: its decoded JSON and its headers."""

    data: Any
    headers: Mapping[str, str]


class Transport:
    """GETs against one GitLab, shared by the source's threads (one client per thread)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        verify_tls: bool,
        timeout: float,
        budget: Budget | int | None,
        concurrency: int,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``budget``: a shared ``Budget``, requests per minute, or None for no limit. ``stop``,
        once set, cuts every wait short and ends the retries (SIGTERM)."""
        self.url = url.rstrip("/")
        self._stop = stop
        if stop is not None and sleep is time.sleep:
            sleep = _interruptible(stop)
        self._token, self._verify, self._timeout = token, verify_tls, timeout
        self._retry, self._sleep, self._wall = retry, sleep, wall_clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        if isinstance(budget, int):
            budget = Budget(budget, clock=clock, sleep=sleep, stop=stop)
        self.budget = budget
        self._slots = threading.BoundedSemaphore(concurrency)
        self._local = threading.local()
        self.requests = RequestCounter()

    def get(
        self, path: str, params: Params, what: str, *, missing: Missing = "fatal"
    ) -> Page | None:
        """GET with retries; None for a 404 that ``missing`` allows."""
        return self._retried(lambda: self._attempt(path, params, what, missing), what)

    def post_json(self, url: str, body: dict[str, Any], what: str) -> Page:
        """POST a JSON body to a full URL (GraphQL lives beside ``/api/v4``), with retries."""
        page = self._retried(lambda: self._attempt(url, {}, what, "fatal", post=body), what)
        assert page is not None  # a 404 with missing="fatal" raises
        return page

    def _retried(self, attempt: Callable[[], Page | None], what: str) -> Page | None:
        failures = 0
        while True:
            if self._stop is not None and self._stop.is_set():
                raise RetriableSourceError(f"{what}: stopped")
            try:
                return attempt()
            except RetriableSourceError as exc:
                if self._stop is not None and self._stop.is_set():
                    raise RetriableSourceError(f"{what}: stopped") from exc
                failures += 1
                headers = exc.headers
                with self._rng_lock:
                    delay = read_delay(
                        self._retry,
                        failures,
                        now=self._wall(),
                        retry_after=headers.get("Retry-After"),
                        ratelimit_reset=headers.get("RateLimit-Reset"),
                        rng=self._rng,
                    )
                if delay is None:
                    self._hold(exc, None)
                    raise RetriableSourceError(
                        f"{what} failed after {failures} attempts: {exc}"
                    ) from exc
                log.warning("%s: %s; retry %d in %.1f s", what, exc, failures, delay)
                self._hold(exc, delay)

    def must(self, path: str, params: Params, what: str) -> Page:
        """GET that treats any 404 as a missing route (FatalSourceError)."""
        page = self.get(path, params, what)
        if page is None:
            raise FatalSourceError(f"{what}: HTTP 404 (no such route on this GitLab)")
        return page

    def redact(self, text: str) -> str:
        """``text`` without the token."""
        return text.replace(self._token, "[token]") if self._token else text

    def _hold(self, exc: RetriableSourceError, delay: float | None) -> None:
        """Wait ``delay`` before a retry (None: giving up). A throttle 429 pauses every thread
        and lowers the budget, even when giving up; a server's hint pauses every thread."""
        headers = exc.headers
        if self.budget is not None and _is_throttle(exc):
            self.budget.throttled(delay, _limit_per_minute(headers.get("RateLimit-Limit")))
        elif delay is None:
            return
        elif self.budget is not None and ("Retry-After" in headers or "RateLimit-Reset" in headers):
            self.budget.pause(delay)
        else:
            self._sleep(delay)

    def _attempt(
        self,
        path: str,
        params: Params,
        what: str,
        missing: Missing,
        *,
        post: dict[str, Any] | None = None,
    ) -> Page | None:
        with self._slots:  # the budget is charged inside the slot, right before sending
            if self.budget is not None:
                self.budget.acquire()
            self.requests.add()
            try:
                response = self._client().http_request(
                    "get" if post is None else "post",
                    path,
                    query_data=params,
                    post_data=post,
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                )
                return Page(response.json(), response.headers)
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
                raise RetriableSourceError(type(exc).__name__) from exc
            except ValueError as exc:  # a body cut short parses as bad JSON
                raise RetriableSourceError("invalid JSON in the answer") from exc
            except requests.RequestException as exc:
                raise FatalSourceError(f"{what}: {self.redact(str(exc))}") from exc

    def _raise_unless_missing(self, exc: gitlab.GitlabError, what: str, missing: Missing) -> None:
        code = exc.response_code
        message = self.redact(str(exc.error_message))[:200]
        if code in _RETRIABLE_STATUS:
            last = getattr(self._local, "last", None)
            headers = last.headers if last is not None and last.status_code == code else {}
            raise RetriableSourceError(f"HTTP {code}", headers) from exc
        if code == 404 and (missing == "any" or (missing == "resource" and _is_resource_404(exc))):
            return
        if code == 401:
            message = f"the token was rejected by {self.url} (unknown, expired or revoked)"
            raise TokenRefused(f"{what}: HTTP 401: {message}") from exc
        if code == 403 and ("been blocked" in message or "been deactivated" in message):
            raise TokenRefused(f"{what}: HTTP 403: {message}") from exc  # api_guard.rb's words
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


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    """A sleep that a set ``stop`` ends at once."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


def _is_throttle(exc: RetriableSourceError) -> bool:
    """A Rack::Attack 429: RateLimit-* headers, or a text body (``Retry later``, 12.x has no
    headers). An application limit (``check_rate_limit!``) answers JSON without them."""
    cause = exc.__cause__
    if not isinstance(cause, gitlab.GitlabError) or cause.response_code != 429:
        return False
    headers = exc.headers
    return "RateLimit-Limit" in headers or "json" not in headers.get("Content-Type", "json")


def _limit_per_minute(value: str | None) -> float | None:
    """``RateLimit-Limit``: requests per 60 s, rounded up from the throttle's own period
    (``Gitlab::RackAttack::RequestThrottleData#rounded_limit``)."""
    try:
        limit = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return limit if math.isfinite(limit) and limit > 0 else None


def _is_resource_404(exc: gitlab.GitlabError) -> bool:
    """A resource 404 (``{"message": "404 X Not Found"}``), not a route's (``{"error": ...}``)."""
    try:
        body = json.loads(exc.response_body or b"")
    except ValueError:
        return False
    return isinstance(body, dict) and "message" in body
