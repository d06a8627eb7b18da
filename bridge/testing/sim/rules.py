"""GitLab's rules for the simulated world: errors, the clock and validations.

Mutations that GitLab would refuse raise ``SimError`` with the status its API answers, so the
Python API and the ``/-/sim/`` control API refuse the same things the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from bridge.testing.sim.rows import USER_STATES, VISIBILITIES, VISIBILITY_RANK, User

PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class SimError(Exception):
    """A mutation GitLab would refuse; ``status`` is the HTTP status the control API answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SimClock:
    """Wall clock with an offset, so tests and demos can move time forward."""

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._offset = dt.timedelta()

    def now(self) -> dt.datetime:
        """Current simulated time (aware UTC)."""
        return self._now() + self._offset

    def advance(self, seconds: float) -> dt.datetime:
        """Move simulated time forward."""
        self._offset += dt.timedelta(seconds=seconds)
        return self.now()


def check_user_attrs(attrs: dict[str, Any]) -> None:
    """Only known user attributes, and a state GitLab has."""
    allowed = set(User.__dataclass_fields__) - {"id", "namespace_id"}
    unknown = set(attrs) - allowed
    if unknown:
        raise SimError(f"unknown user attribute(s): {', '.join(sorted(unknown))}")
    if "state" in attrs and attrs["state"] not in USER_STATES:
        raise SimError(f"state {attrs['state']!r} is not one of {', '.join(USER_STATES)}")


def check_level(level: int) -> int:
    """A membership or link access level that exists (docs/payloads.md#roles)."""
    if level not in (5, 10, 15, 20, 30, 40, 50):
        raise SimError(f"access_level {level!r} does not have a valid value")
    return level


def check_path(path: str, what: str) -> None:
    """GitLab's path rule for usernames, groups and projects."""
    if not isinstance(path, str) or not PATH_RE.match(path) or path.endswith((".git", ".atom")):
        raise SimError(f"{what} {path!r} is not a valid GitLab path")


def check_visibility(visibility: str) -> None:
    """private, internal or public."""
    if visibility not in VISIBILITIES:
        raise SimError(f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")


def check_nested_visibility(child: str, parent: str, what: str) -> None:
    """A subgroup may not be more visible than its parent."""
    if VISIBILITY_RANK[child] > VISIBILITY_RANK[parent]:
        raise SimError(f"{what} visibility {child!r} is not allowed under a {parent} parent")
