"""The `last-sent` table: per customer and sink, what that sink last delivered or
dead-lettered (SPEC S8: `supportsync state show` says "what was last sent where").

    key    "<customer_key>|<sink>"
    value  {"operation", "action_id", "recipe" (when routing stamped one), "at" (ISO 8601,
            when the sink confirmed or gave up), "outcome": "delivered" | "dead_lettered"}

An attribute update that would change nothing on the platform counts as delivered (nothing
needed sending). Each sink's dispatcher writes through its own `BatchedTable` and checkpoints
each entry to the out-topic partition its customer's records came from: routing produces a
customer's actions on the partition number of its state, so the entries live, and move on a
rebalance, with the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from connectors.delivery.sink import Outcome
from streams.runtime.tablewriter import BatchedTable
from streams.writeorder import WriteOrder


def entry_key(customer_key: str, sink: str) -> str:
    return f"{customer_key}|{sink}"


def entry(outcome: Outcome) -> dict[str, Any]:
    """The stored document of one outcome."""
    action = outcome.action
    doc: dict[str, Any] = {"operation": action.operation, "action_id": action.action_id}
    recipe = action.payload.get("recipe")
    if isinstance(recipe, str):
        doc["recipe"] = recipe
    doc["at"] = datetime.fromtimestamp(outcome.at, UTC).isoformat()
    doc["outcome"] = outcome.outcome
    return doc


def read(get: Callable[[str], bytes | None], customer_key: str, sinks: Iterable[str]) -> dict[
    str, dict[str, Any]
]:
    """sink → last entry of `customer_key`, for the sinks that have one."""
    found: dict[str, dict[str, Any]] = {}
    for sink in sinks:
        raw = get(entry_key(customer_key, sink))
        if raw is not None:
            found[sink] = orjson.loads(raw)
    return found


class LastSentTables:
    """One `BatchedTable` per sink agent over the shared `last-sent` Faust table (one
    writer per BatchedTable: each flushes exactly what its agent wrote)."""

    def __init__(self, table: Any, producer: Callable[[], AIOKafkaProducer]) -> None:
        self._table = table
        self._producer = producer
        self._writers: dict[str, BatchedTable[bytes]] = {}
        self._orders: dict[str, WriteOrder] = {}

    def writer(self, sink: str) -> BatchedTable[bytes]:
        writer = self._writers.get(sink)
        if writer is None:
            writer = BatchedTable(self._table, self._producer, decode=bytes, encode=bytes)
            self._writers[sink] = writer
        return writer

    def write_order(self, sink: str) -> WriteOrder:
        """The sink's attribute write times, kept through the same writer (one flush)."""
        order = self._orders.get(sink)
        if order is None:
            order = self._orders[sink] = WriteOrder(sink, self.writer(sink))
        return order

    def record(self, sink: str, outcomes: Iterable[Outcome]) -> None:
        """Remember the latest outcome per customer (outcomes come in the order known)."""
        writer = self.writer(sink)
        latest = {outcome.action.customer_key: outcome for outcome in outcomes}
        for customer_key, outcome in latest.items():  # only the last one is kept anyway
            writer.set(entry_key(customer_key, sink), orjson.dumps(entry(outcome)))

    def forget(self) -> None:
        for writer in self._writers.values():
            writer.forget()

    def discard(self, keys: Iterable[str]) -> None:
        """Drop cached copies of keys removed from the store (erasure)."""
        keys = list(keys)
        for writer in self._writers.values():
            for key in keys:
                writer.discard(key)
