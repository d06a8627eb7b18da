"""Time as the bridge reads it: a ``Clock`` is a callable returning an aware UTC datetime.

Use cases take one (``now=``) instead of reading the wall clock, so tests can fix or move time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)
