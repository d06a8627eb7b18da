"""The soak's hands on the world: the simulator's control API, and a receiver that can go down.

``Control.apply`` makes one ``Mutation`` in the simulated GitLab over ``/-/sim/``
(docs/simulator.md#control-api) and returns it with the id GitLab gave it, or None when GitLab
refused it. ``Recorder`` is a ``Receiver`` on a fixed port that can stop and come back, and reads
every accepted delivery as the oracle's ``Received``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import requests

from bridge.testing.mutations import Mutation
from bridge.testing.oracle import Received, identify
from bridge.testing.receiver import Delivery, Receiver

log = logging.getLogger(__name__)


class Control:
    """The simulator's control API (docs/simulator.md#control-api)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/-/sim"
        self.http = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; None for 204. Raises ``LookupError`` when the simulator refuses (4xx)."""
        response = self.http.request(method, self.url + path, json=body, timeout=30)
        if 400 <= response.status_code < 500:
            raise LookupError(f"{method} {path}: {response.status_code} {response.text}")
        response.raise_for_status()
        return None if response.status_code == 204 else response.json()

    def apply(self, m: Mutation) -> Mutation | None:
        """Make ``m`` in GitLab; the mutation with its new id, or None if GitLab refused it."""
        method, path, body = _request(m)
        try:
            answer = self.call(method, path, body)
        except LookupError as exc:
            log.info("refused, not logged: %s", exc)
            return None
        return replace(m, target=answer["id"]) if m.target is None else m


def _request(m: Mutation) -> tuple[str, str, dict[str, Any] | None]:
    """The control request that makes one mutation."""
    if m.op.startswith(("member_", "share_")):
        what = "members" if m.op.startswith("member_") else "shares"
        path = f"/{m.source}s/{m.target}/{what}/{m.other}"
        if m.op.endswith("_remove"):
            return "DELETE", path, None
        return "PUT", path, {"access_level" if what == "members" else "group_access": m.level}
    kind = m.op.split("_")[0] + "s"
    creates: dict[str, dict[str, Any]] = {
        "user_create": {"username": m.name, "name": m.name, "email": f"{m.name}@soak.example"},
        "group_create": {"path": m.name, "parent_id": m.parent},
        "project_create": {"path": m.name, "namespace_id": m.parent},
    }
    if m.op in creates:
        return "POST", f"/{kind}", creates[m.op]
    if m.op.endswith("_destroy"):
        return "DELETE", f"/{kind}/{m.target}", None
    changes: dict[str, dict[str, Any]] = {
        "user_rename": {"username": m.name},
        "group_rename": {"path": m.name},
        "project_rename": {"path": m.name},
        "project_update": {"description": m.name},
        "project_transfer": {"namespace_id": m.parent},
    }
    return "PATCH", f"/{kind}/{m.target}", changes[m.op]


class Recorder:
    """A receiver on a fixed port that can go down and come back; keeps every delivery."""

    def __init__(self) -> None:
        self.receiver = Receiver().start()
        self.port = int(self.receiver.url.rsplit(":", 1)[1])
        self.running = True
        self.earlier: list[Delivery] = []

    def url_for(self, path: str) -> str:
        """The URL a receiver named ``path`` is configured with."""
        return f"http://127.0.0.1:{self.port}{path}"

    def down(self) -> None:
        """Stop answering: connections are refused until ``up``."""
        self.earlier += self.receiver.deliveries()
        self.receiver.stop()
        self.running = False

    def up(self) -> None:
        """Serve again on the same port."""
        self.receiver = Receiver(port=self.port).start()
        self.running = True

    def deliveries(self) -> list[Delivery]:
        """Every request received so far, in arrival order."""
        current = self.receiver.deliveries() if self.running else []
        return self.earlier + current

    def received(self) -> list[Received]:
        """The accepted (2xx) deliveries as the oracle reads them."""
        out = []
        for seq, d in enumerate(self.deliveries()):
            if d.reply_status is None or not 200 <= d.reply_status < 300:
                continue
            try:
                body = d.json()
            except ValueError:  # not JSON: an unknown event, so spurious
                body = None
            if not isinstance(body, dict):
                body = {}
            hook = identify(d.path.strip("/"), d.header("X-Gitlab-Event") or "", body)
            out.append(Received(hook=hook, key=d.header("Idempotency-Key") or "", seq=seq))
        return out

    def stop(self) -> None:
        """Stop for good."""
        self.receiver.stop()
