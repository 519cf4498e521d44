"""Audit entries of delivery outcomes, table deletes through the write-behind, and the
erasure request's records."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.delivery.sink import Outcome
from contracts.actions import Action
from contracts.partitioner import partition_for
from contracts.records import Erase, decode_by_customer
from streams import identity
from streams.erasure import ErasureRecord
from streams.runtime.audit import SKIPPED, audit_entries, decode_entries, encode_entries
from streams.runtime.erasures import ErasureFollower, request_erasure
from streams.runtime.tablewriter import BatchedTable
from tests.unit.connectors.delivery.helpers import make_action


def _act(n: int, **kw: Any) -> Action:
    """An action for ann@example.com (the platform's identifier), customer key c:00ff."""
    action = make_action(n, person="ann@example.com", **kw)
    return action.replace(customer_key="c:00ff")


class TestAuditEntries:
    """One entry per handed action: who, where, what, when, outcome; no personal field."""

    def test_outcomes_coalesced_and_skipped(self) -> None:
        first = _act(1, attributes={"has_open_ticket": True}, payload={"recipe": "R1"})
        folded = _act(2, attributes={"open_ticket_count": 1})
        failed = _act(3, operation="event", one_off=True)
        repeat = _act(4, operation="event", one_off=True)
        outcomes = [
            Outcome(first, "delivered", 10.0, (first.action_id, folded.action_id)),
            Outcome(failed, "dead_lettered", 11.0, (failed.action_id,)),
        ]
        entries = audit_entries("customerio", [first, folded, failed, repeat], outcomes)
        assert [e["outcome"] for e in entries] == [
            "delivered", "delivered", "dead_lettered", SKIPPED,
        ]
        assert entries[0] == {
            "customer_key": "c:00ff", "sink": "customerio", "operation": "identify",
            "action_id": first.action_id, "recipe": "R1",
            "at": "1970-01-01T00:00:10+00:00", "outcome": "delivered", "dry_run": False,
        }
        raw = encode_entries(entries)
        assert b"ann@example.com" not in raw and b"has_open_ticket" not in raw
        assert decode_entries(raw) == entries

    def test_outcome_without_covered_ids(self) -> None:
        action = make_action(1)
        [entry] = audit_entries("zendesk", [action], [Outcome(action, "delivered", 1.0)],
                                dry_run=True)
        assert entry["outcome"] == "delivered" and entry["dry_run"] is True


class _Store:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._key_partition: dict[bytes, int] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class _Topic:
    def get_topic_name(self) -> str:
        return "changelog"


class _Table:
    def __init__(self) -> None:
        self.data = _Store()
        self.changelog_topic = _Topic()


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> int:
        self.records.append((key, value))
        return 1

    def record_count(self) -> int:
        return len(self.records)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes | None]] = []

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.sent += batch.records
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class TestDelete:
    """A delete reads as None at once, then is a tombstone on the changelog and leaves the
    store."""

    def test_tombstone_then_gone(self) -> None:
        table, producer = _Table(), _Producer()
        writer: BatchedTable[bytes] = BatchedTable(
            table, lambda: producer, decode=bytes, encode=bytes  # type: ignore[arg-type,return-value]
        )

        async def run() -> None:
            writer.set("c:1", b"state")
            writer.set("c:2", b"other")
            await writer.persist(3, writer.take())
            assert table.data.data == {b"c:1": b"state", b"c:2": b"other"}
            writer.delete("c:1")
            assert writer.get("c:1") is None
            taken = writer.take()
            assert writer.get("c:1") is None  # unflushed: still reads as deleted
            await writer.persist(3, taken)

        asyncio.run(run())
        assert producer.sent[-1] == (b"c:1", None)
        assert table.data.data == {b"c:2": b"other"}
        assert b"c:1" not in table.data._key_partition
        assert writer.get("c:1") is None and writer.get("c:2") == b"other"


class _SentTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, int]] = []

    async def send(self, *, key: bytes, value: bytes, partition: int) -> asyncio.Future[None]:
        self.sent.append((key, value, partition))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class TestRequestErasure:
    """The record first, then one Erase per customer key; a repeat keeps earlier keys."""

    def test_record_and_commands(self) -> None:
        ann = identity.new_customer_key("email:ann@example.com")
        entries = [
            (b"email:ann@example.com", ann.encode()),
            (b"zendesk_user_id:7", b"c:old"),
            (b"merged:c:old", ann.encode()),
            (b"email:bob@example.com", b"c:bob"),
        ]
        topics = {"erasures": _SentTopic(), "events.by-customer": _SentTopic()}
        follower = ErasureFollower("erasures", 4)
        earlier_key = identity.new_customer_key("phone:+15550100")
        follower.add(ErasureRecord(ann, 5.0, (ann, earlier_key)))

        record = asyncio.run(request_erasure(
            ann, identity_entries=entries, topics=topics, partitions=4, follower=follower,
            delivered=[(ann, "customerio:identify:1"), ("c:old", "zendesk:update_user:2")],
            clock=lambda: 100.0,
        ))
        assert record.erased_at == 100.0 and record.links == 3
        assert set(record.deny) == {
            ann, "c:old", identity.new_customer_key("zendesk_user_id:7"), earlier_key,
        }
        [(key, value, partition)] = topics["erasures"].sent
        assert key == ann.encode() and partition == partition_for(ann, 4)
        assert b"example.com" not in value
        commands = {
            c.customer_key: c
            for c in (decode_by_customer(v) for _, v, _ in topics["events.by-customer"].sent)
        }
        assert isinstance(commands[ann], Erase) and isinstance(commands["c:old"], Erase)
        assert commands[ann].links == (
            "email:ann@example.com", "merged:c:old", "zendesk_user_id:7",
        )
        assert commands["c:old"].links == ()
        assert commands[ann].delivered == ("customerio:identify:1",)
        assert commands["c:old"].delivered == ("zendesk:update_user:2",)
        assert follower.deny.denies_key("c:old", 99.0)
