"""The checks behind each kind of setting, and how messages name values without echoing them.

Pure: no I/O. Every check raises ``ValueError`` with a message an admin reads after the dotted
path of the key; a value is echoed only clipped (``clip``), and a secret never.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
CLIP = 60  # longest echo of a value in a message
REDACTED = "[REDACTED]"  # GitLab's mask for custom header values (WebHookService, hook logs)

# GitLab's app/validators/json_schemas/web_hooks_custom_headers.json (patternProperties).
HEADER_NAME = re.compile(r"[A-Za-z]+[0-9]*(?:[._-][A-Za-z0-9]+)*")
HEADER_VALUE_MAX = 2048  # the same schema's maxLength
# Gitlab::PathRegex::PATH_REGEX_STR, one segment per group level.
_GROUP_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*")
# SQLAlchemy's own URL grammar (sqlalchemy.engine.url._parse_url): what make_url will see.
_DB_URL = re.compile(
    r"(?P<name>[\w+]+)://"
    r"(?:(?P<user>[^:/]*)(?::(?P<password>[^@]*))?@)?"
    r"(?:(?:\[(?P<ipv6>[^/?]+)\]|(?P<host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?"
    r"(?:/(?P<database>[^?]*))?(?:\?(?P<query>.*))?$",
    re.DOTALL,
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def clip(value: object, limit: int = CLIP) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message names a value, never floods."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cut(text: str, limit: int = 200) -> str:
    """``text`` as one printable line of at most ``limit`` characters (paths, YAML problems)."""
    flat = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: limit * 2])
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def dotted(loc: tuple[int | str, ...]) -> str:
    """('hooks', 'group', 0, 'url') -> 'hooks.group[0].url'; odd keys are quoted and clipped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]{1,60}", part):
            out += f".{part}" if out else part
        else:
            out += f"[{clip(part)}]"
    return out or "config"


def human(seconds: float) -> str:
    """30 -> '30s', 5400 -> '90m', 86400 -> '1d': the largest whole unit."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1.0)):
        if seconds >= size and seconds % size == 0 and seconds / size < 1e6:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:g}s"


def within(low: float, high: float, *, above: bool = False) -> Callable[[float], float]:
    """A range check for a duration: ``low <= s <= high``, or ``low < s`` with ``above``."""

    def check(seconds: float) -> float:
        if (seconds <= low if above else seconds < low) or seconds > high:
            lower = f"more than {human(low)}" if above else f"at least {human(low)}"
            raise ValueError(f"must be {lower} and at most {human(high)}, not {human(seconds)}")
        return seconds

    return check


def _unsafe(text: str) -> bool:
    """Whether ``text`` holds a space, a line break, a control character or a lone surrogate."""
    return any(
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text
    )


def http_url(value: str, *, credentials: bool = False, base: bool = False) -> str:
    """An http(s) URL without trailing slash; ``credentials`` allows ``user:pass@`` (HTTP Basic
    auth, as GitLab's hooks do) and ``base`` refuses a ``?query`` or ``#fragment``."""
    shape = "[user:pass@]host" if credentials else "host"
    message = f"must be http(s)://{shape}[:port][/path]"
    if _unsafe(value):
        raise ValueError(f"{message}, without spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{message} (the port must be a number from 1 to 65535)") from None
    if parts.scheme not in ("http", "https") or not _host_ok(parts):
        raise ValueError(message)
    if port == 0:
        raise ValueError(f"{message} (the port must be a number from 1 to 65535)")
    if "@" in parts.netloc and not credentials:
        raise ValueError(f"{message}, without user:password@")
    if base and (parts.query or parts.fragment or value.endswith(("?", "#"))):
        raise ValueError(f"{message}, without ?query or #fragment")
    return value.rstrip("/")


def _host_ok(parts: SplitResult) -> bool:
    host = parts.hostname or ""
    if parts.netloc.rpartition("@")[2].startswith("["):
        return bool(re.fullmatch(r"[0-9a-f:.]+", host)) and ":" in host
    return bool(re.fullmatch(r"[\w.-]+", host))


def state_url(value: str) -> str:
    """``sqlite:///PATH`` or a PostgreSQL URL whose port SQLAlchemy can read."""
    if _unsafe(value):
        raise ValueError("must not contain spaces or control characters")
    if not re.match(r"^(sqlite:///|sqlite://$|postgresql(\+psycopg)?://)", value):
        raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    found = _DB_URL.match(value)
    if value.startswith("sqlite") or found is None:
        return value
    port, host = found["port"], found["host"] or ""
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"the port must be a number from 1 to 65535, not {clip(port)}")
    if "@" in host:
        raise ValueError("an @ in the user name or password must be written %40")
    return value


def header_value(value: str, *, limit: int | None = None) -> str:
    """Text ``requests`` can send as an HTTP header value: Latin-1, no control character, no
    surrounding space (it refuses those at send time). The value is never echoed."""
    if not value:
        raise ValueError("must not be empty")
    if limit is not None and len(value) > limit:
        raise ValueError(f"must be at most {limit} characters, as in GitLab")
    if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in value):
        raise ValueError("must not contain line breaks or control characters")
    if value != value.strip():
        raise ValueError("must not start or end with a space")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("must be Latin-1 text: HTTP header values are ISO-8859-1") from None
    return value


def header_names(names: list[str]) -> None:
    """Custom header names as GitLab accepts them, each once whatever its case."""
    seen: set[str] = set()
    for name in names:
        if not HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"header name {clip(name)} must be letters, then digits, then parts joined "
                "by '.', '_' or '-' (as GitLab accepts)"
            )
        if name.lower() in seen:
            raise ValueError(f"header {clip(name)} is given twice (names ignore case)")
        seen.add(name.lower())


def group_ref(value: object) -> str:
    """A group id (``7`` or ``"7"``) or a full path (``acme/platform``), as one string."""
    shape = "must be a group id (a positive number) or a full path like acme/platform"
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value < 2**63:  # PostgreSQL's bigint, GitLab's ids
            raise ValueError(f"{shape}, not {clip(value)}")
        return str(value)
    if not isinstance(value, str):
        raise ValueError(shape)
    ident = value.strip("/")
    if len(ident) > 2000 or not _GROUP_PATH.fullmatch(ident):
        raise ValueError(f"{shape}, not {clip(value)}")
    return group_ref(int(ident)) if ident.isdigit() else ident


def redact_url(value: str) -> str:
    """A URL with any ``user:password@`` replaced by ``***@``, as either parser would read it:
    SQLAlchemy's grammar for database URLs, ``urlsplit``'s for the others."""
    scheme = _SCHEME.match(value)
    if scheme is None:
        return value
    start, end = scheme.end(), 0
    if value.startswith(("postgresql", "sqlite")):
        found = _DB_URL.match(value)
        if found and found["user"] is not None:
            end = found.end("password") if found["password"] is not None else found.end("user")
            end += 1  # the @
    else:
        netloc = re.split(r"[/?#]", value[start:], maxsplit=1)[0]
        if "@" in netloc:
            end = start + netloc.rindex("@") + 1
    return value[:start] + "***@" + value[end:] if end else value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": MINUTE, "h": HOUR, "d": DAY}
DURATION_SHAPE = "a duration like 30s, 5m, 1h or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``250ms`` or a plain number (finite, >= 0)."""
    if isinstance(value, bool):
        raise ValueError(f"must be {DURATION_SHAPE}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        else:
            raise ValueError(f"{clip(value)} is not {DURATION_SHAPE}")
    else:
        raise ValueError(f"must be {DURATION_SHAPE}")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite duration")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds
