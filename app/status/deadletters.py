"""`supportsync dlq list|show|redrive`: inspect and re-send dead letters (SPEC S7).

The `<prefix>dlq` topic holds two kinds of record:
Both are `contracts.deadletters` shapes, told apart by their `kind` tag:
- sink dead letters (`SinkDeadLetter`, key = sink): an action that could
  not be delivered. Redrive re-sends the action to `out.<sink>` on the partition of its
  customer key; the sink's idempotency (action ids) keeps a second redrive harmless.
- stage dead letters (`StageDeadLetter`, key = stage): bad input. Those
  from `normalize` and `identity` (no identifier, identity conflict) carry the raw
  envelope; redrive re-sends it to its `raw.<source>` topic, to be normalized and
  resolved again (after the cause was fixed: Zendesk credentials set, a conflicting
  identity corrected). Route dead letters (`no_identifier`: no email known for the
  customer yet) carry the transition; redrive sends it to `events.by-customer`, where the
  apply agent routes it again with what the customer's state knows now
  (`streams.stages.reroute`). Apply dead letters carry no envelope.

An entry's id is `<partition>:<offset>` in the dlq topic.

Dead letters of a person erased after they were written (`supportsync forget`) are left out
of list, show and redrive: those naming a customer key or an event's identifiers. A
normalize letter (a body that never parsed) names no one and stays listed; redriven, its
events are dropped at ingest all the same (streams/erasure.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from app.settings import Settings
from contracts.actions import Action
from contracts.events import Identities
from contracts.partitioner import partition_for
from contracts.records import (
    encode_action_batch,
    encode_raw_batch,
    encode_reroute,
    raw_envelope_from,
)
from streams import identity
from streams.erasure import DenyList
from streams.runtime import kafka
from streams.runtime.erasures import load_deny_list
from streams.runtime.faust_app import topic_names
from streams.runtime.kafka import TopicPartition


@dataclass(frozen=True)
class Entry:
    partition: int
    offset: int
    timestamp_ms: int
    stage: str  # normalize | identity | apply | route | sink:<name> | unknown
    reason: str
    source: str | None
    sink: str | None
    detail: str
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": self.at, "stage": self.stage, "source": self.source,
            "sink": self.sink, "reason": self.reason, "detail": self.detail,
        }


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    sink: str | None = None
    reason: str | None = None
    ids: frozenset[str] = frozenset()

    def match(self, entry: Entry) -> bool:
        return (
            (self.source is None or entry.source == self.source)
            and (self.sink is None or entry.sink == self.sink)
            and (self.reason is None or entry.reason == self.reason)
            and (not self.ids or entry.id in self.ids)
        )


def parse(partition: int, offset: int, timestamp_ms: int, value: bytes) -> Entry:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return Entry(partition, offset, timestamp_ms, "unknown", "unparseable", None, None, "", {})
    if doc.get("kind") == "sink" or ("action" in doc and "sink" in doc):  # untagged: older
        sink = str(doc["sink"])
        detail = f"{doc.get('error_class', '')} {doc.get('status') or ''}".strip()
        return Entry(
            partition, offset, timestamp_ms, f"sink:{sink}", str(doc.get("reason", "")),
            None, sink, detail, doc,
        )
    return Entry(
        partition, offset, timestamp_ms, str(doc.get("stage", "unknown")),
        str(doc.get("reason", "")), doc.get("source"), None, str(doc.get("detail", ""))[:200], doc,
    )


async def read_all(bootstrap: str, topic: str) -> list[Entry]:
    consumer = kafka.consumer(
        bootstrap, enable_auto_commit=False, group_id=None,
        request_timeout_ms=10000,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        entries: list[Entry] = []
        pending = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=1000)
            for tp, records in batches.items():
                entries.extend(
                    parse(tp.partition, r.offset, r.timestamp, r.value or b"") for r in records
                )
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return sorted(entries, key=lambda e: (e.timestamp_ms, e.partition, e.offset))
    finally:
        await consumer.stop()


def customer_keys(entry: Entry) -> set[str]:
    """The customer keys a dead letter is about: its action's or transition's, and those its
    event's identifiers would get (streams/erasure.py)."""
    keys: set[str] = set()
    action = entry.doc.get("action")
    if isinstance(action, dict) and isinstance(action.get("customer_key"), str):
        keys.add(action["customer_key"])
    record = entry.doc.get("record")
    if not isinstance(record, dict):
        return keys
    if isinstance(record.get("customer_key"), str):
        keys.add(record["customer_key"])
    transition = record.get("transition")
    if isinstance(transition, dict) and isinstance(transition.get("customer_key"), str):
        keys.add(transition["customer_key"])
    event = record.get("event")
    if isinstance(event, dict) and isinstance(event.get("identities"), dict):
        try:
            ids = Identities.from_dict(event["identities"])
        except msgspec.ValidationError:
            return keys
        keys.update(identity.new_customer_key(k) for k in identity.identifier_keys(ids))
    return keys


def erased(entry: Entry, deny: DenyList) -> bool:
    """Whether the dead letter is about a person erased after it was written."""
    at = entry.timestamp_ms / 1000
    return any(deny.denies_key(key, at) for key in customer_keys(entry))


def read_entries(settings: Settings, filters: Filters) -> list[Entry]:
    bootstrap = _bootstrap(settings)
    names = topic_names(settings)
    entries = asyncio.run(read_all(bootstrap, names["dlq"]))
    deny = asyncio.run(load_deny_list(bootstrap, names["erasures"], settings.partitions))
    return [e for e in entries if filters.match(e) and not erased(e, deny)]


def _bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise ValueError(
            "set SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS: dead letters live in the broker's dlq topic"
        )
    return settings.kafka_bootstrap_servers


@dataclass(frozen=True)
class Redrive:
    entry: Entry
    topic: str | None  # None: not redrivable
    key: str = ""
    value: bytes = b""
    why_not: str = ""


def plan(entry: Entry, names: dict[str, str]) -> Redrive:
    """Where and what to re-send for one entry."""
    try:
        if entry.sink is not None:
            action = Action.from_dict(entry.doc["action"])
            return Redrive(
                entry, names[f"out.{action.sink}"], action.customer_key,
                encode_action_batch([action]),
            )
        record = entry.doc.get("record")
        raw = None
        if entry.stage == "normalize" and record:
            raw = record
        elif entry.stage == "identity" and isinstance(record, dict) and record.get("envelope"):
            raw = record["envelope"]
        if entry.stage == "route" and isinstance(record, dict) and record.get("transition"):
            transition = record["transition"]
            return Redrive(
                entry, names["events.by-customer"], str(transition["customer_key"]),
                encode_reroute(transition),
            )
        if raw is not None:
            if isinstance(raw, dict) and "body_omitted" in raw:
                return Redrive(entry, None, why_not="body too large for a dead letter: "
                               "it is on its raw topic")
            envelope = raw_envelope_from(raw)
            return Redrive(
                entry, names[f"raw.{envelope.source}"], envelope.key, encode_raw_batch([envelope])
            )
    except (KeyError, msgspec.ValidationError) as exc:
        return Redrive(entry, None, why_not=f"invalid record: {type(exc).__name__}")
    return Redrive(entry, None, why_not=f"{entry.stage} dead letters carry no raw envelope")


async def _send(bootstrap: str, plans: Iterable[Redrive]) -> int:
    producer = kafka.producer(bootstrap, acks="all", request_timeout_ms=10000)
    await producer.start()
    sent = 0
    try:
        for item in plans:
            assert item.topic is not None
            partitions = await producer.partitions_for(item.topic)
            partition = partition_for(item.key, len(partitions))
            await producer.send_and_wait(
                item.topic, item.value, key=item.key.encode(), partition=partition
            )
            sent += 1
    finally:
        await producer.stop()
    return sent


def redrive(settings: Settings, entries: list[Entry], *, dry_run: bool) -> list[Redrive]:
    """Re-send every redrivable entry (unless `dry_run`); returns the plan for each entry."""
    names = topic_names(settings)
    plans = [plan(e, names) for e in entries]
    if not dry_run:
        asyncio.run(_send(_bootstrap(settings), [p for p in plans if p.topic is not None]))
    return plans
