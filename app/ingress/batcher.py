"""Groups accepted envelopes into one Kafka record per partition (SPEC S10 throughput).

Faust pays a fixed ~230 µs per Kafka record (STACK-NOTES: a do-nothing agent tops out near
4.3k records/s, a bare aiokafka loop near 28k). Measured choice: instead of one record per
webhook, the ingress holds envelopes for `linger` (default 3 ms) or until `max_batch`, then
writes one record per (topic, partition), and keeps filling a partition's next record while
the previous one is unacknowledged. While the pipeline is behind (`behind()`, see
streams/runtime/backlog.py) a (topic, partition) also writes at most one record per
`min_interval` (default 150 ms): at webhook rates spread over many partitions a short
linger alone leaves an envelope or two per record, and the record count, not the bytes, is
what the broker and the agents pay for. Otherwise a webhook is answered once its record is
written, after `linger`.
Every caller waits for the broker's acknowledgement of the record holding its envelope, so
a 2xx still means "durably on the raw topic".
The partition is murmur2(routing key), the Kafka default, so batches never mix partitions and
a customer's events stay in order. A record never exceeds `max_record_bytes` (the producer's
and broker's limit): a batch that would is written as several records, and an envelope that
could not fit even alone is refused before anything is written (`EnvelopeTooLarge`: 413).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.partitioner import partition_for
from contracts.records import RAW_FRAME_OVERHEAD, RawEnvelope, encode_raw_batch, raw_size
from streams.runtime.kafka import AIOKafkaProducer, KafkaError

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the record: the caller answers 503."""


class EnvelopeTooLarge(Exception):
    """The envelope alone would not fit in one record: the caller answers 413."""


#: Bytes of a Kafka record beyond its key and value (record batch header, varints, attributes;
#: aiokafka counts 61 + 21 at most).
KAFKA_RECORD_OVERHEAD = 128


def record_budget(max_record_bytes: int, first: RawEnvelope) -> int:
    """Bytes the envelopes (`raw_size` each) of a raw record keyed by `first.key` may take."""
    return (
        max_record_bytes - KAFKA_RECORD_OVERHEAD - RAW_FRAME_OVERHEAD - len(first.key.encode())
    )


def _cancel_timer(timer: asyncio.TimerHandle) -> Callable[[asyncio.Future[None]], None]:
    return lambda _done: timer.cancel()


@dataclass
class _Pending:
    envelopes: list[RawEnvelope] = field(default_factory=list)
    size: int = 0  # sum of the envelopes' `raw_size`
    done: asyncio.Future[None] | None = None
    timer: asyncio.TimerHandle | None = None
    due: bool = False  # lingered long enough: goes as soon as the slot's record is acked


class RawBatcher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic_for: Callable[[str], str],
        partitions: int,
        *,
        linger_s: float = 0.003,
        max_batch: int = 256,
        ack_timeout_s: float = 15.0,
        max_record_bytes: int = 1024 * 1024,
        min_interval_s: float = 0.15,
        behind: Callable[[], bool] | None = None,
    ) -> None:
        self._producer = producer
        self._topic_for = topic_for
        self._partitions = partitions
        self._linger = linger_s
        self._max_batch = max_batch
        self._ack_timeout = ack_timeout_s
        self._max_record_bytes = max_record_bytes
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._sending: dict[tuple[str, int], int] = {}  # records on their way, per slot
        self._min_interval = min_interval_s
        self._behind = behind if behind is not None else (lambda: False)
        self._last_sent: dict[tuple[str, int], float] = {}  # loop time of the last record

    def _budget(self, first: RawEnvelope) -> int:
        return record_budget(self._max_record_bytes, first)

    def check(self, envelope: RawEnvelope) -> int:
        """The envelope's size in a record; EnvelopeTooLarge when it could not be written."""
        size = raw_size(envelope)
        if size > self._budget(envelope):
            raise EnvelopeTooLarge(
                f"envelope of {size} bytes over the record limit of {self._max_record_bytes}"
            )
        return size

    async def submit(self, envelope: RawEnvelope) -> None:
        """Returns once the broker acknowledged the record holding `envelope`."""
        size = self.check(envelope)
        loop = asyncio.get_running_loop()
        slot_key = (self._topic_for(envelope.source), partition_for(envelope.key, self._partitions))
        pending = self._pending.get(slot_key)
        if pending is not None and pending.size + size > self._budget(pending.envelopes[0]):
            self._flush(slot_key, force=True)  # full: it goes now, this one starts the next
            pending = None
        if pending is None:
            record_done: asyncio.Future[None] = loop.create_future()
            pending = _Pending(done=record_done)
            self._pending[slot_key] = pending
            # aiokafka fails a batch after its own request timeout; this is only a backstop,
            # one timer per record rather than a `wait_for` per caller (~9 µs per webhook).
            expiry = loop.call_later(self._ack_timeout, self._expire, record_done)
            record_done.add_done_callback(_cancel_timer(expiry))
            if self._linger > 0:
                last = self._last_sent.get(slot_key)
                wait = self._linger
                if last is not None and self._behind():
                    wait = max(wait, last + self._min_interval - loop.time())
                pending.timer = loop.call_later(wait, self._flush, slot_key)
        pending.envelopes.append(envelope)
        pending.size += size
        done = pending.done
        assert done is not None
        if len(pending.envelopes) >= self._max_batch or self._linger <= 0:
            self._flush(slot_key, force=True)
        # Shielded: a caller that goes away (its client disconnected) must not cancel the
        # record's future, which the other callers of the record wait on.
        await asyncio.shield(done)

    @staticmethod
    def _expire(done: asyncio.Future[None]) -> None:
        if not done.done():
            done.set_exception(BrokerUnavailable("no acknowledgement from the broker in time"))

    def _flush(self, slot_key: tuple[str, int], force: bool = False) -> None:
        pending = self._pending.get(slot_key)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if not force and self._sending.get(slot_key):
            pending.due = True  # `_send` flushes it when the record ahead is acknowledged
            return
        del self._pending[slot_key]
        self._sending[slot_key] = self._sending.get(slot_key, 0) + 1
        self._last_sent[slot_key] = asyncio.get_running_loop().time()
        task = asyncio.get_running_loop().create_task(self._send(slot_key, pending))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, slot_key: tuple[str, int], pending: _Pending) -> None:
        topic, partition = slot_key
        done = pending.done
        assert done is not None
        acked = False
        try:
            await self._producer.send_and_wait(
                topic,
                value=encode_raw_batch(pending.envelopes),
                key=pending.envelopes[0].key.encode(),
                partition=partition,
            )
            acked = True
        except KafkaError as exc:
            log.warning("raw record to %s[%d] not acknowledged: %r", topic, partition, exc)
        finally:
            # Whatever ended the send (a Kafka error, cancellation, a producer bug), every
            # caller gets an answer: 200 only after the acknowledgement, else 503.
            if not done.done():
                if acked:
                    done.set_result(None)
                else:
                    done.set_exception(BrokerUnavailable("raw record not acknowledged"))
            left = self._sending.get(slot_key, 1) - 1
            if left:
                self._sending[slot_key] = left
            else:
                self._sending.pop(slot_key, None)
                waiting = self._pending.get(slot_key)
                if waiting is not None and waiting.due:
                    self._flush(slot_key)

    async def flush_all(self) -> None:
        for slot_key in list(self._pending):
            self._flush(slot_key, force=True)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
