"""Pure: the HTTP request of one delivery attempt (HOOKS.md §7.1), and Standard Webhooks signing.

The body is the queued payload, byte for byte. Custom headers come first and cannot override
GitLab's own; header names compare case-insensitively. ``user:pass@`` in the receiver URL
becomes HTTP Basic auth and leaves the URL, as in GitLab.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge import __version__
from bridge.model.ledger import OutboxRecord

PRODUCT = f"gitlab-hook-bridge/{__version__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where and how one receiver is reached (from its configuration)."""

    name: str
    url: str
    token: str | None = None
    custom_headers: Mapping[str, str] | None = None
    signing_secrets: Sequence[str] = ()  # whsec_...; several during a rotation
    timeout: float = 10.0
    verify_tls: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class HookRequest:
    """Everything the sender needs: no decisions are left to the HTTP adapter."""

    url: str  # without credentials
    headers: tuple[tuple[str, str], ...]
    body: bytes
    auth: tuple[str, str] | None
    timeout: float
    verify_tls: bool


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:pass@``, and those credentials (percent-decoded) if present."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    user = urllib.parse.unquote(parts.username or "")
    return clean, (user, urllib.parse.unquote(parts.password or ""))


def user_agent(gitlab_version: str, *, product_token: bool) -> str:
    """``GitLab/<version>``, then the bridge's product token unless turned off."""
    agent = f"GitLab/{gitlab_version}" if gitlab_version else "GitLab"
    return f"{agent} {PRODUCT}" if product_token else agent


def build_request(
    row: OutboxRecord,
    target: Target,
    *,
    webhook_uuid: str,
    timestamp: int,
    product_token: bool = True,
) -> HookRequest:
    """The request of one attempt; ``webhook_uuid`` and ``timestamp`` are new per attempt."""
    body = row.payload.encode("utf-8")
    own: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("User-Agent", user_agent(row.gitlab_version, product_token=product_token)),
        ("Idempotency-Key", row.idempotency_key),
        ("X-Gitlab-Event", row.hook),
        ("X-Gitlab-Webhook-UUID", webhook_uuid),
        ("X-Gitlab-Instance", row.instance_url.rstrip("/")),
        ("X-Gitlab-Event-UUID", row.gitlab_event_uuid or row.event_uuid),
    ]
    if target.token:
        own.append(("X-Gitlab-Token", target.token.replace("\r", "").replace("\n", "")))
    if target.signing_secrets:
        signature = " ".join(
            sign(secret, row.idempotency_key, timestamp, body) for secret in target.signing_secrets
        )
        own += [
            ("webhook-id", row.idempotency_key),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", signature),
        ]
    taken = {name.lower() for name, _ in own}
    custom = [
        (name, value)
        for name, value in (target.custom_headers or {}).items()
        if name.lower() not in taken
    ]
    url, auth = split_credentials(target.url)
    return HookRequest(
        url=url,
        headers=(*custom, *own),
        body=body,
        auth=auth,
        timeout=target.timeout,
        verify_tls=target.verify_tls,
    )


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (base64 after the prefix); ValueError if malformed."""
    if not secret.startswith("whsec_"):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"a signing key has 24 to 64 bytes, not {len(key)}")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> bool:
    """Whether any ``v1`` signature in ``headers`` matches one of ``secrets`` (for receivers)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    offered = lowered.get("webhook-signature", "").split()
    expected = {sign(secret, msg_id, timestamp, body) for secret in secrets}
    return any(hmac.compare_digest(o, e) for o in offered for e in expected)
