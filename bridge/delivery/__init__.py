"""Delivering queued hooks: pure ``policy``, ``wire`` and ``guard``, the HTTP ``sender`` (over
``transport`` and ``deadline``), the ``deliverer``.

See docs/delivery.md for what a receiver sees.

Pure: guard, policy, signing, wire
Adapters: deadline, sender, transport
Use cases: deliverer
"""
