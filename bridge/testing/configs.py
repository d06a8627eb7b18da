"""Configuration fragments for runs against the simulator: every class fresh within seconds.

The simulator's datasets are small and answer at once, so tests, the demo and the soak hold
every freshness target at a second or two with a budget no real instance would grant.
"""

from __future__ import annotations

from bridge.config.settings import CLASSES

FAST_BUDGET = 60_000  # requests per minute: the simulator on loopback, not a real GitLab


def fast_freshness(target: str = "1s") -> dict[str, str]:
    """``freshness:`` with every class and the reconcile at ``target``."""
    return dict.fromkeys((*CLASSES, "reconcile"), target)
