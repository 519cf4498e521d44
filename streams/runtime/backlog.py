"""Is this worker's pipeline behind? The ingress batches harder while it is.

The apply agent reports the webhook receipt time of the events it applies; their age is
the pipeline's delay. The signal is on from the moment the delay exceeds `on_s` until it
has stayed under it for `hold_s`: the harder batching it causes is what lets the pipeline
catch up, and dropping it at the first good figure would flood the agents with small
records again. Nothing applied for `hold_s` (idle, rebalancing) also turns it off.

A signal, not a throttle: the ingress accepts every webhook as before. While the signal
is on it writes fewer, larger raw records (`RawBatcher`'s record interval), and the record
count is what the agents pay for; otherwise webhooks are answered as soon as they are
written.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class PipelineBacklog:
    def __init__(
        self,
        *,
        on_s: float = 0.25,
        hold_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.on_s = on_s
        self.hold_s = hold_s
        self._clock = clock
        self._behind_at = float("-inf")  # when the delay was last over `on_s`

    def observe(self, received_at: float) -> None:
        """The apply agent applied events the ingress received at `received_at` (epoch s)."""
        now = self._clock()
        if now - received_at > self.on_s:
            self._behind_at = now

    def behind(self) -> bool:
        return self._clock() - self._behind_at < self.hold_s
