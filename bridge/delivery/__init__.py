"""Delivering queued hooks: pure ``policy`` and ``wire``, the HTTP ``sender``, the ``deliverer``.

See docs/delivery.md for what a receiver sees.

Pure: policy, signing, wire
Adapters: sender
Use cases: deliverer
"""
