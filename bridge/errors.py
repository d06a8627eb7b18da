"""Every exception the bridge raises on purpose, and every exit code, grouped by what to do.

    BridgeError                      exit 1 unless a subclass says otherwise
    ├── ConfigError                  bad configuration, a token GitLab refuses: fix it (exit 78)
    │   └── ConfigProblems           every problem of one file, one line each
    ├── UsageError                   a command line that cannot work, a bad option (exit 64)
    │   └── InvalidParameter         a parameter GitLab answers with 400 (also ValueError)
    ├── SourceError                  talking to GitLab failed (exit 69)
    │   ├── RetriableSourceError     429, 5xx, connection trouble: try again later
    │   ├── FatalSourceError         401, 403, bad answers: a person must act
    │   │   └── TokenRefused         GitLab refuses the bridge's own token: fix it (exit 78)
    │   ├── InvalidToken             GitLab refused a caller's token (the HTTP API answers 401)
    │   │   └── auth.Refused         ... with GitLab's own status and body (401, 403 blocked)
    │   └── AuthUnavailable          GitLab could not answer an authorization check (502)
    ├── StoreError                   the state database failed (exit 74)
    │   └── SchemaError              the database belongs to another schema version
    └── AlreadyRunning               another daemon holds this state (exit 73)

Each error's ``str()`` names the culprit (resource, page, path, URL without credentials) so the
CLI prints it as one line. Tokens never appear in messages. Foreign exceptions are translated
once, at the adapter, with ``raise ... from exc``.

Exit codes follow sysexits(3), so systemd units and scripts can tell them apart. Every code the
bridge returns is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

EXIT_OK = 0
EXIT_FAILURE = 1  # a failure, or work abandoned at the shutdown timeout
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70  # a long-lived thread died: systemd restarts the service
EX_CANTCREAT = 73
EX_IOERR = 74
EX_TEMPFAIL = 75  # events remain undelivered: try again later
EX_CONFIG = 78  # systemd's RestartPreventExitStatus=78 stops restart loops
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT) outside the daemon: 128 + 2, as shells report it


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""

    exit_code = EXIT_FAILURE


class ConfigError(BridgeError):
    """Configuration that cannot be used: the file, a secret, a state folder, GitLab's token."""

    exit_code = EX_CONFIG


class ConfigProblems(ConfigError):
    """Every problem found in one configuration; ``str()`` is one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class UsageError(BridgeError):
    """A command line that cannot work: an unknown option or command, a missing argument, a bad
    option value, or something named that does not exist. argparse's own errors become this."""

    exit_code = EX_USAGE


class InvalidParameter(UsageError, ValueError):
    """A parameter GitLab answers with 400; ``str()`` is GitLab's text, e.g. ``page is invalid``."""


class SourceError(BridgeError):
    """GitLab could not be read."""

    exit_code = EX_UNAVAILABLE


class RetriableSourceError(SourceError):
    """A transient failure (rate limit, 5xx, connection); the same call may work later.

    ``headers`` are the failed answer's, so a retry can honour ``Retry-After``.
    """

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers: Mapping[str, str] = headers or {}


class FatalSourceError(SourceError):
    """A failure retrying cannot fix (authentication, permissions, malformed answers)."""


class TokenRefused(FatalSourceError):
    """GitLab refuses ``gitlab.token`` (401, or 403 for a blocked or deactivated account)."""

    exit_code = EX_CONFIG


class InvalidToken(SourceError):
    """GitLab rejected a caller's token (401)."""


class AuthUnavailable(SourceError):
    """GitLab could not answer an authorization check."""


class StoreError(BridgeError):
    """The state database failed."""

    exit_code = EX_IOERR


class SchemaError(StoreError):
    """The database was written by a different (usually newer) schema version."""


class AlreadyRunning(BridgeError):
    """Another daemon already runs on the same SQLite state."""

    exit_code = EX_CANTCREAT
