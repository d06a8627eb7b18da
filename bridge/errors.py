"""One exception hierarchy for the bridge, grouped by what the caller should do.

    BridgeError                      exit 1 unless a subclass says otherwise
    ├── ConfigError                  bad configuration or option value: fix it (exit 78)
    ├── UsageError                   a command line that cannot work (exit 64)
    ├── SourceError                  talking to GitLab failed (exit 69)
    │   ├── RetriableSourceError     429, 5xx, connection trouble: try again later
    │   └── FatalSourceError         401, 403, bad answers: a person must act
    ├── StoreError                   the state database failed (exit 74)
    │   └── SchemaError              the database belongs to another schema version
    └── AlreadyRunning               another daemon holds this state (exit 73)

Each error's ``str()`` names the culprit (resource, page, path, URL without credentials) so the
CLI prints it as one line. Tokens never appear in messages. Foreign exceptions are translated
once, at the adapter, with ``raise ... from exc``.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""

    exit_code = 1


class ConfigError(BridgeError):
    """Configuration or option value that cannot be used."""

    exit_code = 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 stops restart loops.


class UsageError(BridgeError):
    """A command line that names something that does not exist or cannot work."""

    exit_code = 64  # EX_USAGE


class SourceError(BridgeError):
    """GitLab could not be read."""

    exit_code = 69  # EX_UNAVAILABLE


class RetriableSourceError(SourceError):
    """A transient failure (rate limit, 5xx, connection); the same call may work later."""


class FatalSourceError(SourceError):
    """A failure retrying cannot fix (authentication, permissions, malformed answers)."""


class StoreError(BridgeError):
    """The state database failed."""

    exit_code = 74  # EX_IOERR


class SchemaError(StoreError):
    """The database was written by a different (usually newer) schema version."""


class AlreadyRunning(BridgeError):
    """Another daemon already runs on the same SQLite state."""

    exit_code = 73  # EX_CANTCREAT: the instance lock cannot be taken
