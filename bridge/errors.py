"""One exception hierarchy for the bridge.

    BridgeError
    ├── ConfigError        bad configuration or command-line input (exit 78)
    └── UsageError         a command was called with arguments that cannot work (exit 64)

Each error's ``str()`` names the culprit, so the CLI can print it as one line.
Later capabilities (source, store, delivery) add their branches here.
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
