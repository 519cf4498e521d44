from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.delivery.clock import VirtualClock
from connectors.delivery.ratelimit import TokenBucket, parse_retry_after


async def _grant_times(bucket: TokenBucket, clock: VirtualClock, n: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await bucket.acquire("enrichment")
        times.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(n)))
    return sorted(times)


class TestTokenBucketRate:
    """The admitted rate never exceeds burst + rate * T over any window."""

    @settings(max_examples=25, deadline=None)
    @given(
        rate=st.floats(0.5, 50),
        burst=st.integers(1, 20),
        n=st.integers(1, 80),
    )
    async def test_never_exceeds_rate_over_any_window(
        self, rate: float, burst: int, n: int
    ) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(rate, burst, clock=clock)
        times = await _grant_times(bucket, clock, n)
        assert len(times) == n
        for i in range(len(times)):
            for j in range(i, len(times)):
                window = times[j] - times[i]
                assert j - i + 1 <= burst + rate * window + 1e-6

    async def test_burst_then_steady(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(10, 5, clock=clock)
        times = await _grant_times(bucket, clock, 15)
        assert times[:5] == [0.0] * 5
        assert times[-1] == pytest.approx(1.0)

    async def test_wait_hook_records_waiting(self) -> None:
        clock = VirtualClock()
        waits: list[tuple[float, str]] = []
        bucket = TokenBucket(1, 1, clock=clock, on_wait=lambda s, p: waits.append((s, p)))
        assert await bucket.acquire("analytics") == 0.0
        assert await bucket.acquire("analytics") == pytest.approx(1.0)
        assert len(waits) == 1 and waits[0][1] == "analytics"
        assert waits[0][0] == pytest.approx(1.0)

    def test_invalid(self) -> None:
        with pytest.raises(ValueError):
            TokenBucket(0, 1)


class TestPriority:
    """When tokens are scarce, suppression is served before enrichment and analytics."""

    async def test_priority_order(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(1, 1, clock=clock)
        await bucket.acquire("enrichment")  # drain the only token
        order: list[str] = []

        async def take(priority: str, tag: str) -> None:
            await bucket.acquire(priority)
            order.append(tag)

        await asyncio.gather(
            take("analytics", "a1"),
            take("enrichment", "e1"),
            take("analytics", "a2"),
            take("suppression", "s1"),
            take("enrichment", "e2"),
            take("suppression", "s2"),
        )
        assert order == ["s1", "s2", "e1", "e2", "a1", "a2"]

    async def test_late_suppression_overtakes_queue(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(1, 1, clock=clock)
        await bucket.acquire()
        order: list[str] = []

        async def take(priority: str, tag: str, delay: float = 0.0) -> None:
            await clock.sleep(delay)
            await bucket.acquire(priority)
            order.append(tag)

        await asyncio.gather(
            *(take("analytics", f"a{i}") for i in range(4)), take("suppression", "s", 1.5)
        )
        assert order.index("s") <= 2  # served at the next token after it queued


class TestAdapt:
    """429 + Retry-After and remaining-quota headers pause the bucket until the reset."""

    async def test_429_retry_after_seconds(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(100, 10, clock=clock)
        assert bucket.adapt({"Retry-After": "3"}, 429) == 3.0
        assert bucket.paused_for() == 3.0
        await bucket.acquire("suppression")
        assert clock.monotonic() == pytest.approx(3.0)

    async def test_429_without_hint_uses_default(self) -> None:
        bucket = TokenBucket(100, 10, clock=VirtualClock(), default_pause=1.5)
        assert bucket.adapt({}, 429) == 1.5

    async def test_zendesk_remaining_zero(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(100, 10, clock=clock, default_pause=2.0)
        assert bucket.adapt({"X-Rate-Limit-Remaining": "0"}, 200) == 2.0
        assert bucket.adapt({"X-Rate-Limit-Remaining": "0", "ratelimit-reset": "7"}, 200) == 7.0

    async def test_remaining_clamps_tokens(self) -> None:
        bucket = TokenBucket(100, 10, clock=VirtualClock())
        bucket.adapt({"x-rate-limit-remaining": "2"}, 200)
        assert bucket.tokens == 2.0
        assert bucket.paused_for() == 0

    async def test_intercom_epoch_reset(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(100, 10, clock=clock)
        reset = int(clock.time()) + 8
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        assert bucket.adapt(headers, 200) == pytest.approx(8.0)
        await bucket.acquire()
        assert clock.monotonic() == pytest.approx(8.0)

    async def test_pause_never_shortened(self) -> None:
        bucket = TokenBucket(100, 10, clock=VirtualClock())
        bucket.adapt({"Retry-After": "10"}, 429)
        bucket.adapt({"Retry-After": "1"}, 429)
        assert bucket.paused_for() == 10.0

    async def test_paused_bucket_keeps_priority(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(1, 1, clock=clock)
        bucket.adapt({"Retry-After": "5"}, 429)
        order: list[str] = []

        async def take(priority: str) -> None:
            await bucket.acquire(priority)
            order.append(priority)

        await asyncio.gather(take("analytics"), take("suppression"))
        assert order == ["suppression", "analytics"]
        assert clock.monotonic() >= 5


class TestParseRetryAfter:
    """Retry-After is delta-seconds or an HTTP date."""

    def test_seconds(self) -> None:
        assert parse_retry_after("120", 0) == 120.0
        assert parse_retry_after(" 1.5 ", 0) == 1.5

    def test_http_date(self) -> None:
        now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()
        value = format_datetime(datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
        assert parse_retry_after(value, now) == pytest.approx(30.0)

    def test_past_and_garbage(self) -> None:
        assert parse_retry_after("-5", 0) == 0.0
        assert parse_retry_after("soon", 0) is None
        assert parse_retry_after(None, 0) is None


class TestShare:
    """Workers that split an account's budget by share stay within it together."""

    async def test_two_halves_admit_no_more_than_the_whole(self) -> None:
        clock = VirtualClock()
        rate, burst = 95.0, 5.0  # app.sinks.window_bucket for 100 requests/s
        halves = [TokenBucket(rate, burst, clock=clock) for _ in range(2)]
        for bucket in halves:
            bucket.share(0.5)
        times = sorted(
            t for ts in await asyncio.gather(*(_grant_times(b, clock, 200) for b in halves))
            for t in ts
        )
        for i in range(len(times)):
            j = i
            while j + 1 < len(times) and times[j + 1] - times[i] < 1.0:
                j += 1
            assert j - i + 1 <= rate + burst  # any 1 s window: at most the account's 100

    async def test_share_follows_reassignment(self) -> None:
        bucket = TokenBucket(100.0, 10.0, clock=VirtualClock())
        bucket.share(0.25)
        assert (bucket.rate, bucket.burst) == (25.0, 2.5)
        bucket.share(1.0)
        assert (bucket.rate, bucket.burst) == (100.0, 10.0)
        bucket.share(0.0)  # owns nothing: a trickle, never an error
        assert 0 < bucket.rate < 0.01 and bucket.burst == 1.0

    async def test_burst_rounded_up_is_paid_by_the_rate(self) -> None:
        clock = VirtualClock()
        # 20 requests/s as app.sinks.window_bucket makes it: burst 1, rate 19.
        quarters = [TokenBucket(19.0, 1.0, clock=clock, window=1.0) for _ in range(4)]
        for bucket in quarters:
            bucket.share(0.25)
        assert quarters[0].burst == 1.0 and quarters[0].burst + quarters[0].rate <= 5.0
        times = sorted(
            t for ts in await asyncio.gather(*(_grant_times(b, clock, 30) for b in quarters))
            for t in ts
        )
        for i in range(len(times)):
            j = i
            while j + 1 < len(times) and times[j + 1] - times[i] < 1.0:
                j += 1
            assert j - i + 1 <= 20
