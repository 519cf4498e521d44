from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.delivery.clock import VirtualClock
from connectors.delivery.errors import (
    ClientError,
    DeadlineExceeded,
    DeliveryError,
    RateLimited,
    ServerError,
    SinkBackpressureError,
    TransportError,
)
from connectors.delivery.retry import RetryPolicy, call_with_retry


class Flaky:
    """Raises the queued errors in turn, then returns 'ok'."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class TestBackoff:
    """Backoff grows exponentially, is capped, and jitter stays inside the cap."""

    def test_cap_grows_and_saturates(self) -> None:
        policy = RetryPolicy(base=0.2, factor=2, max_backoff=30)
        caps = [policy.cap(n) for n in range(1, 12)]
        assert caps[:4] == pytest.approx([0.2, 0.4, 0.8, 1.6])
        assert caps[-1] == 30
        assert policy.cap(10_000) == 30

    @given(attempt=st.integers(1, 200), seed=st.integers(0, 2**32))
    def test_full_jitter_bounds(self, attempt: int, seed: int) -> None:
        policy = RetryPolicy()
        delay = policy.backoff(attempt, random.Random(seed))
        assert 0 <= delay <= policy.cap(attempt) <= policy.max_backoff

    @given(attempt=st.integers(1, 50), seed=st.integers(0, 2**32))
    def test_equal_jitter_bounds(self, attempt: int, seed: int) -> None:
        policy = RetryPolicy(jitter="equal")
        delay = policy.backoff(attempt, random.Random(seed))
        assert policy.cap(attempt) / 2 <= delay <= policy.cap(attempt)

    def test_seeded_rng_is_deterministic(self) -> None:
        policy = RetryPolicy()
        a = [policy.backoff(n, random.Random(7)) for n in range(1, 6)]
        b = [policy.backoff(n, random.Random(7)) for n in range(1, 6)]
        assert a == b

    def test_invalid_policy(self) -> None:
        with pytest.raises(ValueError):
            RetryPolicy(base=0)
        with pytest.raises(ValueError):
            RetryPolicy(deadline=0)


class TestCallWithRetry:
    """Only retriable classes are retried, bounded by the deadline."""

    async def test_retries_retriable_then_succeeds(self) -> None:
        clock = VirtualClock()
        fn = Flaky(ServerError(500), TransportError("reset"), RateLimited(None))
        seen: list[tuple[int, str]] = []
        result = await call_with_retry(
            fn,
            RetryPolicy(jitter="none"),
            clock=clock,
            on_retry=lambda n, e, d: seen.append((n, type(e).__name__)),
        )
        assert result == "ok" and fn.calls == 4
        assert seen == [(1, "ServerError"), (2, "TransportError"), (3, "RateLimited")]
        assert clock.monotonic() == pytest.approx(0.2 + 0.4 + 0.8)

    async def test_client_error_not_retried(self) -> None:
        fn = Flaky(ClientError(422, b"bad"))
        with pytest.raises(ClientError):
            await call_with_retry(fn, RetryPolicy(), clock=VirtualClock())
        assert fn.calls == 1

    async def test_honours_retry_after(self) -> None:
        clock = VirtualClock()
        fn = Flaky(RateLimited(7.0))
        await call_with_retry(fn, RetryPolicy(), clock=clock, rng=random.Random(1))
        assert clock.monotonic() == pytest.approx(7.0)

    async def test_deadline_raises_with_last_error(self) -> None:
        clock = VirtualClock()
        errors = [ServerError(500 + i % 3) for i in range(1000)]
        fn = Flaky(*errors)
        policy = RetryPolicy(base=1, max_backoff=8, deadline=60, jitter="none")
        with pytest.raises(DeadlineExceeded) as info:
            await call_with_retry(fn, policy, clock=clock)
        assert clock.monotonic() <= 60
        assert isinstance(info.value.last_error, ServerError)
        assert info.value.attempts == fn.calls
        assert info.value.__cause__ is info.value.last_error

    @given(seed=st.integers(0, 2**32), deadline=st.floats(0.5, 500))
    async def test_never_sleeps_past_deadline(self, seed: int, deadline: float) -> None:
        clock = VirtualClock()
        fn = Flaky(*[TransportError("x") for _ in range(10_000)])
        with pytest.raises(DeadlineExceeded):
            await call_with_retry(
                fn, RetryPolicy(deadline=deadline), clock=clock, rng=random.Random(seed)
            )
        assert clock.monotonic() <= deadline

    async def test_long_retry_after_becomes_backpressure(self) -> None:
        fn = Flaky(RateLimited(120.0))
        with pytest.raises(SinkBackpressureError) as info:
            await call_with_retry(fn, RetryPolicy(max_retry_after=5), clock=VirtualClock())
        assert info.value.retry_after == 120.0

    async def test_non_delivery_errors_propagate(self) -> None:
        async def broken() -> None:
            raise KeyError("bug")

        with pytest.raises(KeyError):
            await call_with_retry(broken, RetryPolicy(), clock=VirtualClock())
