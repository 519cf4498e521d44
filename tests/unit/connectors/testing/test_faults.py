"""Fault injection, rate limiting and request-rate bookkeeping of the fakes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from connectors.testing.fakes import (
    FakeCustomerIO,
    FakeFactory,
    FakeIntercom,
    FakeZendesk,
    Faults,
    RateLimit,
    max_in_window,
)
from tests.unit.connectors.testing.helpers import CIO_AUTH, IC_AUTH, ZD_AUTH, send

PERSON = "/api/v1/customers/42"


class TestFaultInjection:
    """Planned and random faults: 429 with Retry-After, resets, slow answers."""

    async def test_429_with_retry_after_then_success(self) -> None:
        async with FakeCustomerIO() as fake:
            fake.faults.add(status=429, retry_after=1.5, times=2)
            url = fake.track_url + PERSON
            statuses = []
            for _ in range(3):
                status, headers, _ = await send("PUT", url, headers=CIO_AUTH, json={"a": 1})
                statuses.append((status, headers.get("Retry-After")))
            assert statuses == [(429, "1.5"), (429, "1.5"), (200, None)]
            assert fake.people["42"].attributes == {"a": 1}

    async def test_reset_drops_connection(self) -> None:
        async with FakeCustomerIO() as fake:
            fake.faults.add(kind="reset")
            with pytest.raises(aiohttp.ClientError):
                await send("POST", fake.track_url + PERSON + "/suppress", headers=CIO_AUTH)
            assert fake.requests[0].status is None and "42" not in fake.people

    async def test_slow_response_is_delayed(self) -> None:
        async with FakeCustomerIO() as fake:
            fake.faults.add(kind="slow", delay=0.3, path="/events$")
            started = time.monotonic()
            await send("PUT", fake.track_url + PERSON, headers=CIO_AUTH, json={"a": 1})
            assert time.monotonic() - started < 0.3
            started = time.monotonic()
            status, _, _ = await send(
                "POST", fake.track_url + PERSON + "/events", headers=CIO_AUTH, json={"name": "x"}
            )
            assert status == 200 and time.monotonic() - started >= 0.3

    async def test_stop_is_bounded_with_slow_request_in_flight(self) -> None:
        fake = FakeCustomerIO(stop_timeout=0.5)
        await fake.start()
        fake.faults.add(kind="slow", delay=30.0)
        pending = asyncio.create_task(
            send("PUT", fake.track_url + PERSON, headers=CIO_AUTH, json={"a": 1})
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await fake.stop()
        assert time.monotonic() - started < 2.0
        with pytest.raises(aiohttp.ClientError):
            await pending

    def test_random_mode_is_reproducible(self) -> None:
        def draw(seed: int) -> list[object]:
            faults = Faults()
            faults.random(rate=0.5, kinds=[429, 503, "reset", "slow"], seed=seed)
            out: list[object] = []
            for _ in range(50):
                fault = faults.next_for("GET", "/x")
                out.append(None if fault is None else (fault.status, fault.reset, fault.delay))
            return out

        first = draw(7)
        assert first == draw(7) and 10 < sum(f is not None for f in first) < 40

    async def test_invalid_request_is_a_violation_even_when_fault_planned(self) -> None:
        async with FakeCustomerIO() as fake:
            fake.faults.add(status=503)
            status, _, _ = await send("PUT", fake.track_url + PERSON, json={"a": 1})
            assert status == 401 and len(fake.take_violations()) == 1


class TestRateLimits:
    """The fakes enforce a configured limit and describe it in vendor headers."""

    async def test_customerio_limit_answers_429(self) -> None:
        async with FakeCustomerIO(rate_limit=RateLimit(3, window=10.0)) as fake:
            statuses = [
                (await send("PUT", fake.track_url + PERSON, headers=CIO_AUTH, json={"a": i}))[0]
                for i in range(5)
            ]
            assert statuses == [200, 200, 200, 429, 429]
            assert fake.max_rate(window=1.0) == 5

    async def test_zendesk_headers(self, fake_zendesk: FakeFactory[FakeZendesk]) -> None:
        fake = await fake_zendesk(rate_limit=RateLimit(2, window=60.0))
        url = f"{fake.base_url}/api/v2/user_fields"
        results = [await send("GET", url, headers=ZD_AUTH) for _ in range(3)]
        assert [r[1]["X-Rate-Limit-Remaining"] for r in results[:2]] == ["1", "0"]
        assert results[2][0] == 429 and int(results[2][1]["Retry-After"]) >= 59

    async def test_intercom_reset_header(self, fake_intercom: FakeFactory[FakeIntercom]) -> None:
        fake = await fake_intercom(rate_limit=RateLimit(1, window=10.0))
        body = {"event_name": "x", "created_at": 1, "user_id": "u"}
        await send("POST", f"{fake.base_url}/events", headers=IC_AUTH, json=body)
        status, headers, _ = await send(
            "POST", f"{fake.base_url}/events", headers=IC_AUTH, json=body
        )
        assert status == 429 and int(headers["X-RateLimit-Reset"]) >= int(time.time())

    def test_max_in_window(self) -> None:
        assert max_in_window([0.0, 0.1, 0.5, 1.05, 1.2, 1.3], 1.0) == 4
        assert max_in_window([], 1.0) == 0


pytest_plugins = ["connectors.testing.pytest_plugin"]
