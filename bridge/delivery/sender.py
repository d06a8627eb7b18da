"""HTTP adapter for hook delivery: one pooled ``requests`` session per receiver.

It sends exactly the ``HookRequest`` it is given (no redirects followed) and turns whatever
happens into an ``Answer``: a status and at most 8 KB of body, or the error in one line. No
exception escapes for a receiver's failure; the delivery use case decides what it means.
"""

from __future__ import annotations

import threading
import time

import requests
from requests.adapters import HTTPAdapter

from bridge.delivery.policy import BODY_LIMIT
from bridge.delivery.wire import Answer, HookRequest

_ERROR_LIMIT = 300


class HttpSender:
    """Sends hook requests; sessions (and their keep-alive connections) are kept per receiver."""

    def __init__(self, *, pool_size: int = 4) -> None:
        """``pool_size``: connections kept per receiver host."""
        self._sessions: dict[str, requests.Session] = {}
        self._lock = threading.Lock()
        self._pool_size = pool_size

    def send(self, receiver: str, request: HookRequest) -> Answer:
        """POST once; never raises for network or HTTP trouble."""
        session = self._session(receiver)
        started = time.perf_counter()
        try:
            with session.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                auth=request.auth,
                timeout=(request.timeout, request.timeout),
                verify=request.verify_tls,
                allow_redirects=False,
                stream=True,
            ) as response:
                raw = response.raw.read(BODY_LIMIT, decode_content=True)
                body = raw.decode(response.encoding or "utf-8", errors="replace")
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
        except requests.Timeout:
            return _failed(f"timed out after {request.timeout:g} s", started)
        except requests.exceptions.SSLError as exc:
            return _failed(f"TLS error: {_first_line(exc)}", started)
        except requests.ConnectionError as exc:
            return _failed(f"connection failed: {_first_line(exc)}", started)
        except requests.RequestException as exc:
            return _failed(f"request failed: {_first_line(exc)}", started)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return Answer(
            status=status,
            body=body,
            retry_after=retry_after,
            error=error,
            duration_ms=_elapsed_ms(started),
        )

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def _session(self, receiver: str) -> requests.Session:
        with self._lock:
            session = self._sessions.get(receiver)
            if session is None:
                session = requests.Session()
                # trust_env stays on: HTTPS_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE from the unit's
                # Environment= apply, as admins behind a proxy expect.
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[receiver] = session
            return session


def _failed(error: str, started: float) -> Answer:
    return Answer(
        status=None,
        body=None,
        retry_after=None,
        error=error[:_ERROR_LIMIT],
        duration_ms=_elapsed_ms(started),
    )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
