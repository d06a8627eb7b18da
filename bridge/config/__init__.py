"""Configuration: YAML -> frozen ``Settings``, every problem reported at once with dotted paths.

Pure: fields, settings
Adapters: loader, reader
"""

from bridge.config.loader import load, redacted, show
from bridge.config.settings import Settings

__all__ = ["Settings", "load", "redacted", "show"]
