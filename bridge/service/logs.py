"""Logging for every command: ``--log-format text|json`` and ``--log-level``, to stderr.

Text lines carry a timestamp unless stderr goes to the journal (``JOURNAL_STREAM``), which
stamps lines itself. JSON is one object per line for log shippers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Literal

LogFormat = Literal["text", "json"]
LEVELS = ("debug", "info", "warning", "error")


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ...}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON; exceptions go in ``exception``."""
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: LogFormat = "text", level: str = "info") -> None:
    """Send the bridge's logs to stderr in ``log_format`` from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries speak at INFO about every job and request; the bridge's own lines suffice.
    for noisy in ("apscheduler", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
