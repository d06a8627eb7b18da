"""The delivery request (docs/delivery.md): headers, Basic auth from the URL, signatures."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from standardwebhooks.webhooks import Webhook

from bridge import __version__
from bridge.delivery.signing import secret_key, sign, verify
from bridge.delivery.wire import Endpoint, build_request, split_credentials
from bridge.model.ledger import OutboxRecord

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
BODY = '{"event_name":"user_create","name":"Zoë"}'


def row(**changes: object) -> OutboxRecord:
    """A queued row with GitLab's wire fields."""
    values: dict[str, object] = {
        "id": 7,
        "event_uuid": "5f1c1c4e-0000-5000-8000-000000000001",
        "receiver": "audit",
        "hook": "System Hook",
        "event_name": "user_create",
        "subject": "user:58",
        "payload": BODY,
        "idempotency_key": "0b5e6f0e-1111-5111-8111-111111111111",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": T0,
        "last_error": None,
        "created_at": T0,
        "updated_at": T0,
        "delivered_at": None,
        "instance_url": "https://gitlab.example.com/",
        "gitlab_version": "16.11.3-ee",
        "gitlab_event_uuid": "9a9a9a9a-2222-4222-8222-222222222222",
    }
    values.update(changes)
    return OutboxRecord(**values)  # type: ignore[arg-type]


def test_headers_are_gitlabs_in_order_and_the_body_is_the_queued_bytes() -> None:
    """Content-Type, User-Agent, keys and UUIDs as GitLab sends them; no token when unset."""
    request = build_request(
        row(),
        Endpoint(name="audit", url="https://hooks.example/sys"),
        webhook_uuid="w-1",
        timestamp=1,
    )
    assert request.headers == (
        ("Content-Type", "application/json"),
        ("User-Agent", f"GitLab/16.11.3-ee gitlab-hook-bridge/{__version__}"),
        ("Idempotency-Key", "0b5e6f0e-1111-5111-8111-111111111111"),
        ("X-Gitlab-Event", "System Hook"),
        ("X-Gitlab-Webhook-Uuid", "w-1"),
        ("X-Gitlab-Instance", "https://gitlab.example.com"),
        ("X-Gitlab-Event-Uuid", "9a9a9a9a-2222-4222-8222-222222222222"),
        ("Accept-Encoding", "gzip;q=1.0,deflate;q=0.6,identity;q=0.3"),
        ("Accept", "*/*"),
        ("Host", "hooks.example"),
    )
    assert request.body == BODY.encode("utf-8")
    assert (request.url, request.auth, request.timeout) == ("https://hooks.example/sys", None, 10.0)


def test_the_token_comes_before_the_event_uuid_as_in_gitlabs_build_headers() -> None:
    """WebHookService#build_headers (17.4+): ..., X-Gitlab-Instance, X-Gitlab-Token,
    X-Gitlab-Event-UUID."""
    target = Endpoint(name="audit", url="https://hooks.example/sys", token="s3cret")
    names = [
        name for name, _ in build_request(row(), target, webhook_uuid="w", timestamp=1).headers
    ]
    assert names == [
        "Content-Type",
        "User-Agent",
        "Idempotency-Key",
        "X-Gitlab-Event",
        "X-Gitlab-Webhook-Uuid",
        "X-Gitlab-Instance",
        "X-Gitlab-Token",
        "X-Gitlab-Event-Uuid",
        "Accept-Encoding",
        "Accept",
        "Host",
    ]


@pytest.mark.parametrize(
    ("url", "header"),
    [
        ("https://gitlab.example.com/gitlab/", "https://gitlab.example.com"),
        ("https://gitlab.example.com/gitlab", "https://gitlab.example.com"),
        ("https://gitlab.example.com:443/", "https://gitlab.example.com"),
        ("http://gitlab.example.com:80/x/y", "http://gitlab.example.com"),
        ("https://gitlab.example.com:8443/gitlab", "https://gitlab.example.com:8443"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://127.0.0.1:38121", "http://127.0.0.1:38121"),
    ],
)
def test_instance_header_is_gitlabs_base_url_without_the_relative_root(
    url: str, header: str
) -> None:
    """Gitlab.config.gitlab.base_url: scheme, host and a non-default port; no relative root."""
    request = build_request(
        row(instance_url=url), Endpoint(name="a", url="http://r/"), webhook_uuid="w", timestamp=1
    )
    assert dict(request.headers)["X-Gitlab-Instance"] == header


def test_product_token_can_be_turned_off() -> None:
    """delivery.user_agent_product_token: false leaves GitLab's own User-Agent."""
    target = Endpoint(name="audit", url="http://r/")
    request = build_request(row(), target, webhook_uuid="w", timestamp=1, product_token=False)
    assert dict(request.headers)["User-Agent"] == "GitLab/16.11.3-ee"


def test_token_loses_line_breaks_and_custom_headers_cannot_override() -> None:
    """X-Gitlab-Token without CR/LF; custom headers come first and lose to GitLab's own."""
    target = Endpoint(
        name="audit",
        url="http://r/",
        token="sec\r\nret",
        custom_headers={"X-Team": "infra", "x-gitlab-event": "Push Hook", "User-Agent": "me"},
    )
    headers = build_request(row(), target, webhook_uuid="w", timestamp=1).headers
    assert headers[0] == ("X-Team", "infra")
    assert [v for k, v in headers if k.lower() == "x-gitlab-event"] == ["System Hook"]
    assert [v for k, v in headers if k.lower() == "user-agent"] == [dict(headers)["User-Agent"]]
    assert dict(headers)["User-Agent"].startswith("GitLab/")
    assert ("X-Gitlab-Token", "secret") in headers


def test_credentials_in_the_url_become_basic_auth() -> None:
    """user:pass@ leaves the URL and becomes HTTP Basic auth, percent-decoded."""
    assert split_credentials("https://bob:p%40ss@hooks.example:8443/h?x=1") == (
        "https://hooks.example:8443/h?x=1",
        ("bob", "p@ss"),
    )
    assert split_credentials("http://hooks.example/h") == ("http://hooks.example/h", None)


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    """The reference vector of the Standard Webhooks spec signs to its published value."""
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signed_request_verifies_with_the_reference_library() -> None:
    """The standardwebhooks package accepts our headers; webhook-id is the Idempotency-Key."""
    now = int(time.time())
    target = Endpoint(name="audit", url="http://r/", signing_secrets=(SECRET,))
    request = build_request(row(), target, webhook_uuid="w", timestamp=now)
    headers = {name.lower(): value for name, value in request.headers}  # as a server hands them
    assert headers["webhook-id"] == row().idempotency_key
    assert headers["webhook-timestamp"] == str(now)
    assert Webhook(SECRET).verify(request.body, headers) == {
        "event_name": "user_create",
        "name": "Zoë",
    }
    assert verify([SECRET], headers, request.body)
    assert not verify([OTHER], headers, request.body)
    assert not verify([SECRET], headers, request.body + b" ")


def test_rotation_sends_one_signature_per_secret() -> None:
    """Two secrets give two space-separated signatures; either secret verifies."""
    now = int(time.time())
    target = Endpoint(name="audit", url="http://r/", signing_secrets=(SECRET, OTHER))
    request = build_request(row(), target, webhook_uuid="w", timestamp=now)
    headers = {name.lower(): value for name, value in request.headers}
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OTHER):
        Webhook(secret).verify(request.body, headers)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with whsec_"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
    ],
)
def test_malformed_secrets_are_refused(secret: str, message: str) -> None:
    """A secret that is not whsec_ + base64 of 24-64 bytes is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        secret_key(secret)
