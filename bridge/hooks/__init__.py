"""Pure: from snapshots to the hooks GitLab would send (docs/events.md).

``diff`` compares two snapshots, ``events`` (users, groups, projects) and ``links`` (members,
access requests, shares) turn changes into hook events with ``payloads`` on ``handling``'s
common parts, ``routing`` picks their receivers, and ``outbox`` gives each (event, receiver) its
identity and, with ``payloads.shape: instance``, its version's shape. ``samples`` are what
``hooks test`` sends.
Nothing here reads a clock, logs or does I/O.

Pure: diff, events, handling, identity, links, outbox, routing, samples, payloads
"""
