"""pytest fixtures for the fake servers: ``pytest_plugins = ["connectors.testing.pytest_plugin"]``.

Each fixture is a factory: ``fake = await fake_zendesk(rate_limit=RateLimit(10, 1.0))``
starts a server; on teardown every server is stopped and the test fails if any request
broke the vendor contract (use ``fake.take_violations()`` in tests that provoke them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest_asyncio

from connectors.testing.fakes import (
    FakeCustomerIO,
    FakeFactory,
    FakeIntercom,
    FakeServer,
    FakeZendesk,
)

F = TypeVar("F", bound=FakeServer)


async def _factory(cls: type[F]) -> AsyncIterator[FakeFactory[F]]:
    started: list[F] = []

    async def make(**kwargs: Any) -> F:
        fake = cls(check_on_exit=False, **kwargs)
        await fake.start()
        started.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in started:
            await fake.stop()
    for fake in started:
        fake.assert_no_violations()  # a teardown error, raised after every server stopped


@pytest_asyncio.fixture
async def fake_zendesk() -> AsyncIterator[FakeFactory[FakeZendesk]]:
    """Factory for started ``FakeZendesk`` servers, checked for violations on teardown."""
    async for make in _factory(FakeZendesk):
        yield make


@pytest_asyncio.fixture
async def fake_intercom() -> AsyncIterator[FakeFactory[FakeIntercom]]:
    """Factory for started ``FakeIntercom`` servers, checked for violations on teardown."""
    async for make in _factory(FakeIntercom):
        yield make


@pytest_asyncio.fixture
async def fake_customerio() -> AsyncIterator[FakeFactory[FakeCustomerIO]]:
    """Factory for started ``FakeCustomerIO`` servers, checked for violations on teardown."""
    async for make in _factory(FakeCustomerIO):
        yield make
