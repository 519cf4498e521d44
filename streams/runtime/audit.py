"""The audit trail and the deliver agents' share of erasure.

Every action a deliver agent handed to its sink ends in one audit entry on the `audit` topic:

    {"customer_key": "c:…", "sink": "customerio", "operation": "identify",
     "action_id": "customerio:identify:…", "recipe": "suppression", "at": "<ISO 8601>",
     "outcome": "delivered" | "dead_lettered" | "skipped_duplicate", "dry_run": false}

who (the internal customer key, never an email or a platform id), which platform, what
operation, when (the sink's clock when it confirmed or gave up), and the outcome; no payload
field. An id folded into another id's request (coalescing) gets that request's outcome; an id
the sink skipped as already delivered is `skipped_duplicate`. The entries of one deliver call
go out as one audit record per source partition, on the same partition number (so a
customer's entries sit on its state's partition), sent without waiting and awaited by the
dispatcher's checkpoint, before the records they cover may be committed. `read_audit`
lists one customer's entries.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from connectors.delivery.sink import Outcome, Sink
from contracts.actions import Action
from streams.erasure import DenyList
from streams.runtime import kafka, metrics
from streams.runtime.endoffsets import true_end_offsets

SKIPPED = "skipped_duplicate"


def audit_entries(
    sink: str, handed: Iterable[Action], outcomes: Iterable[Outcome], *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """One entry per action handed to the sink, in the order handed."""
    by_id: dict[str, Outcome] = {}
    for outcome in outcomes:
        for action_id in (outcome.covered or (outcome.action.action_id,)):
            by_id[action_id] = outcome
    entries = []
    for action in handed:
        found = by_id.get(action.action_id)
        entry: dict[str, Any] = {
            "customer_key": action.customer_key,
            "sink": sink,
            "operation": action.operation,
            "action_id": action.action_id,
        }
        recipe = action.payload.get("recipe")
        if isinstance(recipe, str):
            entry["recipe"] = recipe
        at = found.at if found is not None else datetime.now(UTC).timestamp()
        entry["at"] = datetime.fromtimestamp(at, UTC).isoformat()
        entry["outcome"] = found.outcome if found is not None else SKIPPED
        entry["dry_run"] = dry_run
        entries.append(entry)
    return entries


def encode_entries(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": 1, "entries": entries})


def decode_entries(value: bytes) -> list[dict[str, Any]]:
    doc = orjson.loads(value)
    entries = doc.get("entries", []) if isinstance(doc, dict) else []
    return [e for e in entries if isinstance(e, dict)]


def _done() -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class DeliveryPrivacy:
    """Used by each deliver agent and its dispatcher: `admit` drops actions of people erased
    after the action was routed; `audit` sends one partition's audit record of a call (its
    future: await it before the records it covers are marked handled)."""

    def __init__(self, audit_topic: str, producer: Callable[[], AIOKafkaProducer]) -> None:
        self._topic = audit_topic
        self._producer = producer
        self.deny = DenyList()
        self._ready: asyncio.Event | None = None

    def follow(self, deny: DenyList, ready: asyncio.Event) -> None:
        """Use the worker's deny list (streams/runtime/erasures.py)."""
        self.deny = deny
        self._ready = ready

    async def admit(self, actions: list[Action]) -> list[Action]:
        if self._ready is not None and not self._ready.is_set():
            await self._ready.wait()
        deny = self.deny
        if not deny:
            return actions
        kept = [a for a in actions if not deny.denies_key(a.customer_key, a.created_at)]
        if len(kept) < len(actions):
            metrics.EVENTS_ERASED.labels("deliver").inc(len(actions) - len(kept))
        return kept

    async def audit(
        self, sink: Sink, partition: int, handed: list[Action], outcomes: list[Outcome]
    ) -> asyncio.Future[Any]:
        entries = audit_entries(sink.name, handed, outcomes, dry_run=sink.dry_run)
        if not entries:
            return _done()
        for outcome, count in Counter(e["outcome"] for e in entries).items():
            metrics.AUDIT_RECORDS.labels(sink.name, outcome).inc(count)
        future: asyncio.Future[Any] = await self._producer().send(
            self._topic, key=entries[0]["customer_key"].encode(),
            value=encode_entries(entries), partition=partition,
        )
        return future


async def read_audit(
    bootstrap_servers: str, topic: str, partition: int, customer_keys: Iterable[str],
    *, timeout_s: float = 30.0,
) -> tuple[list[dict[str, Any]], bool]:
    """The audit entries of `customer_keys` on one partition of the audit topic, oldest
    first (read from the start to the partition's end), and whether the whole partition
    was read within `timeout_s`."""
    wanted = set(customer_keys)
    tp = TopicPartition(topic, partition)
    consumer = kafka.consumer(
        bootstrap_servers, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        end = (await true_end_offsets(consumer, [tp]))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        found: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while await consumer.position(tp) < end and loop.time() < deadline:
            batches = await consumer.getmany(tp, timeout_ms=500)
            for message in batches.get(tp, []):
                if message.value is None:
                    continue
                try:
                    entries = decode_entries(message.value)
                except orjson.JSONDecodeError:
                    continue
                found.extend(e for e in entries if e.get("customer_key") in wanted)
        return found, await consumer.position(tp) >= end
    finally:
        await consumer.stop()
