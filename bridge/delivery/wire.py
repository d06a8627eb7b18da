"""Pure: the HTTP request of one delivery attempt (docs/delivery.md#the-request).

The body is the queued payload, byte for byte. Custom headers come first and cannot override
GitLab's own; header names compare case-insensitively. ``user:pass@`` in the receiver URL
becomes HTTP Basic auth and leaves the URL, as in GitLab. GitLab's client is Ruby's Net::HTTP:
it writes every name capitalised per dash-separated part (``X-Gitlab-Event-Uuid``) and adds
``Accept-Encoding``, ``Accept`` and ``Host`` after the hook's own headers, so the bridge does too.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge import __version__
from bridge.delivery.signing import sign
from bridge.model.ledger import OutboxRecord

PRODUCT = f"gitlab-hook-bridge/{__version__}"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What one attempt got back."""

    status: int | None  # None: no HTTP answer
    body: str | None
    retry_after: str | None
    error: str | None
    duration_ms: int


# What Net::HTTPGenericRequest adds when the caller sets no Accept-Encoding.
NET_HTTP_ENCODINGS = "gzip;q=1.0,deflate;q=0.6,identity;q=0.3"


def net_http_name(name: str) -> str:
    """A header name as Net::HTTP writes it (``each_capitalized``): ``X-Gitlab-Event-Uuid``."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _host(url: str) -> str:
    """The ``Host`` header of ``url``: the host, and its port unless the scheme's default."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None or port == default else f"{host}:{port}"


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


def unsendable(headers: Sequence[tuple[str, str]]) -> str | None:
    """Why a header cannot go on the wire as it is, naming it but never showing its value."""
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            why = "its name is not an HTTP token"
        elif any(c in value for c in "\r\n\0"):
            why = "its value contains a line break or NUL"
        elif value[:1].isspace():
            why = "its value starts with whitespace"
        elif not value.isascii() and not _latin_1(value):
            why = "its value is not latin-1"
        else:
            continue
        return f"header {name!r} cannot be sent: {why}"
    return None


def _latin_1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def user_agent(gitlab_version: str, *, product_token: bool) -> str:
    """``GitLab/<version>``, then the bridge's product token unless turned off."""
    agent = f"GitLab/{gitlab_version}" if gitlab_version else "GitLab"
    return f"{agent} {PRODUCT}" if product_token else agent


def base_url(instance_url: str) -> str:
    """``X-Gitlab-Instance``: GitLab's ``Gitlab.config.gitlab.base_url``, the scheme, host and
    a non-default port, without the relative URL root (``config/initializers/1_settings.rb``)."""
    return f"{urllib.parse.urlsplit(instance_url).scheme}://{_host(instance_url)}"


def build_request(
    row: OutboxRecord,
    endpoint: Endpoint,
    *,
    webhook_uuid: str,
    timestamp: int,
    product_token: bool = True,
) -> HookRequest:
    """The request of one attempt; ``webhook_uuid`` and ``timestamp`` are new per attempt."""
    body = row.payload.encode("utf-8")
    # GitLab's WebHookService#build_headers order (17.4+): the token before the event UUID.
    own: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("User-Agent", user_agent(row.gitlab_version, product_token=product_token)),
        ("Idempotency-Key", row.idempotency_key),
        ("X-Gitlab-Event", row.hook),
        ("X-Gitlab-Webhook-UUID", webhook_uuid),
        ("X-Gitlab-Instance", base_url(row.instance_url)),
    ]
    if endpoint.token:
        own.append(("X-Gitlab-Token", endpoint.token.replace("\r", "").replace("\n", "")))
    own.append(("X-Gitlab-Event-UUID", row.gitlab_event_uuid or row.event_uuid))
    if endpoint.signing_secrets:
        signature = " ".join(
            sign(secret, row.idempotency_key, timestamp, body)
            for secret in endpoint.signing_secrets
        )
        own += [
            ("webhook-id", row.idempotency_key),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", signature),
        ]
    taken = {name.lower() for name, _ in own}
    custom = [
        (name, value)
        for name, value in (endpoint.custom_headers or {}).items()
        if name.lower() not in taken
    ]
    url, auth = split_credentials(endpoint.url)
    client = [("Accept-Encoding", NET_HTTP_ENCODINGS), ("Accept", "*/*"), ("Host", _host(url))]
    return HookRequest(
        url=url,
        headers=tuple((net_http_name(name), value) for name, value in (*custom, *own, *client)),
        body=body,
        auth=auth,
        timeout=endpoint.timeout,
        verify_tls=endpoint.verify_tls,
    )
