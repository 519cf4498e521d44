"""Rate-limit tokens for the extra requests one `send()` makes (SPEC S6 rate limits).

`Sink.deliver` takes one token from the account's bucket before each attempt. A connector
whose operation needs more than one HTTP request (look a contact up, then update it; submit
a batch job, then poll it) passes a `RequestBudget` to its client: the first request uses
the prepaid token, every further one takes its own from the same bucket at the action's
priority, so the platform never sees more than the configured rate.
"""

from __future__ import annotations

from connectors.delivery.ratelimit import TokenBucket


class RequestBudget:
    def __init__(
        self, bucket: TokenBucket | None, priority: str = "enrichment", *, prepaid: int = 1
    ) -> None:
        self._bucket = bucket
        self._priority = priority
        self._prepaid = prepaid
        self.spent = 0  # requests made under this budget

    async def take(self) -> None:
        """Wait for the token of the next request."""
        self.spent += 1
        if self._prepaid > 0:
            self._prepaid -= 1
            return
        if self._bucket is not None:
            await self._bucket.acquire(self._priority)

    @classmethod
    def unlimited(cls) -> RequestBudget:
        """A budget that never waits (tests, tools)."""
        return cls(None, prepaid=0)
