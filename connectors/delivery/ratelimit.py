"""Per-account token bucket with priorities and header adaptation (SPEC S6).

One bucket per platform account, shared by every sink task that talks to that account:
`rate` tokens per second, at most `burst` stored. Over any window of length T at most
`burst + rate * T` requests are admitted. Workers of one group share the account:
`share(fraction)` scales rate and burst to this worker's part (the runtime sets it to the
fraction of the sink's out-topic partitions the worker owns, on every assignment).

When tokens are scarce, queued callers are served strictly by priority
(suppression > enrichment > analytics) and FIFO within one priority: a customer who just
opened a ticket must stop receiving promotions before analytics catches up.

`adapt()` folds what the platform tells us into the bucket: a 429 with `Retry-After`, or a
remaining-quota header at zero (Zendesk `X-Rate-Limit-Remaining`, Intercom
`X-RateLimit-Remaining` + `X-RateLimit-Reset`), pauses the bucket until the reset. The
server's count wins over ours because other workers share the same account quota.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from connectors.delivery.clock import SYSTEM_CLOCK, Clock
from contracts.actions import PRIORITY_RANK

log = logging.getLogger(__name__)

# Float slack when comparing token counts: without it, refilling by a sleep of
# (1 - tokens) / rate can land a hair under 1.0 and the grantor would spin on
# sleeps too small to move the clock.
_EPSILON = 1e-9

# Header values above this are epoch timestamps, below it durations in seconds.
_EPOCH_THRESHOLD = 1_000_000_000.0


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 7231 dates are GMT
        return None
    return max(0.0, when.timestamp() - now_wall)


def _float_header(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw.strip())
        except ValueError:
            continue
    return None


WaitHook = Callable[[float, str], None]  # (seconds waited, priority)


class TokenBucket:
    """Async token bucket; `acquire(priority)` waits until a token is granted."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_wait: WaitHook | None = None,
        default_pause: float = 1.0,
        name: str = "",
        window: float = 1.0,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.base_rate = rate  # the account's budget; `share()` gives this worker a part
        self.base_burst = burst
        self.window = window  # the platform's limit window: burst + rate * window requests
        self.name = name
        self._clock = clock
        self._on_wait = on_wait
        self._default_pause = default_pause  # 429 without any hint of how long
        self._tokens = float(burst)
        self._updated = clock.monotonic()
        self._paused_until = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    # -- state -------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self._clock.monotonic()
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def paused_for(self) -> float:
        """Seconds until the platform lets us send again (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock.monotonic())

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    # -- acquiring ---------------------------------------------------------------------

    async def acquire(self, priority: str = "enrichment") -> float:
        """Take one token; returns the seconds spent waiting (also sent to `on_wait`)."""
        rank = PRIORITY_RANK[priority]
        started = self._clock.monotonic()
        self._refill()
        # Fast path only when nobody queues: otherwise we would overtake earlier callers.
        if not self._waiters and self.paused_for() == 0 and self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rank, next(self._seq), fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())
        await fut
        waited = self._clock.monotonic() - started
        if self._on_wait is not None:
            self._on_wait(waited, priority)
        return waited

    async def _run_pump(self) -> None:
        # Single grantor: only it hands out tokens to queued callers, so priority order is
        # decided in one place at the moment a token becomes available.
        while self._waiters:
            if self._waiters[0][2].done():  # cancelled caller
                heapq.heappop(self._waiters)
                continue
            pause = self.paused_for()
            if pause > 0:
                await self._clock.sleep(pause)
                continue
            self._refill()
            if self._tokens >= 1 - _EPSILON:
                _, _, fut = heapq.heappop(self._waiters)
                self._tokens = max(0.0, self._tokens - 1)
                fut.set_result(None)
                continue
            await self._clock.sleep((1 - self._tokens) / self.rate)

    # -- sharing the account ------------------------------------------------------------

    def share(self, fraction: float) -> None:
        """Spend `fraction` (0..1) of the account's budget: rate and burst scale with it, so
        workers whose fractions sum to at most 1 never exceed the budget together. A share of
        0 (the worker owns nothing to deliver) keeps a trickle so a stray caller still ends."""
        fraction = min(1.0, max(0.0, fraction))
        self._refill()
        budget = fraction * (self.base_burst + self.base_rate * self.window)  # per window
        self.burst = max(1.0, self.base_burst * fraction)
        # A burst rounded up to one token is paid for by the rate, within the window.
        self.rate = max((budget - self.burst) / self.window, 1e-3)
        self._tokens = min(self._tokens, self.burst)

    # -- adapting to the platform ------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (extends, never shortens, an existing pause)."""
        if seconds <= 0:
            return
        self._refill()
        self._tokens = 0.0
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def adapt(self, headers: Mapping[str, str], status: int) -> float:
        """Fold a response's rate-limit signals in; returns the pause applied (0 if none)."""
        lower = {k.lower(): v for k, v in headers.items()}
        now_wall = self._clock.time()
        reset = self._reset_in(lower, now_wall)
        remaining = _float_header(
            lower, "x-rate-limit-remaining", "x-ratelimit-remaining", "ratelimit-remaining"
        )
        if remaining is not None:
            self._refill()
            # Another worker may have used the shared quota: trust the smaller count.
            self._tokens = min(self._tokens, max(0.0, remaining))
        pause = 0.0
        if status == 429:
            retry_after = parse_retry_after(lower.get("retry-after"), now_wall)
            pause = next((p for p in (retry_after, reset) if p is not None), self._default_pause)
        elif remaining is not None and remaining <= 0:
            pause = reset if reset is not None else self._default_pause
        if pause > 0:
            self.pause(pause)
            log.info("rate limit on %s: pausing %.2fs (status %s)", self.name, pause, status)
        return pause

    @staticmethod
    def _reset_in(lower: Mapping[str, str], now_wall: float) -> float | None:
        value = _float_header(lower, "x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
        if value is None:
            return None
        # Intercom sends an epoch; the IETF draft / Zendesk send seconds until reset.
        if value > _EPOCH_THRESHOLD:
            value -= now_wall
        return max(0.0, value)
