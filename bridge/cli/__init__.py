"""The ``gitlab-bridge`` command line: one module per command family, ``main`` the entry point."""

from bridge.cli.main import main

__all__ = ["main"]
