"""Retries with exponential backoff and jitter, bounded in time (SPEC S6).

Only errors whose class says `retriable` are retried (429, 5xx, transport failures); a
`retry_after` hint from the platform is honoured as a floor on the wait. When the next
wait would cross the deadline we stop at once and raise `DeadlineExceeded` carrying the
last error, so the action reaches the dlq with its full context instead of waiting for
nothing. A `retry_after` longer than `max_retry_after` becomes `SinkBackpressureError`:
holding one batch for minutes is worse than pausing the consumer.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from connectors.delivery.clock import SYSTEM_CLOCK, Clock
from connectors.delivery.errors import DeadlineExceeded, DeliveryError, SinkBackpressureError

T = TypeVar("T")

Jitter = Literal["full", "equal", "none"]
RetryHook = Callable[[int, DeliveryError, float], None]  # (attempt just failed, error, delay)


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.2
    factor: float = 2.0
    max_backoff: float = 30.0
    deadline: float = 300.0  # total seconds from the first attempt
    jitter: Jitter = "full"
    max_retry_after: float | None = None  # above this, a Retry-After means backpressure

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.max_backoff < self.base:
            raise ValueError("need base > 0, factor >= 1, max_backoff >= base")
        if self.deadline <= 0:
            raise ValueError("deadline must be > 0")

    def cap(self, attempt: int) -> float:
        """Un-jittered backoff after failed attempt number `attempt` (1-based)."""
        # Exponent clamped so huge attempt counts cannot overflow the float.
        return min(self.max_backoff, self.base * self.factor ** min(attempt - 1, 64))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        cap = self.cap(attempt)
        if self.jitter == "full":  # AWS "full jitter": spreads a thundering herd best
            return rng.uniform(0.0, cap)
        if self.jitter == "equal":
            return cap / 2 + rng.uniform(0.0, cap / 2)
        return cap


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_retry: RetryHook | None = None,
    rng: random.Random | None = None,
) -> T:
    """Call `fn` until it succeeds, a non-retriable error occurs, or the deadline is hit."""
    rng = rng or random.Random()
    started = clock.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except DeliveryError as error:
            if not error.retriable:
                raise
            last = error
        delay = policy.backoff(attempt, rng)
        if last.retry_after is not None:
            if policy.max_retry_after is not None and last.retry_after > policy.max_retry_after:
                raise SinkBackpressureError(last.retry_after) from last
            delay = max(delay, last.retry_after)
        elapsed = clock.monotonic() - started
        if elapsed + delay > policy.deadline:
            raise DeadlineExceeded(last, attempt, elapsed) from last
        if on_retry is not None:
            on_retry(attempt, last, delay)
        await clock.sleep(delay)
