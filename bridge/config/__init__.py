"""Configuration: YAML -> frozen ``Settings``, every problem reported at once with dotted paths.

Pure: settings
Adapters: loader
"""

from bridge.config.loader import load, redacted, show
from bridge.config.settings import Settings

__all__ = ["Settings", "load", "redacted", "show"]
