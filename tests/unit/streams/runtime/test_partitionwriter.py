"""The partition writer (streams/runtime/partitionwriter.py): one record per partition in
flight, items arriving meanwhile batched behind it, order kept, failures reported."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from streams.runtime.partitionwriter import PartitionWriter


class Broker:
    """Records every send; acknowledges a record only when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, Any]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def send(self, partition: int, key: bytes, value: bytes) -> asyncio.Future[None]:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((partition, key, orjson.loads(value)))
        self.acks.append(ack)
        return ack

    async def ack_all(self) -> None:
        for ack in self.acks:
            if not ack.done():
                ack.set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def _writer(broker: Broker, limit: int = 10_000, dead: list[Any] | None = None) -> Any:
    async def too_large(items: list[str]) -> list[Any]:
        (dead if dead is not None else []).extend(items)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return [done]

    return PartitionWriter(
        broker.send, encode=lambda items: orjson.dumps(items), key_of=str.encode,
        limit_bytes=limit, too_large=too_large, name="test",
    )


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class TestBatching:
    """A trickle goes out at once; what arrives during a round trip goes out as one record."""

    async def test_first_items_are_written_without_waiting(self) -> None:
        broker = Broker()
        writer = _writer(broker)
        writer.add(3, ["a"])
        await _settle()
        assert broker.sent == [(3, b"a", ["a"])]

    async def test_items_during_a_round_trip_share_the_next_record(self) -> None:
        broker = Broker()
        writer = _writer(broker)
        first = writer.add(0, ["a"])
        await _settle()
        second = writer.add(0, ["b"])
        third = writer.add(0, ["c", "d"])
        other = writer.add(1, ["x"])
        await _settle()
        # partition 0 waits for its record in flight; partition 1 does not wait for it
        assert broker.sent == [(0, b"a", ["a"]), (1, b"x", ["x"])]
        assert second is third and not second.done()
        await broker.ack_all()
        await _settle()
        assert first.done() and other.done()
        assert broker.sent[2] == (0, b"b", ["b", "c", "d"])
        assert not second.done()  # not before the broker acknowledged the batch
        await broker.ack_all()
        await _settle()
        assert second.done() and second.exception() is None

    async def test_an_encoded_record_keeps_its_place(self) -> None:
        broker = Broker()
        writer = _writer(broker)
        writer.add(0, ["a"])
        await _settle()
        writer.add(0, ["b"])
        writer.add_record(0, b"k", b'"merge"')
        writer.add(0, ["c"])
        await broker.ack_all()
        await _settle()
        assert [value for _, _, value in broker.sent] == [["a"], ["b"], "merge", ["c"]]


class TestLimitsAndFailures:
    """Records stay under the size limit, oversized items go to their handler, a refused
    record fails the futures of everything it held."""

    async def test_a_batch_over_the_limit_is_split_and_a_huge_item_is_handed_over(self) -> None:
        broker = Broker()
        dead: list[str] = []
        writer = _writer(broker, limit=20, dead=dead)
        done = writer.add(0, ["aaaa", "bbbb", "cccc", "d" * 40])
        await _settle()
        await broker.ack_all()
        await _settle()
        assert done.done() and done.exception() is None
        assert dead == ["d" * 40]
        written = [item for _, _, value in broker.sent for item in value]
        assert written == ["aaaa", "bbbb", "cccc"]
        assert all(len(orjson.dumps(value)) <= 20 for _, _, value in broker.sent)

    async def test_a_refused_record_fails_its_sources(self) -> None:
        broker = Broker()
        writer = _writer(broker)
        done = writer.add(0, ["a"])
        await _settle()
        broker.acks[0].set_exception(RuntimeError("not leader"))
        await _settle()
        with pytest.raises(RuntimeError, match="not leader"):
            done.result()
        later = writer.add(0, ["b"])  # the writer goes on; the worker decides to stop
        await _settle()
        assert broker.sent[-1] == (0, b"b", ["b"]) and not later.done()

    async def test_records_hold_at_most_max_items(self) -> None:
        broker = Broker()
        writer = PartitionWriter(
            broker.send, encode=lambda items: orjson.dumps(items), key_of=str.encode,
            limit_bytes=10_000, too_large=None, max_items=2,  # type: ignore[arg-type]
        )
        writer.add(0, ["a", "b", "c", "d", "e"])
        await _settle()
        assert [value for _, _, value in broker.sent] == [["a", "b"], ["c", "d"], ["e"]]
