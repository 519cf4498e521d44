"""Time sources for the delivery machinery, injectable so tests never sleep for real.

`Clock.monotonic()` measures intervals (rate limits, deadlines); `Clock.time()` is wall
time (epoch seconds), needed only to interpret platform headers such as Intercom's
`X-RateLimit-Reset` (an epoch) and to timestamp dead letters and latencies.

`VirtualClock` is a small discrete-event clock: `sleep()` parks the caller; a driver task
lets every runnable task settle, then jumps time to the earliest wake-up. Concurrent
sleepers therefore share virtual time exactly as they would share real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class VirtualClock:
    """Deterministic clock for tests; time advances only through `sleep`/`advance`."""

    # How many loop iterations the driver yields before deciding everybody is blocked;
    # enough for chains of awaits on in-memory fakes.
    SETTLE_ROUNDS = 50

    def __init__(self, start: float = 0.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self.slept = 0.0  # total virtual seconds requested, handy in assertions

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall_offset + self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without waking anybody (they wake at the next settle)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.get_running_loop().create_task(self._drive())
        await fut

    async def _drive(self) -> None:
        while self._sleepers:
            for _ in range(self.SETTLE_ROUNDS):
                await asyncio.sleep(0)
            if not self._sleepers:
                break
            when = self._sleepers[0][0]
            self._now = max(self._now, when)
            # Wake everybody due at this instant together, in arrival order.
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
