"""The ``gitlab-bridge`` command line: one module per command family, ``main`` the entry point.

Commands: common, daemon, deliveries, demo, hooks, main, plan, project_groups, sim, sync,
__main__
"""

from bridge.cli.main import main

__all__ = ["main"]
