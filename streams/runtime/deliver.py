"""The deliver agents: one per enabled sink, from `out.<sink>` to the platform.

Each agent decodes a record, says `acks.begin` and hands the actions to its sink's
`Dispatcher` (streams/runtime/dispatch.py), which delivers them with other records' actions
and marks the record handled once its outcomes are known and checkpointed; the agent takes
the next record at once.

`Delivery` holds what they share with the rest of the worker: the sinks (built by the web
service once the event loop runs), the dispatchers, the delivered-ids and last-sent table
writers, the oldest action each sink is working on (exported as the backlog age), and each
sink's share of its platform account's rate budget (the part of `out.<sink>`'s partitions
this worker owns, set on every assignment).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from connectors.delivery.sink import Sink
from contracts.partitioner import partition_for
from contracts.records import decode_action_batch
from streams.runtime import acks, metrics
from streams.runtime.audit import DeliveryPrivacy
from streams.runtime.dispatch import Dispatcher, PartitionOf
from streams.runtime.faust_app import Topology
from streams.runtime.lastsent import LastSentTables
from streams.runtime.tablewriter import BatchedTable

log = logging.getLogger(__name__)


class Delivery:
    def __init__(
        self,
        topology: Topology,
        producer: Callable[[], AIOKafkaProducer],
        *,
        max_backlog: int = 20_000,
    ) -> None:
        self.topology = topology
        self.max_backlog = max_backlog
        self.dispatchers: dict[str, Dispatcher] = {}
        self._shares: dict[str, float] = {}  # sink → this worker's part of the account
        self._registered: list[str] = []
        # What this worker owned at its last assignment, and in which group generation: what
        # the sinks last wrote is only known while no other worker wrote to those people.
        self._owned: set[tuple[str, int]] = set()
        self._generation: int | None = None
        self._partitions = int(next(iter(topology.topics.values())).partitions or 1)
        self._producer_fn = producer
        self.sinks: dict[str, Sink] = {}
        self.sinks_ready = asyncio.Event()
        self.delivering_since: dict[str, float] = {}
        self.delivered: dict[str, BatchedTable[bytes]] = {}
        self.last_sent = LastSentTables(topology.last_sent, producer)  # for `state show`
        #: erased people's actions dropped, every outcome audited (streams/runtime/audit.py)
        self.privacy = DeliveryPrivacy(topology.topics["audit"].get_topic_name(), producer)
        self._agents: list[Any] = []

        @topology.app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def share_budgets(sender: Any, assigned: Any, **kwargs: Any) -> None:
            self.on_assigned(assigned)

        self._agents.append(share_budgets)

    def delivered_table(self, sink: str) -> BatchedTable[bytes]:
        """The delivered-ids writer of one sink's agent (one writer per BatchedTable)."""
        table = self.delivered.get(sink)
        if table is None:
            table = BatchedTable(
                self.topology.delivered, self._producer_fn, decode=bytes, encode=bytes
            )
            self.delivered[sink] = table
        return table

    def forget(self) -> None:
        """After a rebalance the recovered store is the truth: drop decoded caches."""
        for delivered in self.delivered.values():
            delivered.forget()
        self.last_sent.forget()

    def register(self, sink_name: str) -> None:
        app = self.topology.app
        self._registered.append(sink_name)

        @app.agent(self.topology.topics[f"out.{sink_name}"], name=f"deliver-{sink_name}")
        async def deliver_agent(stream: faust.StreamT[bytes]) -> None:
            try:
                async for event in stream.events():
                    actions = decode_action_batch(event.value)
                    # Sinks need the running loop (HTTP sessions): built by the web service.
                    await self.sinks_ready.wait()
                    actions = await self.privacy.admit(actions)  # erased people: dropped
                    # Finished later, by the dispatcher: Faust's ack waits for it (acks.py).
                    acks.begin(event.message)
                    await self.dispatcher(sink_name).submit(
                        event.message, event.message.partition, actions
                    )
            finally:
                dispatcher = self.dispatchers.pop(sink_name, None)
                if dispatcher is not None:
                    dispatcher.stop()

        self._agents.append(deliver_agent)

    def dispatcher(self, sink_name: str) -> Dispatcher:
        """The sink's dispatcher (streams/runtime/dispatch.py), made on first use."""
        found = self.dispatchers.get(sink_name)
        if found is not None:
            return found
        sink = self.sinks[sink_name]
        self._share_budget(sink_name)
        app = self.topology.app

        async def checkpoint(by_action: PartitionOf, by_customer: PartitionOf) -> None:
            suffixes = (f"|{sink_name}|as_of", f"|{sink_name}")

            def customer_partition(customer: str) -> int:
                found = by_customer(customer)
                return found if found is not None else partition_for(customer, self._partitions)

            def last_sent_partition(key: str) -> int:
                for suffix in suffixes:
                    if key.endswith(suffix):
                        return customer_partition(key[: -len(suffix)])
                return customer_partition(key)

            def delivered_partition(action_id: str) -> int:
                found = by_action(action_id)
                if found is not None:
                    return found
                return partition_for(action_id, self._partitions)

            # What was last sent where (`state show`): before the ids it explains.
            await self.last_sent.writer(sink_name).checkpoint(last_sent_partition)
            await self.delivered_table(sink_name).checkpoint(delivered_partition)

        def stale(count: int) -> None:
            metrics.STALE_WRITES.labels(sink_name).inc(count)

        dispatcher = Dispatcher(
            sink,
            order=self.last_sent.write_order(sink_name),
            record_outcomes=lambda outcomes: self.last_sent.record(sink_name, outcomes),
            checkpoint=checkpoint,
            handled=acks.mark_handled,
            abandoned=acks.abandon,
            # Faust suspends the flow for a rebalance (before it waits for unfinished records)
            # and resumes it after seeking every partition to its committed offset: records
            # abandoned while it is suspended are read again. (`app.rebalancing` stays set
            # until after the resume: records taken then must not be abandoned.)
            halted=lambda: not app.flow_control.is_active() or bool(app.should_stop),
            since=self.delivering_since,
            on_stale=stale,
            audit=lambda partition, handed, outcomes: self.privacy.audit(
                sink, partition, handed, outcomes
            ),
            max_backlog=self.max_backlog,
        )
        self.dispatchers[sink_name] = dispatcher
        return dispatcher

    # -- the account's rate budget, shared by the group ---------------------------------------

    def on_assigned(self, assigned: Iterable[Any]) -> None:
        """Each worker spends the share of a platform account's budget that its part of the
        sink's out-topic partitions is: the group together stays within the limit."""
        topics = {
            sink_name: self.topology.topics[f"out.{sink_name}"].get_topic_name()
            for sink_name in self._registered
        }
        owned = {
            (tp.topic, tp.partition) for tp in assigned if tp.topic in topics.values()
        }
        self._check_last_written(owned)
        for sink_name, topic in topics.items():
            mine = sum(1 for owned_topic, _ in owned if owned_topic == topic)
            self._shares[sink_name] = mine / self._partitions
        for sink_name in self.sinks:
            self._share_budget(sink_name)

    def _check_last_written(self, owned: set[tuple[str, int]]) -> None:
        """Forget what the sinks last wrote when another worker may have written to our
        people since: this worker gained a partition, or missed a group generation (it was
        out of the group while others owned its partitions). A rebalance that hands a worker
        back exactly what it had, in the next generation, keeps the memory: a value equal to
        the last one written is still not sent again."""
        generation = getattr(self.topology.app, "consumer_generation_id", None)
        continuous = (
            isinstance(generation, int) and self._generation is not None
            and generation == self._generation + 1
        )
        if not continuous or owned - self._owned:
            for sink in self.sinks.values():
                if sink.last_written is not None:
                    sink.last_written.clear()
        self._owned = owned
        self._generation = generation if isinstance(generation, int) else None

    def _share_budget(self, sink_name: str) -> None:
        share = self._shares.get(sink_name)
        sink = self.sinks.get(sink_name)
        if share is None or sink is None:
            return
        buckets = {id(b): b for b in (sink.bucket, getattr(sink, "app_bucket", None)) if b}
        for bucket in buckets.values():
            bucket.share(share)
        log.info("sink %s: %.0f%% of the account's rate budget", sink_name, share * 100)
