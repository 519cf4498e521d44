"""Ingress pacing: webhooks wait while this worker's pipeline is behind.

The webhook server and the agents share one event loop. Accepting webhooks faster than the
agents apply them only moves the queue into Kafka, where every queued event is a customer
still getting promotions, while the requests take the loop time the agents need to catch
up. So the apply agent reports how old the events it applies are (webhook receipt → apply),
and while that delay is over `limit_s` a new request waits — up to `max_wait_s`, then it is
accepted anyway: senders see slower answers, never a refusal, and nothing is dropped.

An old figure means nothing: with no event applied for `stale_s` the delay counts as zero,
so an idle or rebalancing pipeline never holds requests back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from streams.runtime import metrics


class PipelineDelay:
    def __init__(
        self,
        *,
        limit_s: float = 0.5,
        max_wait_s: float = 1.0,
        stale_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit_s = limit_s
        self.max_wait_s = max_wait_s
        self.stale_s = stale_s
        self._clock = clock
        self._caught_up = asyncio.Event()
        self._delay = 0.0
        self._seen_at = float("-inf")
        self.held = 0  # requests that waited, for the metrics

    def observe(self, received_at: float) -> None:
        """The apply agent applied events received (by the ingress) at `received_at`."""
        now = self._clock()
        self._delay = max(0.0, now - received_at)
        self._seen_at = now
        if self._delay <= self.limit_s:
            self._caught_up.set()

    def delay(self) -> float:
        if self._clock() - self._seen_at > self.stale_s:
            return 0.0
        return self._delay

    async def hold(self) -> None:
        """Return once the pipeline is within its limit, or after `max_wait_s`."""
        if self.limit_s <= 0 or self.delay() <= self.limit_s:
            return
        self.held += 1
        metrics.INGRESS_PACED.inc()
        self._caught_up.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), self.max_wait_s)
