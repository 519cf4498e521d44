"""Audit entries of delivery outcomes, and table deletes through the write-behind."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.delivery.sink import Outcome
from contracts.actions import Action
from streams.runtime.audit import SKIPPED, audit_entries, decode_entries, encode_entries
from streams.runtime.tablewriter import BatchedTable
from tests.unit.connectors.delivery.helpers import make_action


def _act(n: int, **kw: Any) -> Action:
    """An action for ann@example.com (the platform's identifier), customer key c:00ff."""
    action = make_action(n, person="ann@example.com", **kw)
    return action.model_copy(update={"customer_key": "c:00ff"})


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
