"""gitlab-hook-bridge: synthesize GitLab system and group webhooks by polling the REST API.

Data flow: ``source`` reads GitLab -> ``sync`` diffs it against the ``store``'s snapshot with
``hooks`` (pure) -> the outbox -> ``delivery`` posts each hook. ``project_groups`` answers
``GET /projects/:id/groups`` from the snapshot; ``service`` runs it all as a daemon; ``cli`` is
the command line. Each package's docstring names its layers; tests/test_quality.py checks them.

Pure: errors, ports, retry, model, hooks
Adapters: clock, source, store
Features: config, delivery, sync, project_groups, service
Commands: cli, __main__
Test support: testing
"""

__version__ = "0.1.0"
