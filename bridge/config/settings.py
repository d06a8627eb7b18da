"""The configuration's shape: frozen, validated pydantic models with GitLab's vocabulary.

``bridge.config.loader`` loads YAML into ``Settings``. Durations are ``30s``, ``5m``, ``1h``,
``2d``, combinations like ``1h30m``, or plain seconds. Secrets are ``SecretStr``: they never
appear in ``repr``, errors or ``--show`` output.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bridge.delivery.signing import secret_key

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_duration(value: object) -> float:
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``250ms`` or a plain number."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 5m, 1h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration like 30s, 5m, 1h or a number of seconds")
    else:
        raise ValueError("must be a duration like 30s, 5m, 1h or a number of seconds")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _http_url(value: str, *, credentials: bool = False) -> str:
    """An http(s) URL; receivers may carry ``user:pass@`` (HTTP Basic auth, as in GitLab)."""
    userinfo = r"([^/\s@]+@)?" if credentials else ""
    if not re.match(rf"^https?://{userinfo}[^/\s:@]+(:\d+)?(/\S*)?$", value):
        shape = "[user:pass@]host" if credentials else "host"
        raise ValueError(f"must be http(s)://{shape}[:port][/path]")
    return value.rstrip("/")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitLabSettings(_Model):
    """Where GitLab is and how hard the bridge may lean on it."""

    url: str
    token: SecretStr
    verify_tls: bool = True
    timeout: Duration = 30.0
    per_page: int = Field(100, ge=1, le=100)
    requests_per_second: float | None = Field(None, gt=0)
    concurrency: int = Field(4, ge=1, le=64)
    retry_attempts: int = Field(6, ge=1, le=50)  # every try, the first included
    retry_max_wait: Duration = 60.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class StateSettings(_Model):
    """The snapshot and outbox database."""

    url: str = "sqlite:///state/bridge.db"

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value


class _Receiver(_Model):
    name: str
    url: str
    token: SecretStr | None = None
    enable_ssl_verification: bool = True
    custom_headers: dict[str, str] = Field(default_factory=dict)
    # Standard Webhooks signing; a list during a rotation (one signature per secret).
    signing_secret: tuple[SecretStr, ...] = ()
    timeout: Duration = 10.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, credentials=True)

    @field_validator("custom_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("at most 20 custom headers, as in GitLab")
        return value

    @field_validator("token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """``token: ${HOOK_TOKEN:-}`` with the variable unset means no token at all."""
        return None if value == "" else value

    @field_validator("signing_secret", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        """One secret, a list of them, or empty/null for none."""
        if value is None or value == "":
            return ()
        return (value,) if isinstance(value, str | SecretStr) else value

    @field_validator("signing_secret")
    @classmethod
    def _whsec(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for secret in value:
            try:
                secret_key(secret.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"{exc} (Standard Webhooks)") from None
        return value


class SystemHookSettings(_Receiver):
    """A receiver of every System Hook event."""


class GroupHookSettings(_Receiver):
    """A receiver like a GitLab group webhook: the group and all its subgroups."""

    group: str  # full path or numeric id
    member_events: bool = False
    subgroup_events: bool = False
    project_events: bool = False


class HooksSettings(_Model):
    """Who receives what."""

    system: tuple[SystemHookSettings, ...] = ()
    group: tuple[GroupHookSettings, ...] = ()

    def receivers(self) -> tuple[SystemHookSettings | GroupHookSettings, ...]:
        """Every receiver, system hooks first."""
        return (*self.system, *self.group)


class PollSettings(_Model):
    """How often each resource is polled (members and shares cost the most requests)."""

    users: Duration = 300.0
    groups: Duration = 900.0
    projects: Duration = 900.0
    members: Duration = 1800.0

    @field_validator("users", "groups", "projects", "members")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value


class DeliverySettings(_Model):
    """Retries, dead letters and per-receiver protection (docs/delivery.md)."""

    concurrency: int = Field(4, ge=1, le=64)  # receivers served in parallel
    max_attempts: int = Field(12, ge=1)
    max_age: Duration = 72 * 3600.0
    backoff_base: Duration = 30.0
    backoff_cap: Duration = 6 * 3600.0
    retry_after_cap: Duration = 3600.0
    accept_redirects: bool = False
    # GitLab's "allow requests to the local network" for system hooks: on by default there too.
    # False refuses loopback, private, link-local and similar targets after DNS resolution.
    allow_local_network: bool = True
    user_agent_product_token: bool = True
    circuit_threshold: int = Field(5, ge=1)
    circuit_probe: Duration = 60.0
    circuit_probe_max: Duration = 3600.0
    keep_delivered: Duration = 30 * 86400.0
    # How long an attempt holds its row; a crashed worker's row waits this long for another.
    # None: twice the receiver's timeout plus 5 s. Must exceed twice every receiver's timeout.
    lease: Duration | None = None

    @model_validator(mode="after")
    def _bounds(self) -> DeliverySettings:
        if self.backoff_base <= 0 or self.circuit_probe <= 0:
            raise ValueError("backoff_base and circuit_probe must be positive")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must not be below backoff_base")
        if self.circuit_probe_max < self.circuit_probe:
            raise ValueError("circuit_probe_max must not be below circuit_probe")
        return self


class DaemonSettings(_Model):
    """``gitlab-bridge run``: housekeeping and shutdown."""

    housekeeping: Duration = 3600.0  # how often delivered rows older than keep_delivered go
    shutdown_timeout: Duration = 30.0  # SIGTERM: work in flight gets this long, then is abandoned
    status_interval: Duration = 10.0  # how often systemd's STATUS= line is refreshed

    @model_validator(mode="after")
    def _positive(self) -> DaemonSettings:
        if min(self.housekeeping, self.shutdown_timeout, self.status_interval) <= 0:
            raise ValueError("housekeeping, shutdown_timeout and status_interval must be positive")
        return self


class PayloadSettings(_Model):
    """What the synthesized payloads contain (docs/payloads.md#settings-that-change-content)."""

    member_email: Literal["public", "primary"] = "public"
    edition: Literal["auto", "ce", "ee"] = "auto"
    role_spelling: Literal["maintainer", "master"] = "maintainer"
    share_events: bool = False
    time_zone: str = "UTC"
    emit_baseline: bool = False

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ServerSettings(_Model):
    """The bridge's HTTP server (project groups, metrics, health)."""

    enabled: bool = True
    listen: str = "127.0.0.1:9292"
    token: SecretStr | None = None
    external_url: str | None = None  # where clients reach the bridge (pagination links)
    auth_cache_ttl: Duration = 60.0  # how long GitLab's answer to "may this token read it" holds
    snapshot_refresh: Duration = 30.0  # how often answers pick up the latest snapshot

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        # Port 0 asks the OS for a free port; the server prints the one it got.
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9292")
        return value


class Settings(_Model):
    """The whole configuration."""

    gitlab: GitLabSettings
    state: StateSettings = StateSettings()
    hooks: HooksSettings = HooksSettings()
    poll: PollSettings = PollSettings()
    delivery: DeliverySettings = DeliverySettings()
    payloads: PayloadSettings = PayloadSettings()
    server: ServerSettings = ServerSettings()
    daemon: DaemonSettings = DaemonSettings()

    @model_validator(mode="after")
    def _lease_outlasts_attempts(self) -> Settings:
        lease = self.delivery.lease
        for receiver in self.hooks.receivers():
            if lease is not None and lease <= 2 * receiver.timeout:
                raise ValueError(
                    f"delivery.lease ({lease:g}s) must exceed twice the timeout of receiver "
                    f"{receiver.name!r} ({receiver.timeout:g}s): an attempt could outlive it"
                )
        return self
