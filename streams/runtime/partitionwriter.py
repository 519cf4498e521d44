"""Items for one topic's partitions, from many source records, written as few records.

A stage that re-partitions (ingest: raw records → `events.by-customer`) would otherwise write
one record per target partition for every source record, and at webhook rates source
records hold an envelope or two: every webhook then costs the broker a produce, a fetch and
the next agent its fixed per-record price (STACK-NOTES: ~230 µs in Faust).

The writer keeps at most one record per partition on its way to the broker. Items that
arrive while it travels wait, and go out together as the next record once it is
acknowledged. A trickle is written at once; under load a record holds what arrived during
one broker round trip (up to `max_items`), so batches grow as fast as the broker slows.
Order per partition is the order of `add` (one record in flight at a time); a pre-encoded
record (`add_record`) keeps its place among the items.

`add` returns a future that resolves once everything it handed over is acknowledged — the
source record's effect, for `InFlight` — or fails with the broker's error. Nothing is
dropped on a rebalance: what waits is written anyway, and its source records, read again
by the partition's next owner, write it again (effects downstream are idempotent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from streams.stages import encode_fitting

T = TypeVar("T")

#: send(partition, key, value) → the broker's acknowledgement, as an awaitable
Send = Callable[[int, bytes, bytes], Awaitable[Awaitable[Any]]]
#: items too large for a record even alone → acknowledgements of their dead letters
TooLarge = Callable[[list[T]], Awaitable[list[Awaitable[Any]]]]


async def send_fitting(
    send: Send,
    partition: int,
    items: list[T],
    *,
    encode: Callable[[list[T]], bytes],
    key_of: Callable[[T], bytes],
    limit_bytes: int,
    too_large: TooLarge[T],
) -> list[Awaitable[Any]]:
    """Send `items` to `partition` as records of at most `limit_bytes` (`encode_fitting`);
    items too large even alone go to `too_large`. The acknowledgements, not awaited."""
    records, oversized = encode_fitting(items, encode, limit_bytes)
    acks = [await send(partition, key_of(chunk[0]), value) for chunk, value in records]
    if oversized:
        acks += await too_large(oversized)
    return acks


@dataclass
class _Slot(Generic[T]):
    #: in order: lists of items (encoded together) and pre-encoded (key, value) records
    parts: list[list[T] | tuple[bytes, bytes]] = field(default_factory=list)
    done: asyncio.Future[None] | None = None
    busy: bool = False


class PartitionWriter(Generic[T]):
    def __init__(
        self,
        send: Send,
        *,
        encode: Callable[[list[T]], bytes],
        key_of: Callable[[T], bytes],
        limit_bytes: int,
        too_large: TooLarge[T],
        max_items: int = 500,
        name: str = "",
    ) -> None:
        self._send = send
        self._encode = encode
        self._key_of = key_of
        self._limit = limit_bytes
        self._too_large = too_large
        # A record's worth of work for the next stage, and of output it produces in turn.
        self._max_items = max_items
        self._name = name
        self._slots: dict[int, _Slot[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, partition: int, items: list[T]) -> asyncio.Future[None]:
        """Hand over items for `partition`; the future resolves once they are on the broker."""
        return self._enqueue(partition, items)

    def add_record(self, partition: int, key: bytes, value: bytes) -> asyncio.Future[None]:
        """Hand over an encoded record, written after everything added before it."""
        return self._enqueue(partition, (key, value))

    def _enqueue(self, partition: int, part: list[T] | tuple[bytes, bytes]) -> asyncio.Future[None]:
        slot = self._slots.get(partition)
        if slot is None:
            slot = self._slots[partition] = _Slot()
        if isinstance(part, list) and slot.parts and isinstance(slot.parts[-1], list):
            slot.parts[-1].extend(part)
        else:
            slot.parts.append(list(part) if isinstance(part, list) else part)
        if slot.done is None:
            slot.done = asyncio.get_running_loop().create_future()
        done = slot.done
        if not slot.busy:
            self._start(partition, slot)
        return done

    def _start(self, partition: int, slot: _Slot[T]) -> None:
        parts, done = slot.parts, slot.done
        assert done is not None
        slot.parts, slot.done, slot.busy = [], None, True
        task = asyncio.get_running_loop().create_task(
            self._write(partition, slot, parts, done), name=f"partition-writer-{self._name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(
        self,
        partition: int,
        slot: _Slot[T],
        parts: list[list[T] | tuple[bytes, bytes]],
        done: asyncio.Future[None],
    ) -> None:
        try:
            acks: list[Awaitable[Any]] = []
            for part in parts:
                if isinstance(part, tuple):
                    acks.append(await self._send(partition, *part))
                    continue
                for start in range(0, len(part), self._max_items):
                    acks += await send_fitting(
                        self._send, partition, part[start : start + self._max_items],
                        encode=self._encode, key_of=self._key_of, limit_bytes=self._limit,
                        too_large=self._too_large,
                    )
            for ack in acks:
                await ack
        except asyncio.CancelledError:
            if not done.done():
                done.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the source records' effects failed: say so
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)
        finally:
            slot.busy = False
        if slot.parts:
            self._start(partition, slot)
