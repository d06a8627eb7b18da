"""Load the YAML configuration into ``Settings``, reporting every problem at once.

Each problem is one line with a dotted path: ``hooks.group[0].url: must be http(s)://...``.
``${VAR}`` and ``${VAR:-default}`` are taken from the environment; any key ``X_file`` supplies the
secret ``X`` from a file, looked up first in systemd's ``$CREDENTIALS_DIRECTORY`` (LoadCredential=),
then relative to the configuration file. Secrets never appear in messages or in ``--show``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from bridge.config.settings import Settings
from bridge.errors import ConfigProblems

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = ("token", "signing_secret")


def dotted(loc: tuple[int | str, ...]) -> str:
    """('hooks', 'group', 0, 'url') -> 'hooks.group[0].url'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate, resolve secret files and validate; raise ``ConfigProblems``."""
    environ = os.environ if environ is None else environ
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigProblems([f"config: cannot read {file}: {exc.strerror or exc}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigProblems([f"config: {where}: invalid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigProblems(
            ["config: the file must hold a mapping with at least a gitlab: section"]
        )
    problems: list[str] = []
    data = _interpolate(raw, (), environ, problems)
    data = _secret_files(data, (), _secret_dirs(file, environ), problems)
    problems += _duplicate_names(data)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(err) for err in exc.errors()]
        raise ConfigProblems(problems) from None
    if problems:
        raise ConfigProblems(problems)
    return settings


def _interpolate(
    value: Any, loc: tuple[int | str, ...], env: Mapping[str, str], problems: list[str]
) -> Any:
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
        problems.append(f"{dotted(loc)}: environment variable {name} is not set")
        return ""

    return _ENV.sub(substitute, value)


def _secret_dirs(config_file: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    dirs = [Path(env["CREDENTIALS_DIRECTORY"])] if env.get("CREDENTIALS_DIRECTORY") else []
    return (*dirs, config_file.resolve().parent)


def _secret_files(
    value: Any, loc: tuple[int | str, ...], dirs: tuple[Path, ...], problems: list[str]
) -> Any:
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
        where = dotted((*loc, file_key))
        if key in out:
            problems.append(f"{where}: give either {key} or {file_key}, not both")
            continue
        secret = _read_secret(out.pop(file_key), dirs, where, problems)
        if secret is not None:
            out[key] = secret
    return out


def _read_secret(name: Any, dirs: tuple[Path, ...], where: str, problems: list[str]) -> str | None:
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: must be a file name or path")
        return None
    candidates = [Path(name)] if Path(name).is_absolute() else [d / name for d in dirs]
    for candidate in candidates:
        try:
            return candidate.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{where}: cannot read {candidate}: {exc.strerror or exc}")
            return None
    looked = ", ".join(str(c) for c in candidates)
    problems.append(f"{where}: no such file (looked in {looked})")
    return None


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
    return [f"hooks: receiver name {n!r} is used more than once" for n in duplicates]


def _describe(err: Any) -> str:
    """One line for one pydantic error, in words an admin reads."""
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = "unknown key"
    elif kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    else:
        msg = msg[0].lower() + msg[1:]
    return f"{dotted(loc)}: {msg}"


_USERINFO = re.compile(r"^(https?://)[^/\s@]+@")


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by ``"***"``."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, str) and _USERINFO.match(value):
            return _USERINFO.sub(r"\1***@", value)  # a receiver URL's user:pass@
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(settings.model_dump())  # type: ignore[no-any-return]


def show(settings: Settings) -> str:
    """YAML of the effective configuration, secrets redacted."""
    return yaml.safe_dump(redacted(settings), sort_keys=False, default_flow_style=False)
