"""Load the YAML configuration into ``Settings``, reporting every problem at once.

Each problem is one line with a dotted path: ``hooks.group[0].url: must be http(s)://...``;
a key already reported (an unset variable, an unreadable secret file) gets no second line.
``${VAR}`` and ``${VAR:-default}`` are taken from the environment; any key ``X_file`` supplies
the secret ``X`` from a file, looked up first in systemd's ``$CREDENTIALS_DIRECTORY``
(LoadCredential=), then relative to the configuration file. Secrets never appear in messages or
in ``--show``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from bridge.config.fields import REDACTED, clip, cut, dotted, redact_url
from bridge.config.reader import MAX_SECRET_BYTES, parse, read_text
from bridge.config.settings import Settings
from bridge.errors import ConfigProblems

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = ("token", "signing_secret")
Loc = tuple[int | str, ...]


class _Problems:
    """Problems found before validation, and the keys they already speak for."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.keys: set[Loc] = set()

    def add(self, loc: Loc, why: str, *, key: Loc | None = None) -> None:
        self.lines.append(f"{dotted(loc)}: {why}")
        self.keys.add(loc if key is None else key)

    def covers(self, loc: Loc) -> bool:
        return any(loc[: len(key)] == key for key in self.keys)


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate, resolve secret files and validate; raise ``ConfigProblems``."""
    environ = os.environ if environ is None else environ
    file = Path(path)
    raw = parse(file)
    if not isinstance(raw, dict):
        raise ConfigProblems(
            ["config: the file must hold a mapping with at least a gitlab: section"]
        )
    problems = _Problems()
    data = _interpolate(raw, (), environ, problems)
    data = _secret_files(data, (), _secret_dirs(file, environ), problems)
    lines = problems.lines + _duplicate_names(data)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines += [_describe(e) for e in exc.errors() if not problems.covers(_loc(e))]
        raise ConfigProblems(lines) from None
    if lines:
        raise ConfigProblems(lines)
    return settings


def _interpolate(value: Any, loc: Loc, env: Mapping[str, str], problems: _Problems) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, str(k)), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.add(loc, f"environment variable {cut(name, 80)} is not set")
        return ""

    return _ENV.sub(substitute, value)


def _secret_dirs(config_file: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    dirs = [Path(env["CREDENTIALS_DIRECTORY"])] if env.get("CREDENTIALS_DIRECTORY") else []
    return (*dirs, config_file.resolve().parent)


def _secret_files(value: Any, loc: Loc, dirs: tuple[Path, ...], problems: _Problems) -> Any:
    """Replace ``X_file: PATH`` by ``X: <file content>`` for every secret key X."""
    if isinstance(value, list):
        return [_secret_files(v, (*loc, i), dirs, problems) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out = {k: _secret_files(v, (*loc, str(k)), dirs, problems) for k, v in value.items()}
    for key in _SECRET_KEYS:
        file_key = f"{key}_file"
        if file_key not in out:
            continue
        where = (*loc, file_key)
        name = out.pop(file_key)
        if key in out:
            problems.add(where, f"give either {key} or {file_key}, not both", key=(*loc, key))
            continue
        secret = _read_secret(name, dirs)
        if isinstance(secret, _Failure):
            problems.add(where, secret.why, key=(*loc, key))
        else:
            out[key] = secret
    return out


class _Failure:
    def __init__(self, why: str) -> None:
        self.why = why


def _read_secret(name: Any, dirs: tuple[Path, ...]) -> str | _Failure:
    """The stripped content of a secret file; empty, binary or huge ones are refused."""
    if not isinstance(name, str) or not name:
        return _Failure("must be a file name or path")
    candidates = [Path(name)] if Path(name).is_absolute() else [d / name for d in dirs]
    for candidate in candidates:
        shown = cut(str(candidate))
        try:
            secret = read_text(candidate, MAX_SECRET_BYTES).strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return _Failure(f"cannot read {shown}: {exc.strerror or exc}")
        except ValueError as exc:
            return _Failure(f"{shown} {exc}")
        return secret or _Failure(f"{shown} is empty")
    looked = ", ".join(cut(str(c)) for c in candidates)
    return _Failure(f"no such file (looked in {looked})")


def _duplicate_names(data: dict[str, Any]) -> list[str]:
    """Receiver names identify deliveries, so they must be unique across both lists."""
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return []
    names = [
        entry["name"]
        for kind in ("system", "group")
        if isinstance(hooks.get(kind), list)
        for entry in hooks[kind]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    ]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    return [f"hooks: receiver name {clip(n)} is used more than once" for n in duplicates]


def _loc(err: Any) -> Loc:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _describe(err: Any) -> str:
    """One line for one pydantic error, in words an admin reads."""
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = "unknown key"
    elif kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    else:
        msg = msg[0].lower() + msg[1:]
    return f"{dotted(_loc(err))}: {' '.join(msg.split())}"


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data: secrets ``***``, credentials in URLs ``***@``, custom header
    values ``[REDACTED]`` (GitLab never shows them back either)."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, str):
            return redact_url(value)
        if isinstance(value, dict):
            return {
                k: dict.fromkeys(v, REDACTED) if k == "custom_headers" else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(settings.model_dump())  # type: ignore[no-any-return]


def show(settings: Settings) -> str:
    """YAML of the effective configuration, secrets redacted."""
    return yaml.safe_dump(redacted(settings), sort_keys=False, default_flow_style=False)
