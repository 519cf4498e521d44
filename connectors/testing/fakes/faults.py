"""Fault injection and rate limiting shared by every fake server."""

from __future__ import annotations

import random as _random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FaultKind = int | Literal["reset", "slow"]


@dataclass
class Fault:
    """One planned misbehaviour: an HTTP status, a connection reset, or a delay."""

    status: int | None = None  # answered instead of the real response
    reset: bool = False  # close the connection without answering
    delay: float = 0.0  # sleep before answering (alone: a slow but correct response)
    retry_after: float | None = None
    times: int | None = 1  # None: forever
    path: str | None = None  # regex searched in the request path; None matches all
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class _RandomMode:
    rate: float
    kinds: tuple[FaultKind, ...]
    rng: _random.Random
    delay: float
    retry_after: float


class Faults:
    """Planned (``add``) and probabilistic (``random``) faults, consumed per request."""

    def __init__(self) -> None:
        self._planned: list[Fault] = []
        self._random: _RandomMode | None = None
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str, Fault]] = []  # (method, path, fault) as applied

    def add(
        self,
        status: int | None = None,
        *,
        kind: Literal["reset", "slow"] | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        times: int | None = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """Plan a fault for the next ``times`` matching requests (FIFO across faults)."""
        if status is None and kind is None:
            raise ValueError("give a status or a kind ('reset' or 'slow')")
        if kind == "slow" and delay <= 0:
            delay = 1.0
        fault = Fault(status, kind == "reset", delay, retry_after, times, path, method)
        with self._lock:
            self._planned.append(fault)
        return fault

    def random(
        self,
        rate: float,
        kinds: Sequence[FaultKind] = (429, 500, 502, 503, "reset", "slow"),
        *,
        seed: int | None = None,
        delay: float = 0.5,
        retry_after: float = 1.0,
    ) -> None:
        """Inject a fault into each request with probability ``rate`` (reproducible by seed)."""
        if not 0.0 <= rate <= 1.0 or not kinds:
            raise ValueError("rate must be within [0, 1] and kinds non-empty")
        self._random = _RandomMode(rate, tuple(kinds), _random.Random(seed), delay, retry_after)

    def clear(self) -> None:
        """Forget every planned fault and stop random mode."""
        with self._lock:
            self._planned.clear()
            self._random = None

    def next_for(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any (consumes one use)."""
        with self._lock:
            for fault in self._planned:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._planned.remove(fault)
                    chosen: Fault | None = fault
                    break
            else:
                chosen = self._draw_random()
            if chosen is not None:
                self.injected.append((method, path, chosen))
            return chosen

    def _draw_random(self) -> Fault | None:
        mode = self._random
        if mode is None or mode.rng.random() >= mode.rate:
            return None
        kind = mode.rng.choice(mode.kinds)
        if kind == "reset":
            return Fault(reset=True)
        if kind == "slow":
            return Fault(delay=mode.delay)
        retry = mode.retry_after if kind == 429 else None
        return Fault(status=int(kind), retry_after=retry)


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one rate-limit check."""

    allowed: bool
    limit: int
    remaining: int
    reset_in: float  # seconds until the current window ends


class RateLimit:
    """Fixed-window limit of ``limit`` requests per ``window`` seconds, as the vendors use."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        self._window_start = time.monotonic()
        self._count = 0
        self._lock = threading.Lock()

    def check(self, now: float | None = None) -> RateDecision:
        """Count one request and say whether it fits in the current window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._window_start >= self.window:
                self._window_start, self._count = now, 0
            reset_in = max(0.0, self._window_start + self.window - now)
            if self._count >= self.limit:
                return RateDecision(False, self.limit, 0, reset_in)
            self._count += 1
            return RateDecision(True, self.limit, self.limit - self._count, reset_in)
