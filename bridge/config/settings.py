"""The configuration's shape: frozen, validated pydantic models with GitLab's vocabulary.

``bridge.config.loader`` loads YAML into ``Settings``. Durations are ``30s``, ``5m``, ``1h``,
``2d``, combinations like ``1h30m``, or plain seconds; each has a range (``fields.within``), and
every number is finite and bounded. Secrets are ``SecretStr``: they never appear in ``repr``,
errors or ``--show`` output.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge.config.fields import (
    DAY,
    HEADER_VALUE_MAX,
    HOUR,
    MINUTE,
    clip,
    group_ref,
    header_names,
    header_value,
    http_url,
    human,
    parse_duration,
    state_url,
    within,
)
from bridge.delivery.signing import secret_key

Duration = Annotated[float, BeforeValidator(parse_duration)]
Timeout = Annotated[Duration, AfterValidator(within(0, HOUR, above=True))]  # 0 < t <= 1h
Interval = Annotated[Duration, AfterValidator(within(1, 365 * DAY))]  # how often something runs
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _none_is_default(value: object) -> object:
    """A section or list left empty in YAML (``poll:``) means its defaults."""
    return {} if value is None else value


def _none_is_empty(value: object) -> object:
    return () if value is None else value


def _empty_is_none(value: object) -> object:
    """``token: ${TOKEN:-}`` with the variable unset means no token at all."""
    return None if value == "" else value


def _secret_header(value: SecretStr | None) -> SecretStr | None:
    """A token sent or compared as an HTTP header value; the message never shows it."""
    if value is not None:
        header_value(value.get_secret_value())
    return value


HeaderSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_none)]
OptionalToken = Annotated[HeaderSecret, AfterValidator(_secret_header)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class GitLabSettings(_Model):
    """Where GitLab is and how hard the bridge may lean on it."""

    url: str
    token: SecretStr  # sent as PRIVATE-TOKEN
    verify_tls: bool = True
    timeout: Timeout = 30.0
    per_page: int = Field(100, ge=1, le=100)
    # Requests per minute, all charged (docs/freshness.md#the-budget). 600 is 10 a second: one
    # Puma thread's worth of a small instance, well below GitLab.com's 2,000/min for a user.
    budget: int = Field(600, ge=1, le=1_000_000)
    concurrency: int = Field(4, ge=1, le=64)
    graphql: bool = True  # many member lists a request where GitLab has it (freshness.md#graphql)
    retry_attempts: int = Field(6, ge=1, le=50)  # every try, the first included
    retry_max_wait: Timeout = 60.0

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "requests_per_second" in data:
            raise ValueError(
                "requests_per_second was replaced by budget, in requests per minute "
                "(README: Migrating from poll intervals)"
            )
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value, base=True)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        header_value(value.get_secret_value())
        return value


class StateSettings(_Model):
    """The snapshot and outbox database."""

    url: str = "sqlite:///state/bridge.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return state_url(value)


class _Receiver(_Model):
    name: str = Field(max_length=100)
    url: str
    token: OptionalToken = None  # sent as X-Gitlab-Token
    enable_ssl_verification: bool = True
    custom_headers: dict[str, str] = Field(default_factory=dict)
    # Standard Webhooks signing; a list during a rotation (one signature per secret).
    signing_secret: tuple[SecretStr, ...] = Field((), max_length=10)
    timeout: Timeout = 10.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value, credentials=True)

    @field_validator("custom_headers", mode="before")
    @classmethod
    def _no_headers(cls, value: object) -> object:
        return _none_is_default(value)

    @field_validator("custom_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        """GitLab's limits (web_hooks_custom_headers.json), plus what HTTP can carry."""
        if len(value) > 20:
            raise ValueError("at most 20 custom headers, as in GitLab")
        header_names(list(value))
        for name, text in value.items():
            try:
                header_value(text, limit=HEADER_VALUE_MAX)
            except ValueError as exc:
                raise ValueError(f"value of {clip(name)}: {exc}") from None
        return value

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

    # A numeric id (``7`` in YAML becomes "7") or a full path; routing resolves either.
    group: Annotated[str, BeforeValidator(group_ref)]
    member_events: bool = False
    subgroup_events: bool = False
    project_events: bool = False


class HooksSettings(_Model):
    """Who receives what."""

    system: Annotated[tuple[SystemHookSettings, ...], BeforeValidator(_none_is_empty)] = ()
    group: Annotated[tuple[GroupHookSettings, ...], BeforeValidator(_none_is_empty)] = ()

    def receivers(self) -> tuple[SystemHookSettings | GroupHookSettings, ...]:
        """Every receiver, system hooks first."""
        return (*self.system, *self.group)


Target = Annotated[Duration, AfterValidator(within(1, 30 * DAY))]  # a freshness target
_POLL_INTERVALS = ("users", "groups", "projects", "members")


class PollSettings(_Model):
    """What is polled beyond the defaults. The intervals it held became ``freshness`` targets."""

    # Each group's and project's pending access requests, read with its member list: one more
    # request per source and pass (docs/events.md#access-requests).
    access_requests: bool = False

    @model_validator(mode="before")
    @classmethod
    def _intervals_gone(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in _POLL_INTERVALS:
                if key in data:
                    raise ValueError(
                        f"{key}: poll intervals were replaced by freshness targets "
                        f"(freshness.{_TARGET_FOR[key]}; README: Migrating from poll intervals)"
                    )
        return data


_TARGET_FOR = {"users": "new_users", "groups": "groups_and_projects",
               "projects": "groups_and_projects", "members": "group_members"}  # fmt: skip


class FreshnessSettings(_Model):
    """How late each class of change may be seen, at worst (docs/freshness.md#targets).

    The daemon spends ``gitlab.budget`` to hold these; ``gitlab-bridge plan`` says whether it can.
    """

    new_users: Target = MINUTE
    new_user_memberships: Target = 90.0  # a new user's first memberships
    new_user_window: Target = 10 * MINUTE  # how long after its creation a user counts as new
    group_members: Target = 5 * MINUTE
    project_members: Target = 5 * MINUTE  # where GitLab's activity hint applies
    groups_and_projects: Target = 10 * MINUTE  # create, rename, transfer, destroy
    shares: Target = 2 * HOUR
    reconcile: Target = 3 * HOUR  # every source re-read at least this often

    @model_validator(mode="after")
    def _within_reconcile(self) -> FreshnessSettings:
        for name in CLASSES:
            value = getattr(self, name)
            if value > self.reconcile:
                raise ValueError(
                    f"{name} ({human(value)}) must not exceed reconcile ({human(self.reconcile)}):"
                    " the reconcile re-reads every source at least that often"
                )
        return self


# The targeted classes; ``reconcile`` bounds them all.
CLASSES = ("new_users", "new_user_memberships", "group_members", "project_members",
           "groups_and_projects", "shares")  # fmt: skip


def _at_least(field: str, info: ValidationInfo, value: float) -> float:
    """A bound that must not be below another field's (validated before it)."""
    low = info.data.get(field)
    if isinstance(low, float) and value < low:
        raise ValueError(f"must not be below {field} ({human(low)}), not {human(value)}")
    return value


class DeliverySettings(_Model):
    """Retries, dead letters and per-receiver protection (docs/delivery.md)."""

    concurrency: int = Field(4, ge=1, le=64)  # receivers served in parallel
    max_attempts: int = Field(12, ge=1, le=1000)
    max_age: Annotated[Duration, AfterValidator(within(0, 365 * DAY, above=True))] = 72 * HOUR
    backoff_base: Annotated[Duration, AfterValidator(within(0, DAY, above=True))] = 30.0
    backoff_cap: Annotated[Duration, AfterValidator(within(0, 30 * DAY, above=True))] = 6 * HOUR
    retry_after_cap: Annotated[Duration, AfterValidator(within(0, DAY))] = HOUR
    accept_redirects: bool = False
    # GitLab's "allow requests to the local network" for system hooks: on by default there too.
    # False refuses loopback, private, link-local and similar targets after DNS resolution.
    allow_local_network: bool = True
    user_agent_product_token: bool = True
    circuit_threshold: int = Field(5, ge=1, le=1000)
    circuit_probe: Annotated[Duration, AfterValidator(within(0, DAY, above=True))] = 60.0
    circuit_probe_max: Annotated[Duration, AfterValidator(within(0, 30 * DAY, above=True))] = HOUR
    keep_delivered: Annotated[Duration, AfterValidator(within(0, 3650 * DAY))] = 30 * DAY
    # How long an attempt holds its row; a crashed worker's row waits this long for another.
    # None: twice the receiver's timeout plus 5 s. Must exceed twice every receiver's timeout.
    lease: Annotated[Duration, AfterValidator(within(0, DAY, above=True))] | None = None

    @field_validator("backoff_cap")
    @classmethod
    def _cap(cls, value: float, info: ValidationInfo) -> float:
        return _at_least("backoff_base", info, value)

    @field_validator("circuit_probe_max")
    @classmethod
    def _probe_max(cls, value: float, info: ValidationInfo) -> float:
        return _at_least("circuit_probe", info, value)


class DaemonSettings(_Model):
    """``gitlab-bridge run``: housekeeping and shutdown."""

    # How often delivered rows older than keep_delivered go.
    housekeeping: Annotated[Duration, AfterValidator(within(1, 30 * DAY))] = HOUR
    shutdown_timeout: Timeout = 30.0  # SIGTERM: work in flight gets this long, then is abandoned
    # How often systemd's STATUS= line is refreshed.
    status_interval: Annotated[Duration, AfterValidator(within(1, HOUR))] = 10.0


class PayloadSettings(_Model):
    """What the synthesized payloads contain (docs/payloads.md#settings-that-change-content)."""

    member_email: Literal["public", "primary"] = "public"
    edition: Literal["auto", "ce", "ee"] = "auto"
    role_spelling: Literal["maintainer", "master"] = "maintainer"
    share_events: bool = False
    time_zone: str = "UTC"
    emit_baseline: bool = False
    shape: Literal["latest", "instance"] = "latest"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            if len(value) > 255:
                raise ValueError
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {clip(value)}") from None
        return value


class ServerSettings(_Model):
    """The bridge's HTTP server (project groups, metrics, health)."""

    enabled: bool = True
    listen: str = "127.0.0.1:9292"
    token: OptionalToken = None  # clients send it as "Authorization: Bearer <token>"
    external_url: str | None = None  # where clients reach the bridge (pagination links)
    # How long GitLab's answer to "may this token read it" holds (0: ask every time).
    auth_cache_ttl: Annotated[Duration, AfterValidator(within(0, DAY))] = 60.0
    # How often answers pick up the latest snapshot.
    snapshot_refresh: Annotated[Duration, AfterValidator(within(0, DAY, above=True))] = 30.0

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        # Port 0 asks the OS for a free port; the server prints the one it got.
        if (
            not host
            or not all(ch.isascii() and (ch.isalnum() or ch in ".-_:[]") for ch in host)
            or not (port.isascii() and port.isdigit() and int(port) < 65536)
        ):
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9292")
        return value

    @field_validator("external_url")
    @classmethod
    def _external(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value, base=True)


class Settings(_Model):
    """The whole configuration."""

    gitlab: GitLabSettings
    state: Annotated[StateSettings, BeforeValidator(_none_is_default)] = StateSettings()
    hooks: Annotated[HooksSettings, BeforeValidator(_none_is_default)] = HooksSettings()
    poll: Annotated[PollSettings, BeforeValidator(_none_is_default)] = PollSettings()
    freshness: Annotated[FreshnessSettings, BeforeValidator(_none_is_default)] = FreshnessSettings()
    delivery: Annotated[DeliverySettings, BeforeValidator(_none_is_default)] = DeliverySettings()
    payloads: Annotated[PayloadSettings, BeforeValidator(_none_is_default)] = PayloadSettings()
    server: Annotated[ServerSettings, BeforeValidator(_none_is_default)] = ServerSettings()
    daemon: Annotated[DaemonSettings, BeforeValidator(_none_is_default)] = DaemonSettings()

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
