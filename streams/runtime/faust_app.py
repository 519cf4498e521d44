"""The Faust application: topics, tables and the low-latency consumer.

Faust hard-codes the worker consumer's `fetch_max_wait_ms=1500`; Tansu only notices new data
after about half of that wait, so every hop would cost ~0.75 s (STACK-NOTES). The transport
below builds the same consumer and then sets the wait from settings (default 10 ms).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiokafka
import faust
import faust.streams
from aiokafka import TopicPartition
from faust.tables.globaltable import GlobalTable
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streams.runtime import acks, kafka
from streams.runtime.endoffsets import probe_end_offsets
from streams.runtime.faust_recovery import SeekFirstTableManager
from streams.runtime.fetchorder import FetchOrder

# Faust's compiled stream iterator (faust/_cython/streams.pyx, shipped in the 0.15 wheels)
# acks records inline instead of calling `Consumer.ack`: deferred acks (acks.py) never saw
# them and records still in flight were committed — a worker killed then lost them. The
# Python iterator acks through `_LowLatencyConsumer.ack`.
setattr(faust.streams, "_CStreamIterator", None)  # noqa: B010 - a private module global


class Settings(kafka.SecuritySettings, Protocol):
    """What the runtime reads of the application's settings (app.settings.Settings)."""

    partitions: int
    app_id: str
    state_version: str
    fetch_max_wait_ms: int
    session_timeout_s: float
    heartbeat_interval_s: float
    data_dir: Path
    store_dir: Path | None
    #: apply the workarounds only Tansu needs
    tansu_quirks: bool
    #: every producer's max request size (the largest record written)
    kafka_max_request_bytes: int

    @property
    def table_store(self) -> str: ...

    def topic(self, name: str) -> str: ...


RAW_SOURCES = ("zendesk", "intercom", "customerio", "pipelines")
SINKS = ("customerio", "zendesk", "intercom", "webhook", "audiences", "warehouse")

log = logging.getLogger(__name__)


class _LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: int = 10
    tansu_quirks: bool = False

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # The fetcher is built in start() from this attribute.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        self._bootstrap_servers = faust_aiokafka.server_list(transport.url, transport.default_port)
        return consumer

    async def _highwaters(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        # Recovery reads each changelog up to these offsets. Tansu's are short by all but one
        # record of the last batch — which, after a crash cut a flush short, is a batch of
        # table updates whose source records were already committed (streams/runtime/endoffsets.py).
        reported = await super()._highwaters(partitions)
        if not partitions or not self.tansu_quirks:
            return reported
        # Faust hands its own TP tuples; aiokafka's consumer wants its TopicPartition.
        probed = await probe_end_offsets(
            self._bootstrap_servers, [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        )
        return {
            tp: max(reported.get(tp) or 0, probed.get(TopicPartition(tp.topic, tp.partition), 0))
            for tp in partitions
        }


class _LowLatencyConsumer(faust_aiokafka.Consumer):
    """Faust's consumer with a short fetch wait, stream records handed over in offset order
    (streams/runtime/fetchorder.py) and commits that never pass an unfinished record
    (runtime/acks.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetch_order = FetchOrder()  # stream records in offset order (fetchorder.py)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Faust takes a jump in fetched offsets for a gap in the log and commits over it.
        # `getmany` holds back any record past the expected offset, so the only jumps that
        # get here are real holes it already entered in `_gap`; any other is fetched again.
        holes = self._gap[tp][offset_from]
        if any(iv.begin <= offset_from and iv.end >= offset_to for iv in holes):
            return
        log.warning("offsets %s..%s of %s skipped (expected %s): fetching them again",
                    offset_from, offset_to - 1, tp, self._fetch_order.expected.get(tp))
        # Faust's read offset is the last record read, except right after a seek, when it is
        # the next one: one record earlier covers both (a repeat is harmless, a gap is not).
        self._fetch_order.request(tp, max(offset_from - 1, 0))

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        # The drain loop calls this between batches: seek each hole's partition back (which
        # also resets Faust's read offset, so the refetched records are not dropped as old).
        for tp, offset in self._fetch_order.take_refetches().items():
            await self.seek(tp, offset)
        acks_enabled_for = self.app.topics.acks_enabled_for
        async for tp, message in super().getmany(timeout):
            if acks_enabled_for(tp.topic):
                if not self._fetch_order.admit(tp, message.offset):
                    continue
                start = self._fetch_order.take_passed(tp, message.offset)
                if start is not None:  # a real hole: commits may pass over it
                    self._gap[tp].addi(start, message.offset)
            yield tp, message

    async def _seek(self, partition: TP, offset: int) -> None:
        # Faust seeks aiokafka's consumer from the event loop's thread while the consumer
        # thread's fetcher runs; `make chaos` crashed a worker on it (KeyError in aiokafka's
        # fetched_records). Seek on the consumer's own thread, as Faust's other calls do.
        thread = self._thread
        # mode runs synchronous callables too (maybe_async); its annotation asks for async.
        await thread.call_thread(thread.seek, partition, offset)  # type: ignore[arg-type]

    def _new_offset(self, tp: TP) -> int | None:
        # Faust lets the first acked offset be one past the committed one, skipping the
        # record at the committed offset itself; only an exact continuation commits here.
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None and min(acked) > committed and not self._gap[tp][
            committed
        ]:
            return None
        new: int | None = super()._new_offset(tp)
        return new

    async def perform_seek(self) -> None:
        # Faust keeps the flow running during this seek: hold records back until it is done.
        self._fetch_order.hold()
        try:
            await super().perform_seek()
            await self._seek_never_committed()
        finally:
            # Every partition now reads from its committed offset: the agents expect exactly
            # that. (Should the seek have failed, a jump from there is fetched again.)
            self._fetch_order.reset({
                tp: offset for tp in self.assignment()
                if self.app.topics.acks_enabled_for(tp.topic)
                and (offset := self._committed_offset.get(tp)) is not None
            })

    async def _seek_never_committed(self) -> None:
        # A partition the group never committed starts at the log start: make that its
        # committed offset, so the first commit also needs an unbroken run from there (Faust
        # commits the first run of acked offsets wherever it starts when it knows none).
        fresh = [tp for tp in self.assignment() if self._committed_offset.get(tp) is None
                 and self.app.topics.acks_enabled_for(tp.topic)]
        if not fresh:
            return
        starts = await self.earliest_offsets(*fresh)
        for tp in fresh:
            start = starts.get(tp)
            if start is not None and start >= 0:
                self._committed_offset[tp] = start
                # Rather than aiokafka's own reset to "earliest": on Tansu it sometimes
                # lands far into the partition (`make chaos`: 0..48 skipped).
                await self.seek(tp, start)

    def ack(self, message: Message) -> bool:
        if acks.take_handled(message):
            return bool(super().ack(message))
        # Still in flight (the agent pipelines its effects): ack again once it is finished;
        # until then rebalances and shutdown wait for it (it stays unacked).
        if acks.defer_if_in_flight(message, lambda: self.ack(message)):
            return False
        # Skipped by Faust, or abandoned: leave the offset uncommitted (runtime/acks.py) but
        # let rebalances and shutdown stop waiting for it.
        message.acked = True
        self._unacked_messages.discard(message)
        return False

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        thread = _LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)
        thread.fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 10)
        thread.tansu_quirks = getattr(self.app, "tansu_quirks", False)
        return thread


class _LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = _LowLatencyConsumer


class IdentityGlobalTable(GlobalTable):
    """A global table keeps every partition's entries.

    When recovery completes, Faust's memory store drops the keys of partitions that are not
    *active* for this worker; a global table's partitions are standbys, so every identity link
    vanished after each restart or rebalance. Lost links split customers (an event naming only
    a Zendesk user id got a fresh key) and then re-linked emails to the split-off key, which is
    how `make chaos` saw customers lose their earlier events.
    """

    async def on_recovery_completed(self, active_tps: set[Any], standby_tps: set[Any]) -> None:
        await super().on_recovery_completed(set(active_tps) | set(standby_tps), standby_tps)


class SupportSyncApp(faust.App):
    fetch_max_wait_ms: int = 10
    #: The one switch for what only the embedded Tansu broker needs (its end offsets are
    #: short by all but one record of the last batch: recovery probes the true end).
    tansu_quirks: bool = False

    def _new_transport(self) -> Any:
        return _LowLatencyTransport(self.conf.broker_consumer, self)


def topic_names(settings: Settings) -> dict[str, str]:
    """Logical name → Kafka topic name, for every topic the product creates up front."""
    names = {f"raw.{s}": settings.topic(f"raw.{s}") for s in RAW_SOURCES}
    names["events.by-customer"] = settings.topic(f"events.by-customer.{settings.state_version}")
    names["transitions"] = settings.topic("transitions")
    names.update({f"out.{s}": settings.topic(f"out.{s}") for s in SINKS})
    names["dlq"] = settings.topic("dlq")
    # Not versioned: a replay into a new state version honours every erasure, and the
    # audit trail spans versions.
    names["erasures"] = settings.topic("erasures")
    names["audit"] = settings.topic("audit")
    return names


@dataclass
class Topology:
    app: SupportSyncApp
    topics: dict[str, faust.TopicT]
    # faust's table types are loosely annotated; values here are always bytes → bytes.
    identity: Any
    state: Any
    delivered: Any
    last_sent: Any  # "<customer_key>|<sink>" → what that sink last did (lastsent.py)
    bootstrap_servers: str = ""


def build_app(settings: Settings, bootstrap_servers: str) -> Topology:
    datadir = settings.store_dir or settings.data_dir / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = SupportSyncApp(
        f"{settings.app_id}-{settings.state_version}",
        broker=f"kafka://{bootstrap_servers}",
        store=settings.table_store,
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        # Changelogs and Faust's own topics: the cluster's replication and security settings.
        topic_replication_factor=1 if settings.embedded else settings.kafka_replication_factor,
        broker_credentials=None if settings.embedded else kafka.faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        # Tansu: a group join takes ~half the session timeout (STACK-NOTES).
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        consumer_auto_offset_reset="earliest",
        # Without idempotent producers on Tansu, exactly_once cannot start; effects are made
        # idempotent instead (dedupe by event id, action ids).
        processing_guarantee="at_least_once",
        producer_linger_ms=1,
        producer_max_request_size=settings.kafka_max_request_bytes,
        web_enabled=False,
        table_cleanup_interval=60.0,
        GlobalTable=IdentityGlobalTable,
        TableManager=SeekFirstTableManager,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.tansu_quirks = settings.tansu_quirks
    topics: dict[str, faust.TopicT] = {
        logical: app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)
        for logical, name in topic_names(settings).items()
    }
    version = settings.state_version
    # Global: any partition's events may carry an identifier first seen on another
    # partition, so every worker holds every link (see streams/identity.py).
    identity = app.GlobalTable(
        f"identity-{version}", key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    state = app.Table(
        f"state-{version}", key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    delivered = app.Table(
        "delivered", key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    last_sent = app.Table(
        "last-sent", key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    return Topology(
        app=app, topics=topics, identity=identity, state=state, delivered=delivered,
        last_sent=last_sent, bootstrap_servers=bootstrap_servers,
    )
