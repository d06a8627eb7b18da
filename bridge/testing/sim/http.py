"""Request and response values of the simulator, and Grape's parameter coercion rules."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bridge.testing.sim.pagination import Headers, Params, ruby_integer
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import User
from bridge.testing.sim.snapshot import Snapshot

if TYPE_CHECKING:
    from bridge.testing.sim.world import World

_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


class ApiError(Exception):
    """An API answer other than success: status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def not_found(what: str) -> ApiError:
    """``not_found!('Project')`` -> 404 {"message":"404 Project Not Found"}."""
    return ApiError(404, {"message": f"404 {what} Not Found"})


UNAUTHORIZED = ApiError(401, {"message": "401 Unauthorized"})
FORBIDDEN = ApiError(403, {"message": "403 Forbidden"})
NO_ROUTE = ApiError(404, {"error": "404 Not Found"})


def parse_query(query: str) -> Params:
    """Rack-style query parsing: ``key[]=`` collects a list, otherwise the last value wins."""
    params: Params = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.endswith("[]"):
            existing = params.get(key[:-2])
            values = existing if isinstance(existing, list) else []
            values.append(value)
            params[key[:-2]] = values
        else:
            params[key] = value
    return params


def parse_body(body: bytes, content_type: str) -> Params:
    """Parameters of a request body as Grape reads them: a JSON object or a form; else none.

    JSON scalars become the strings a query would carry (Grape coerces both alike); a body
    that is not the JSON it claims to be is Grape's 400.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if not body or media not in ("application/json", "application/x-www-form-urlencoded"):
        return {}
    text = body.decode("utf-8", errors="replace")
    if media != "application/json":
        return parse_query(text)
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(400, {"error": "message body does not match declared format"}) from None
    if not isinstance(data, dict):
        return {}
    params: Params = {}
    for key, value in data.items():
        if isinstance(value, list):
            params[key] = [_scalar(v) for v in value if not isinstance(v, dict | list)]
        elif value is not None and not isinstance(value, dict):
            params[key] = _scalar(value)
    return params


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP answer; ``body`` is JSON-serialisable unless ``raw`` is set."""

    status: int
    body: Any = None
    headers: Headers = field(default_factory=list)
    raw: bytes | None = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """The body bytes: compact JSON, as Grape renders it."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One routed API request, with the snapshot it is answered from.

    Authentication is lazy, as GitLab's ``current_user``: a refused token (unknown, revoked, a
    blocked user's) raises its 401 or 403 only when the handler first asks for the caller, so
    the parameters Grape validates before the endpoint's body are judged first.
    """

    method: str
    path: str  # raw path including /api/v4
    args: dict[str, str]  # decoded route parameters (":id" -> "acme/platform")
    params: Params
    user: User | None  # whose token it is, refused or not
    token: str | None
    snap: Snapshot
    profile: Profile
    external_url: str
    count_limit: int
    link_defaults: tuple[tuple[str, str], ...] = ()  # the route's declared defaults, for Link URLs
    refusal: ApiError | None = None  # why ``user``'s token may not be used, if it may not
    world: World | None = None  # what a POST, PUT or DELETE changes (reads use ``snap``)

    @property
    def caller(self) -> User | None:
        """``current_user``: the authenticated user, None if anonymous; raises a refusal."""
        if self.refusal is not None:
            raise self.refusal
        return self.user

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an administrator."""
        return self.caller is not None and self.caller.is_admin

    def text(self, name: str) -> str | None:
        """A scalar string parameter, or None; an array where a scalar is expected is invalid."""
        value = self.params.get(name)
        if isinstance(value, list):
            raise ApiError(400, {"error": f"{name} is invalid"})
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """A Grape Boolean parameter; anything unrecognised is ``<name> is invalid``."""
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ApiError(400, {"error": f"{name} is invalid"})

    def integer(self, name: str, choices: tuple[int, ...] | None = None) -> int | None:
        """A Grape Integer parameter, optionally limited to ``choices``."""
        value = self.text(name)
        if value is None or value == "":
            return None
        number = ruby_integer(value)
        if number is None:
            raise ApiError(400, {"error": f"{name} is invalid"})
        if choices is not None and number not in choices:
            raise ApiError(400, {"error": f"{name} does not have a valid value"})
        return number

    def time(self, name: str) -> dt.datetime | None:
        """A Grape DateTime parameter (ISO 8601; naive means UTC)."""
        value = self.text(name)
        if not value:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, {"error": f"{name} is invalid"}) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """A string parameter limited to ``choices``."""
        value = self.text(name)
        if value is None:
            return default
        if value not in choices:
            raise ApiError(400, {"error": f"{name} does not have a valid value"})
        return value

    def int_list(self, name: str, *, csv: bool) -> list[int]:
        """``name[]=1&name[]=2``; with ``csv`` also ``name=1,2`` (newer GitLab)."""
        value = self.params.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            if not csv:
                raise ApiError(400, {"error": f"{name} is invalid"})
            value = [v for v in value.split(",") if v.strip()]
        numbers = [ruby_integer(v) for v in value]
        if None in numbers:
            raise ApiError(400, {"error": f"{name} is invalid"})
        return [n for n in numbers if n is not None]
