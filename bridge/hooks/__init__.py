"""Pure: from snapshots to the hooks GitLab would send (docs/events.md).

``diff`` compares two snapshots, ``events`` turns changes into hook events with ``payloads``,
``routing`` picks their receivers, and ``outbox`` gives each (event, receiver) its identity.
Nothing here reads a clock, logs or does I/O.

Pure: diff, events, identity, outbox, routing, payloads
"""
