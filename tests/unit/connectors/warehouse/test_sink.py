"""WarehouseSink against the real PostgreSQL server, one throw-away schema per test."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.warehouse.sink import WarehouseSink
from contracts.actions import Action

DSN = "postgresql://postgres@127.0.0.1:5432/test"


def act(n: int, person: str = "ck1", **payload: Any) -> Action:
    body = {
        "transition_id": f"tr-{n}",
        "old_state": "clear",
        "new_state": "open",
        "reason": "ticket_opened",
        "occurred_at": "2024-05-01T12:00:00Z",
        "identities": {"email": "ann@example.com"},
        "attributes": {"has_open_ticket": True},
        **payload,
    }
    return Action.for_transition(
        f"tr-{n}", sink="warehouse", operation="support_state_changed", customer_key=person,
        person=person, payload=body, one_off=True, priority="analytics",
    )


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


def make_sink(schema: str) -> WarehouseSink:
    return WarehouseSink(
        dsn=DSN, schema=schema, bucket=TokenBucket(10_000, 1000),
        store=InMemoryDeliveredStore(), dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0), rng=random.Random(5),
    )


async def rows(schema: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DSN)
    try:
        return list(await conn.fetch(
            f"SELECT * FROM {schema}.support_state_changed ORDER BY transition_id"
        ))
    finally:
        await conn.close()


class TestWarehouse:
    """Rows are upserted idempotently by transition id; bad rows reach the dlq."""

    async def test_idempotent_rows(self, schema: str) -> None:
        sink = make_sink(schema)
        try:
            await sink.deliver([act(1), act(2, person="ck2")])
            again = make_sink(schema)  # a replay with a fresh delivered store
            report = await again.deliver([act(1), act(2, person="ck2"), act(3, person="ck3")])
            await again.close()
        finally:
            await sink.close()
        assert report.delivered == 3
        found = await rows(schema)
        assert [r["transition_id"] for r in found] == ["tr-1", "tr-2", "tr-3"]
        assert found[0]["new_state"] == "open" and found[0]["occurred_at"].year == 2024

    async def test_burst_batched_and_bad_row_dead_lettered(self, schema: str) -> None:
        sink = make_sink(schema)
        actions = [act(i, person=f"ck{i}") for i in range(50)]
        actions.append(act(99, person="bad", occurred_at="not a date"))
        actions.append(act(98, person="huge", occurred_at=10**20))
        try:
            report = await sink.deliver(actions)
        finally:
            await sink.close()
        assert report.delivered == 50 and report.dead_lettered == 2
        assert report.requests == 1
        assert len(await rows(schema)) == 50

    def test_rejects_unsafe_schema_name(self) -> None:
        with pytest.raises(ValueError):
            make_sink("x; DROP TABLE y")
