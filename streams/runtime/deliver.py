"""The deliver agents: one per enabled sink, from `out.<sink>` to the platform.

`Delivery` holds what they share with the rest of the worker: the sinks (built by the web
service once the event loop runs), the delivered-ids and last-sent table writers, and the
oldest action each sink is working on (exported as the backlog age).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from connectors.delivery.errors import SinkBackpressureError
from connectors.delivery.sink import Outcome, Sink
from contracts.actions import Action
from contracts.records import decode_action_batch
from streams.runtime import acks, metrics
from streams.runtime.audit import DeliveryPrivacy
from streams.runtime.faust_app import Topology
from streams.runtime.lastsent import LastSentTables
from streams.runtime.tablewriter import BatchedTable


class Delivery:
    def __init__(self, topology: Topology, producer: Callable[[], AIOKafkaProducer]) -> None:
        self.topology = topology
        self._producer_fn = producer
        self.sinks: dict[str, Sink] = {}
        self.sinks_ready = asyncio.Event()
        self.delivering_since: dict[str, float] = {}
        self.delivered: dict[str, BatchedTable[bytes]] = {}
        self.last_sent = LastSentTables(topology.last_sent, producer)  # for `state show`
        #: erased people's actions dropped, every outcome audited (streams/runtime/audit.py)
        self.privacy = DeliveryPrivacy(topology.topics["audit"].get_topic_name(), producer)
        self._agents: list[Any] = []

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

        @app.agent(self.topology.topics[f"out.{sink_name}"], name=f"deliver-{sink_name}")
        async def deliver_agent(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                actions = decode_action_batch(event.value)
                # Sinks need the running loop (HTTP sessions): built by the web service.
                await self.sinks_ready.wait()
                actions = await self.privacy.admit(actions)
                # Out-of-order records (a refetch, a replay) must not undo newer attribute
                # values on the platform (streams/writeorder.py).
                order = self.last_sent.write_order(sink_name)
                actions, stale = order.drop_stale(actions)
                if stale:
                    metrics.STALE_WRITES.labels(sink_name).inc(stale)
                outcomes = await self._deliver(self.sinks[sink_name], actions) if actions else []
                order.handed_over(actions)
                audited = await self.privacy.audit(
                    self.sinks[sink_name], event.message.partition, actions, outcomes
                )
                # What was last sent where (`state show`): before the ids it explains.
                self.last_sent.record(sink_name, outcomes)
                await self.last_sent.flush(sink_name, event.message.partition)
                delivered = self.delivered_table(sink_name)
                await delivered.persist(event.message.partition, delivered.take())
                await audited
                acks.mark_handled(event.message)

        self._agents.append(deliver_agent)

    async def _deliver(self, sink: Sink, actions: list[Action]) -> list[Outcome]:
        # Oldest action this sink is working on: a lag measure that needs no broker end
        # offsets (Tansu reports wrong ones); exported as supportsync_sink_backlog_age_seconds.
        self.delivering_since[sink.name] = min(a.created_at.timestamp() for a in actions)
        pending = actions
        outcomes: list[Outcome] = []
        try:
            while pending:
                try:
                    outcomes += (await sink.deliver(pending)).outcomes
                    return outcomes
                except SinkBackpressureError as exc:
                    outcomes += exc.report.outcomes if exc.report is not None else []
                    # Blocking here stops this agent's consumption (Faust pauses the partition
                    # once its buffer is full): the backlog stays in Kafka, not in memory.
                    pending = list(exc.remaining or [])
                    await asyncio.sleep(exc.retry_after or 1.0)
            return outcomes
        finally:
            self.delivering_since.pop(sink.name, None)
