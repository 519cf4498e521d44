"""Groups accepted envelopes into one Kafka record per partition (SPEC S10 throughput).

Faust pays a fixed ~230 µs per Kafka record (STACK-NOTES: a do-nothing agent tops out near
4.3k records/s, a bare aiokafka loop near 28k). Measured choice: instead of one record per
webhook, the ingress holds envelopes for `linger` (default 3 ms) or until `max_batch`, then
writes one record per (topic, partition). Every caller waits for the broker's acknowledgement
of the record holding its envelope, so a 2xx still means "durably on the raw topic".
The partition is murmur2(routing key), the Kafka default, so batches never mix partitions and
a customer's events stay in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.partitioner import partition_for
from contracts.records import RawEnvelope, encode_raw_batch
from streams.runtime.kafka import AIOKafkaProducer, KafkaError

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the record: the caller answers 503."""


@dataclass
class _Pending:
    envelopes: list[RawEnvelope] = field(default_factory=list)
    done: asyncio.Future[None] | None = None
    timer: asyncio.TimerHandle | None = None


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
    ) -> None:
        self._producer = producer
        self._topic_for = topic_for
        self._partitions = partitions
        self._linger = linger_s
        self._max_batch = max_batch
        self._ack_timeout = ack_timeout_s
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._inflight: set[asyncio.Task[None]] = set()

    async def submit(self, envelope: RawEnvelope) -> None:
        """Returns once the broker acknowledged the record holding `envelope`."""
        loop = asyncio.get_running_loop()
        slot_key = (self._topic_for(envelope.source), partition_for(envelope.key, self._partitions))
        pending = self._pending.get(slot_key)
        if pending is None:
            pending = _Pending(done=loop.create_future())
            self._pending[slot_key] = pending
            if self._linger > 0:
                pending.timer = loop.call_later(self._linger, self._flush, slot_key)
        pending.envelopes.append(envelope)
        done = pending.done
        assert done is not None
        if len(pending.envelopes) >= self._max_batch or self._linger <= 0:
            self._flush(slot_key)
        try:
            # aiokafka fails a batch after its own request timeout; this is only a backstop.
            await asyncio.wait_for(asyncio.shield(done), self._ack_timeout)
        except TimeoutError as exc:
            raise BrokerUnavailable("no acknowledgement from the broker in time") from exc

    def _flush(self, slot_key: tuple[str, int]) -> None:
        pending = self._pending.pop(slot_key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
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

    async def flush_all(self) -> None:
        for slot_key in list(self._pending):
            self._flush(slot_key)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
