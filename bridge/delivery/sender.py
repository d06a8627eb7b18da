"""HTTP adapter for hook delivery: one pooled ``requests`` session per receiver.

It sends exactly the ``HookRequest`` it is given (no redirects followed) and turns whatever
happens into an ``Answer``: a status and at most 8 KB of body, or the error in one line. No
exception escapes ``send``: every failure is a failed attempt, and the delivery use case decides
what it means. ``timeout`` is a total deadline per attempt (``bridge.delivery.deadline``).
Nothing comes from the environment but what is listed in docs/delivery.md#the-request: no
``~/.netrc`` credentials; proxies and the CA bundle only as passed here explicitly.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import urllib.parse

import requests
import requests.auth
import requests.utils
import urllib3.exceptions

from bridge.delivery import transport
from bridge.delivery.deadline import Attempt, Watchdog, scope
from bridge.delivery.policy import BODY_LIMIT
from bridge.delivery.wire import Answer, HookRequest, unsendable

_ERROR_LIMIT = 300


class BrokenResponse(Exception):
    """The status line and headers arrived, the body did not as promised."""

    def __init__(self, status: int, cause: BaseException) -> None:
        super().__init__(f"response broken after HTTP {status}: {_reason(cause)}")


class Utf8BasicAuth(requests.auth.AuthBase):
    """HTTP Basic in UTF-8 (RFC 7617) as GitLab sends it; requests would try latin-1 and fail."""

    def __init__(self, user: str, password: str) -> None:
        self._value = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the Authorization header."""
        prepared.headers["Authorization"] = self._value
        return prepared


class HttpSender:
    """Sends hook requests; sessions (and their keep-alive connections) are kept per receiver."""

    def __init__(self, *, pool_size: int = 4, allow_local_network: bool = True) -> None:
        """``pool_size``: connections kept per receiver host. ``allow_local_network`` false
        refuses targets that resolve to a local address (``delivery.allow_local_network``)."""
        self._sessions: dict[str, requests.Session] = {}
        self._lock = threading.Lock()
        self._pool_size = pool_size
        self._allow_local_network = allow_local_network
        self._watchdog = Watchdog()

    def send(self, receiver: str, request: HookRequest) -> Answer:
        """POST once; never raises (KeyboardInterrupt and SystemExit aside)."""
        started = time.perf_counter()
        problem = unsendable(request.headers)
        if problem is not None:
            return _failed(problem, started)
        attempt = Attempt(request.timeout, allow_local_network=self._allow_local_network)
        try:
            with self._watchdog.guarding(attempt), scope(attempt):
                status, body, retry_after = self._post(self._session(receiver), request, attempt)
        except Exception as exc:  # every failure of an attempt is an answer
            return _failed(_describe(exc, attempt, request), started)
        return Answer(
            status=status,
            body=body,
            retry_after=retry_after,
            error=None if 200 <= status < 300 else f"HTTP {status}",
            duration_ms=_elapsed_ms(started),
        )

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        self._watchdog.close()

    def _post(
        self, session: requests.Session, request: HookRequest, attempt: Attempt
    ) -> tuple[int, str, str | None]:
        proxies = requests.utils.get_environ_proxies(request.url)  # honours NO_PROXY
        proxied = requests.utils.select_proxy(request.url, proxies) is not None
        if proxied and not attempt.allow_local_network:
            target = urllib.parse.urlsplit(request.url)
            port = target.port or (443 if target.scheme == "https" else 80)
            transport.vet_name(target.hostname or "", port, attempt)
        with session.post(
            request.url,
            data=request.body,
            headers=dict(request.headers),
            auth=None if request.auth is None else Utf8BasicAuth(*request.auth),
            timeout=(request.timeout, request.timeout),
            verify=_verify(request.verify_tls),
            proxies=proxies,
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
            try:
                raw = response.raw.read(BODY_LIMIT, decode_content=True)
            except Exception as exc:
                raise BrokenResponse(status, exc) from exc
            body = _text(raw, response.encoding)
            return status, body, response.headers.get("Retry-After")

    def _session(self, receiver: str) -> requests.Session:
        with self._lock:
            session = self._sessions.get(receiver)
            if session is None:
                session = requests.Session()
                # Nothing implicit from the environment: ~/.netrc credentials once went to a
                # receiver. Proxies and the CA bundle are passed explicitly on each request.
                session.trust_env = False
                # Every header comes from the request, in its order (wire.build_request):
                # requests' defaults would go first and put User-Agent before GitLab's headers.
                session.headers.clear()
                adapter = transport.PinningAdapter(pool_connections=1, pool_maxsize=self._pool_size)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[receiver] = session
            return session


def _text(raw: bytes, encoding: str | None) -> str:
    """The body as text: its declared charset if Python knows it, else UTF-8; without NUL, which
    PostgreSQL text cannot hold (the attempt must be recorded whatever came)."""
    try:
        text = raw.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    return text.replace("\0", "\ufffd")


def _verify(verify_tls: bool) -> bool | str:
    """What ``requests`` itself would take with ``trust_env``: a CA bundle from the environment."""
    if not verify_tls:
        return False
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _describe(exc: Exception, attempt: Attempt, request: HookRequest) -> str:
    """One line for a failed attempt; the attempt knows a refusal or a passed deadline best."""
    if attempt.refused is not None:
        return attempt.refused
    if attempt.expired or isinstance(exc, requests.Timeout | TimeoutError):
        return f"timed out after {request.timeout:g} s"
    if isinstance(exc, BrokenResponse):
        return str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_first_line(exc)}"
    if isinstance(exc, requests.ConnectionError | urllib3.exceptions.HTTPError):
        return f"connection failed: {_first_line(exc)}"
    if isinstance(exc, requests.RequestException):
        return f"request failed: {_first_line(exc)}"
    return f"request failed: {type(exc).__name__}: {_first_line(exc)}"


def _reason(exc: BaseException) -> str:
    """urllib3's ``ProtocolError(message, cause)`` without the tuple around it."""
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0].splitlines()[0] if exc.args[0].strip() else type(exc).__name__
    return _first_line(exc)


def _failed(error: str, started: float) -> Answer:
    return Answer(
        status=None,
        body=None,
        retry_after=None,
        error=error[:_ERROR_LIMIT].replace("\0", "\ufffd"),
        duration_ms=_elapsed_ms(started),
    )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
