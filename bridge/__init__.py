"""gitlab-hook-bridge: synthesize GitLab system and group webhooks by polling the REST API."""

__version__ = "0.1.0"
