"""Event identity: deterministic ids for one event and one delivery (docs/events.md#event-identity).

One change detected twice gives one event id; each receiver's Idempotency-Key derives from it.
"""

from __future__ import annotations

import json
import uuid


def event_uuid(instance_url: str, event_name: str, subject: str, revision: int) -> str:
    """UUIDv5 in the URL namespace of the compact JSON array ``[url, event, subject, revision]``.

    The JSON array keeps the encoding unambiguous (no separator can collide); the instance URL
    loses any trailing ``/`` so both spellings of one instance give one id.
    """
    name = json.dumps(
        [instance_url.rstrip("/"), event_name, subject, revision],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def idempotency_key(event_uuid: str, receiver: str) -> str:
    """``Idempotency-Key``: the UUIDv5 of the receiver name in the event UUID's namespace, laid
    out as the version-4 UUID GitLab sends (``SecureRandom.uuid``).

    Deterministic, so a re-detected event keeps its key; the version and variant bits are
    those of a v4, so a receiver that checks the layout sees what GitLab sends. The 122 other
    bits are SHA-1 output, as random-looking as a v4's.
    """
    derived = uuid.uuid5(uuid.UUID(event_uuid), receiver)
    return str(uuid.UUID(bytes=derived.bytes, version=4))
