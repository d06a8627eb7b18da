"""Injected latency and faults, deterministic under a seed (docs/simulator.md)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["status", "reset", "truncate", "bad_json", "slow"]
FAULT_KINDS = ("status", "reset", "truncate", "bad_json", "slow")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """One way to break responses.

    Exactly one trigger: ``fraction`` (probability per matching request), ``nth`` (only the Nth
    matching request) or ``times`` (the next K matching requests). ``match`` is an endpoint
    template (``GET /projects/:id/members``) or a path prefix (``/api/v4/users``); None matches
    every API request.
    """

    kind: FaultKind
    match: str | None = None
    fraction: float | None = None
    nth: int | None = None
    times: int | None = None
    status: int = 500
    delay: float = 0.0  # seconds, for "slow"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        triggers = [t for t in (self.fraction, self.nth, self.times) if t is not None]
        if len(triggers) != 1:
            raise ValueError("a fault needs exactly one of fraction, nth or times")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"fraction {self.fraction} is not in (0, 1]")
        if self.kind == "status" and self.status not in (500, 502, 503, 504):
            raise ValueError(f"status {self.status} is not one of 500, 502, 503, 504")

    def matches(self, template: str, path: str) -> bool:
        """Whether a request falls under this rule."""
        return self.match is None or self.match == template or path.startswith(self.match)


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Added response time: fixed plus uniform jitter, in milliseconds."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0


@dataclass
class FaultInjector:
    """Chooses latency and at most one fault per request; thread-safe, seeded."""

    seed: int = 0
    latency: Latency = field(default_factory=Latency)
    endpoint_latency: dict[str, Latency] = field(default_factory=dict)
    rules: list[FaultRule] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add(self, rule: FaultRule) -> None:
        """Install a fault rule."""
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        """Remove every fault rule and all latency."""
        with self._lock:
            self.rules.clear()
            self._seen.clear()
            self.latency = Latency()
            self.endpoint_latency.clear()

    def delay_for(self, template: str) -> float:
        """Seconds to wait before answering."""
        lat = self.endpoint_latency.get(template, self.latency)
        if not lat.fixed_ms and not lat.jitter_ms:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0, lat.jitter_ms) if lat.jitter_ms else 0.0
        return (lat.fixed_ms + jitter) / 1000

    def pick(self, template: str, path: str) -> FaultRule | None:
        """The fault to apply to this request, if any (first matching rule that fires)."""
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(template, path):
                    continue
                seen = self._seen[index] = self._seen.get(index, 0) + 1
                if rule.fraction is not None and self._rng.random() < rule.fraction:
                    return rule
                if rule.nth is not None and seen == rule.nth:
                    return rule
                if rule.times is not None and seen <= rule.times:
                    return rule
            return None
