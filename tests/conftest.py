"""Shared fixtures. The broker is a real Kafka-protocol server (embedded Tansu), started once
per test session on a free loopback port and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.runtime.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A Tansu broker for the whole session; tests isolate themselves by topic prefix."""
    with EmbeddedBroker() as running:
        yield running
