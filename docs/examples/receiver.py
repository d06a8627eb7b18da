"""A webhook receiver for gitlab-hook-bridge (and GitLab): verify, de-duplicate, acknowledge.

Standalone, standard library only, Python 3.11+. See docs/delivery.md#a-receiver-that-verifies-them.

    python3 receiver.py --port 9000 --secret whsec_... --token s3cr3t

For each POST it:

1. checks ``X-Gitlab-Token`` against ``--token`` (if one is given), constant-time;
2. checks the Standard Webhooks signature (if ``--secret`` is given): HMAC-SHA256 over
   ``"{webhook-id}.{webhook-timestamp}.{body}"`` with the key inside ``whsec_<base64>``,
   base64-encoded, ``v1,`` prefix, one or more space-separated signatures, constant-time
   comparison, and a ``webhook-timestamp`` no more than 5 minutes from now;
3. answers 401 if either check fails, 400 if the body is not a JSON object;
4. answers 204 at once otherwise, and records and prints the event unless its
   ``Idempotency-Key`` was seen before (a retry or redelivery of an event already taken).

Importing this module has no side effects. Tests use ``make_server`` and ``server.events``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 5 * 60  # seconds a webhook-timestamp may differ from now (Standard Webhooks default)
KEY_PREFIX = "whsec_"  # Standard Webhooks secrets: whsec_<base64 key>
MAX_BODY = 25 * 1024 * 1024  # GitLab's own request body limit


def _secret_key(secret: str) -> bytes:
    """The HMAC key of ``whsec_<base64>`` (the prefix is optional); ValueError if malformed."""
    encoded = secret.removeprefix(KEY_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a signing secret must not be empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (works for dicts and http.client.HTTPMessage)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), as the bridge sends it."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_signature(secrets: list[str], headers: Mapping[str, str], body: bytes, now: int) -> bool:
    """Whether ``headers`` carry a valid Standard Webhooks signature of ``body``.

    True when ``webhook-timestamp`` is within 5 minutes of ``now`` (Unix seconds) and at least
    one ``v1`` signature in ``webhook-signature`` matches one of ``secrets`` (several during a
    rotation). Pure: no clock, no I/O. Malformed secrets are skipped; no usable secret or a
    missing header gives False.
    """
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    offered = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not offered:
        return False
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        return False
    if abs(now - timestamp) > TOLERANCE:
        return False
    expected: list[bytes] = []
    for secret in secrets:
        try:
            expected.append(sign(secret, msg_id, timestamp, body).encode("ascii"))
        except ValueError:
            continue
    candidates = [s.encode("ascii", "replace") for s in offered.split() if s.startswith("v1,")]
    found = False
    for candidate in candidates:  # no early exit: every comparison is made
        for want in expected:
            found |= hmac.compare_digest(candidate, want)
    return found


class Deduplicator:
    """Remembers the last ``capacity`` keys; thread-safe.

    Keep at least as many keys as arrive in the bridge's ``delivery.max_age`` (72 h by default):
    a retry or a redelivery never comes later than that unless an operator redelivers by hand.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        """``capacity``: how many keys to remember; the oldest are forgotten first."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """True if ``key`` was seen before; otherwise remember it and return False."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            self._keys[key] = None
            if len(self._keys) > self.capacity:
                self._keys.popitem(last=False)
            return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the bridge reuses its connections
    server: ReceiverServer

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        srv = self.server
        headers = dict(self.headers.items())
        if srv.token is not None:
            given = _header(headers, "X-Gitlab-Token") or ""
            if not hmac.compare_digest(given.encode(), srv.token.encode()):
                self._answer(401, b'{"error":"bad X-Gitlab-Token"}')
                return
        if srv.secrets and not verify_signature(srv.secrets, headers, body, int(time.time())):
            self._answer(401, b'{"error":"bad webhook-signature"}')
            return
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._answer(400, b'{"error":"the body is not a JSON object"}')
            return
        key = (
            _header(headers, "Idempotency-Key")
            or _header(headers, "webhook-id")
            or _header(headers, "X-Gitlab-Event-UUID")
        )
        duplicate = key is not None and srv.dedup.seen(key)
        self._answer(204, b"")  # acknowledge first; anything slow belongs in a queue
        if duplicate:
            return
        with srv.lock:
            srv.events.append({"headers": headers, "payload": payload})
        if srv.verbose:
            print(
                f"{_header(headers, 'X-Gitlab-Event')}: {payload.get('event_name')} "
                f"key={key} {json.dumps(payload, ensure_ascii=False)}",
                flush=True,
            )

    def do_GET(self) -> None:
        self._answer(405, b'{"error":"POST only"}')

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._answer(400, b'{"error":"bad Content-Length"}')
            return None
        return self.rfile.read(length)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class ReceiverServer(ThreadingHTTPServer):
    """An ``http.server.HTTPServer`` (threaded) with the receiver's settings and its events."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], secrets: list[str], token: str | None) -> None:
        super().__init__(address, _Handler)
        self.secrets = list(secrets)
        self.token = token
        self.dedup = Deduplicator()
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.verbose = True


def make_server(
    host: str, port: int, secrets: list[str], token: str | None = None
) -> ReceiverServer:
    """A bound, not yet serving receiver; call ``serve_forever()`` (port 0 picks a free one).

    ``secrets``: ``whsec_`` signing secrets (empty: signatures are not checked). ``token``: the
    expected ``X-Gitlab-Token`` (None: not checked). Accepted, first-seen events are appended
    to ``server.events`` as ``{"headers": {...}, "payload": {...}}``; set ``server.verbose =
    False`` to stop printing them.
    """
    for secret in secrets:
        _secret_key(secret)  # fail now on a malformed secret, not on every request
    return ReceiverServer((host, port), secrets, token)


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Verify and print gitlab-hook-bridge webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--secret",
        action="append",
        default=[s for s in os.environ.get("WEBHOOK_SECRETS", "").split() if s],
        help="whsec_ signing secret; repeat during a rotation (default: $WEBHOOK_SECRETS)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("GITLAB_WEBHOOK_TOKEN") or None,
        help="expected X-Gitlab-Token (default: $GITLAB_WEBHOOK_TOKEN)",
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.secret, args.token)
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
