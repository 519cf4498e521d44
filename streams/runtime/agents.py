"""The Faust agents: thin shells that decode a batch, call `streams.stages`, and produce.

    raw.<source>        ──ingest──▶  events.by-customer (one record per target partition)
    events.by-customer  ──apply───▶  transitions, out.<sink> (same partition number)
    out.<sink>          ──deliver─▶  the platform (via connectors.*.sink)

Timers: the apply agent keeps one DueIndex per partition. A Faust timer only *sends a tick
record* to a partition whose next deadline has passed; expiry runs inside the apply agent's
stream iteration, so table writes have a source partition and are ordered with events.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from contracts.actions import Action
from contracts.deadletters import StageDeadLetter
from contracts.partitioner import partition_for
from contracts.records import (
    Absorb,
    Erase,
    EventItems,
    MergeIn,
    Reroute,
    RoutedEvent,
    Tick,
    decode_by_customer,
    encode_absorb,
    encode_action_batch,
    encode_event_batch,
    encode_tick,
    encode_transition_batch,
)
from streams import merging
from streams.ownwrites import OwnWriters
from streams.routing import Router
from streams.runtime import acks, metrics
from streams.runtime.backlog import PipelineBacklog
from streams.runtime.deliver import Delivery
from streams.runtime.erasures import ErasureFollower, tombstone
from streams.runtime.faust_app import SINKS, Topology
from streams.runtime.inflight import InFlight
from streams.runtime.lastsent import entry_key
from streams.runtime.normalizers import (
    Enrich,
    NormalizeEnvelope,
    enriched_normalizer,
    normalize_envelope,
)
from streams.runtime.partitionwriter import PartitionWriter, send_fitting
from streams.runtime.tablewriter import BatchedTable
from streams.stages import (
    ApplyResult,
    apply_batch,
    decode_event_record,
    decode_raw_record,
    expire_due,
    ingest,
    reroute,
)
from streams.state.census import StateCensus
from streams.state.config import StateConfig
from streams.state.machine import next_deadline
from streams.state.model import SupportState
from streams.state.timers import DueIndex
from streams.writeorder import as_of_key

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Pipeline:
    """Registers the agents on `topology.app`; holds per-partition timer indexes."""

    def __init__(
        self,
        topology: Topology,
        *,
        state_config: StateConfig,
        router: Router,
        sink_names: tuple[str, ...],
        partitions: int,
        clock: Clock,
        tick_interval: float = 1.0,
        own_writers: OwnWriters | None = None,
        max_record_bytes: int = 1_000_000,
        normalize: NormalizeEnvelope = normalize_envelope,
    ) -> None:
        self.topology = topology
        #: who supportsync writes as (filled in further at start, see app.runtime)
        self.own_writers = own_writers if own_writers is not None else OwnWriters()
        # Room for the key and Kafka's record overhead below the producers' request limit.
        self.max_value_bytes = max_record_bytes - 1024
        self.normalize = normalize
        #: completes normalized events before identity (a Zendesk requester's email); set
        #: by the application once its HTTP session exists
        self.enrich: Enrich | None = None
        self.state_config = state_config
        self.router = router
        self.sink_names = sink_names
        self.partitions = partitions
        self.clock = clock
        self.due: dict[int, DueIndex] = {}
        self.census = StateCensus()
        self.states: BatchedTable[SupportState] = BatchedTable(
            topology.state,
            lambda: topology.app.producer._producer,  # type: ignore[attr-defined]
            decode=SupportState.from_bytes,
            encode=SupportState.to_bytes,
        )
        producer = lambda: topology.app.producer._producer  # type: ignore[attr-defined]  # noqa: E731
        self.identity: BatchedTable[str] = BatchedTable(
            topology.identity, producer, decode=bytes.decode, encode=str.encode
        )
        self.delivery = Delivery(topology, producer)
        #: the deny list of erased people (streams/erasure.py), shared with the deliver agents
        self.erasures = ErasureFollower(topology.topics["erasures"].get_topic_name(), partitions)
        self.delivery.privacy.follow(self.erasures.deny, self.erasures.ready)
        by_customer = topology.topics["events.by-customer"]

        async def send_by_customer(partition: int, key: bytes, value: bytes) -> Any:
            return await by_customer.send(key=key, value=value, partition=partition)

        #: ingest's output: one record per partition in flight, the rest batched behind it
        self.by_customer: PartitionWriter[RoutedEvent] = PartitionWriter(
            send_by_customer, encode=encode_event_batch, key_of=lambda item: item[0].encode(),
            limit_bytes=self.max_value_bytes, too_large=self._too_large, name="by-customer",
        )
        #: whether the apply agent is behind; the ingress batches harder while it is
        self.backlog = PipelineBacklog()
        self.ingest_flight = InFlight("ingest", on_failure=self._stop_worker)
        self.apply_flight = InFlight("apply", on_failure=self._stop_worker)
        self.processed_records = 0
        self._register(tick_interval)

    async def _stop_worker(self, exc: BaseException) -> None:
        await self.topology.app.crash(exc)

    async def _failed(self, stage: str, message: Any, exc: Exception) -> None:
        # Poison input becomes dead letters inside the stages; what escapes is a bug or a
        # refused write. Faust would restart the agent past the record and the partition
        # would wait for it forever: stop instead, so it is read again on restart.
        acks.abandon(message)
        log.error("%s: processing a record failed (%s: %s); stopping so it is read again",
                  stage, type(exc).__name__, exc)
        await self._stop_worker(exc)

    # -- table accessors -------------------------------------------------------------------

    def _lookup(self, identifier: str) -> str | None:
        return self.identity.get(identifier)

    def _link(self, identifier: str, customer_key: str) -> None:
        self.identity.set(identifier, customer_key)

    def _get_state(self, key: str) -> SupportState | None:
        return self.states.get(key)

    def _put_state(self, key: str, state: SupportState) -> None:
        self.census.change(partition_for(key, self.partitions), self.states.get(key), state)
        self.states.set(key, state)

    def ensure_partition(self, partition: int) -> None:
        """After an assignment, one pass over the partition's recovered states builds its
        timer index and census; afterwards both are kept up to date on every write."""
        if partition in self.due and self.census.has(partition):
            return
        index = DueIndex()
        states: list[SupportState] = []
        for raw_key, raw_state in self.topology.state.data.items():
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            if partition_for(key, self.partitions) == partition:
                state = SupportState.from_bytes(raw_state)
                index.schedule(key, next_deadline(state, self.state_config))
                states.append(state)
        self.due[partition] = index
        self.census.rebuild(partition, states)

    def _due_index(self, partition: int) -> DueIndex:
        self.ensure_partition(partition)
        return self.due[partition]

    # -- producing -------------------------------------------------------------------------

    async def _dead_letter(self, letters: list[StageDeadLetter]) -> list[Any]:
        """Send dead letters; their futures are among the record's effects (a dead letter is
        the only record of its input: the record is finished only once it is kept)."""
        topic = self.topology.topics["dlq"]
        futures = []
        for letter in letters:
            metrics.DLQ.labels(letter.stage, letter.source or "", letter.reason).inc()
            log.warning("dead letter from %s: %s", letter.stage, letter.reason)
            futures.append(await topic.send(key=letter.stage.encode(), value=letter.to_json()))
        return futures

    async def _too_large(self, items: list[RoutedEvent]) -> list[Any]:
        return await self._dead_letter([
            StageDeadLetter(
                stage="ingest", reason="event_too_large", source=event.source,
                detail=f"event over {self.max_value_bytes} bytes encoded",
                record={"customer_key": key, "event_id": event.event_id},
            )
            for key, event, _ in items
        ])

    async def _send_fitting(
        self,
        topic: str,
        partition: int,
        items: list[Any],
        encode: Callable[[list[Any]], bytes],
        key_of: Callable[[Any], str],
    ) -> list[Any]:
        """`items` as records under the size limit (a big input record's output would not
        fit in one); an item too large even alone becomes a dead letter."""
        out = self.topology.topics[topic]

        async def send(partition: int, key: bytes, value: bytes) -> Any:
            return await out.send(key=key, value=value, partition=partition)

        async def dead_letters(oversized: list[Any]) -> list[Any]:
            return await self._dead_letter([
                StageDeadLetter(
                    stage="apply", reason="output_too_large",
                    detail=f"{topic} record over {self.max_value_bytes} bytes encoded",
                    record={
                        "customer_key": key_of(item),
                        # which output (an action or a transition) and what caused it
                        "id": getattr(item, "action_id", None)
                        or getattr(item, "transition_id", None),
                        "causing_event_id": getattr(item, "causing_event_id", None),
                    },
                )
                for item in oversized
            ])

        return await send_fitting(
            send, partition, items, encode=encode, key_of=lambda item: key_of(item).encode(),
            limit_bytes=self.max_value_bytes, too_large=dead_letters,
        )

    async def _emit(self, partition: int, result: ApplyResult) -> list[Any]:
        """Produce transitions, actions, dead letters and forwards; their futures, which the
        broker resolves later (the new state is written only after them, see `_apply`)."""
        topics = self.topology.topics
        acks: list[Any] = []
        if result.transitions:
            acks += await self._send_fitting(
                "transitions", partition, result.transitions, encode_transition_batch,
                lambda t: t.customer_key,
            )
            for (old, new), count in Counter(
                (t.old_state or "none", t.new_state or "none")
                for t in result.transitions if t.kind == "support_state_changed"
            ).items():
                metrics.TRANSITIONS.labels(old, new).inc(count)
        by_sink: dict[str, list[Action]] = defaultdict(list)
        for action in result.actions:
            by_sink[action.sink].append(action)
        for (routed_to, operation), count in Counter(
            (a.sink, a.operation) for a in result.actions
        ).items():
            metrics.ACTIONS_ROUTED.labels(routed_to, operation).inc(count)
        for sink, actions in by_sink.items():
            acks += await self._send_fitting(
                f"out.{sink}", partition, actions, encode_action_batch, lambda a: a.customer_key
            )
        if result.dead_letters:
            acks += await self._dead_letter(result.dead_letters)
        for survivor, event, received in result.forwards:
            acks.append(await topics["events.by-customer"].send(
                key=survivor.encode(),
                value=encode_event_batch([(survivor, event, received)]),
                partition=partition_for(survivor, self.partitions),
            ))
        for survivor, record in result.forwarded_merges:
            acks.append(await topics["events.by-customer"].send(
                key=survivor.encode(), value=record,
                partition=partition_for(survivor, self.partitions),
            ))
        index = self._due_index(partition)
        for key, due in result.deadlines.items():
            index.schedule(key, due)
        return acks

    # -- agents ----------------------------------------------------------------------------

    def _register(self, tick_interval: float) -> None:
        app = self.topology.app
        topics = self.topology.topics
        raw = app.topic(*[t.get_topic_name() for k, t in topics.items() if k.startswith("raw.")],
                        key_type=bytes, value_type=bytes)

        # Each agent hands a processed record to its InFlight and takes the next one; the
        # record is finished (state written, offset committable) once its effects are acked.
        @app.agent(raw, name="ingest")
        async def ingest_agent(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                if not self.erasures.ready.is_set():  # the deny list first (streams/erasure.py)
                    await self.erasures.ready.wait()
                message = event.message
                acks.begin(message)
                try:
                    effects = await self._ingest(message.partition, event.value)
                except Exception as exc:
                    await self._failed("ingest", message, exc)
                    raise
                await self.ingest_flight.add(
                    message, message.partition, effects, [(self.identity, self.identity.take())]
                )

        @app.agent(topics["events.by-customer"], name="apply")
        async def apply_agent(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                if not self.erasures.ready.is_set():
                    await self.erasures.ready.wait()
                message = event.message
                acks.begin(message)
                try:
                    effects = await self._apply(message.partition, event.value)
                except Exception as exc:
                    await self._failed("apply", message, exc)
                    raise
                await self.apply_flight.add(
                    message, message.partition, effects, [(self.states, self.states.take())]
                )

        for sink_name in self.sink_names:
            self.delivery.register(sink_name)

        @app.task  # type: ignore[untyped-decorator]
        async def follow_erasures() -> None:
            await self._follow_erasures()

        @app.timer(interval=tick_interval)  # type: ignore[untyped-decorator]
        async def tick_due_partitions() -> None:
            now = self.clock()
            when = datetime.fromtimestamp(now, UTC)
            for partition, index in list(self.due.items()):
                due = index.next_due()
                if due is not None and due <= when:
                    await topics["events.by-customer"].send(
                        key=b"tick", value=encode_tick(now),
                        partition=partition,
                    )

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def forget_partitions(sender: Any, revoked: Any, **kwargs: Any) -> None:
            # After a rebalance the recovered store is the truth: drop decoded caches and
            # timer indexes (they are rebuilt from the store on first use).
            self.states.forget()
            self.identity.forget()
            self.delivery.forget()
            self.due.clear()
            self.census.forget()

        self._agents: list[Any] = [
            ingest_agent, apply_agent, tick_due_partitions, forget_partitions, follow_erasures,
        ]

    async def _follow_erasures(self) -> None:
        """Keep the deny list (retried: without it no agent may start)."""
        while True:
            try:
                await self.erasures.run(self.topology.bootstrap_servers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broker hiccup: read the topic again
                log.warning("reading the erasures topic failed (%s: %s); retrying",
                            type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _ingest(self, partition: int, value: bytes) -> list[Any]:
        envelopes, undecodable = decode_raw_record(value)
        normalize = self.normalize
        if self.enrich is not None:
            normalize = await enriched_normalizer(envelopes, normalize, self.enrich)
        deny = self.erasures.deny
        result = ingest(
            envelopes, normalize=normalize, lookup=self._lookup, link=self._link,
            partitions=self.partitions, own_writers=self.own_writers,
            denied=deny.denies_event if deny else None,
        )
        if result.erased:
            metrics.EVENTS_ERASED.labels("ingest").inc(result.erased)
        result.dead_letters.extend(undecodable)
        for source, count in result.unhandled.items():
            metrics.EVENTS_UNHANDLED.labels(source).inc(count)
        for (source, kind), count in result.own_writes.items():
            metrics.OWN_WRITES_DROPPED.labels(source, kind).inc(count)
        acks: list[Any] = [
            self.by_customer.add(partition, items)
            for partition, items in result.by_partition.items()
        ]
        if result.dead_letters:
            acks += await self._dead_letter(result.dead_letters)
        for absorbed, survivor, event in result.merges:
            # After the absorbed key's events already waiting for its partition. Any order
            # with the event works: merge_states gives the same merged state.
            acks.append(self.by_customer.add_record(
                partition_for(absorbed, self.partitions), absorbed.encode(),
                encode_absorb(absorbed, survivor, event.event_id, event.occurred_at),
            ))
        # Acknowledged before the raw offset is committed (InFlight): nothing accepted is lost.
        self.processed_records += 1
        return acks

    async def _apply(self, partition: int, value: bytes) -> list[Any]:
        undecodable: list[StageDeadLetter] = []
        try:
            record = decode_by_customer(value)  # parsed once, whichever of the four it is
        except Exception:  # noqa: BLE001 - item by item instead: one bad item costs only itself
            items, undecodable = decode_event_record(value)
            record = EventItems(items)
        if isinstance(record, Absorb):
            forward = merging.absorb(
                record.command, get_state=self._get_state, put_state=self._put_state
            )
            result = ApplyResult()
            if forward is not None:
                result.forwarded_merges.append(forward)
        elif isinstance(record, MergeIn):
            result = merging.merge_in(
                record.command, get_state=self._get_state, put_state=self._put_state,
                config=self.state_config, router=self.router,
            )
            _count_parking(result)
        elif isinstance(record, Reroute):
            result = reroute(record.command, get_state=self._get_state, router=self.router)
        elif isinstance(record, Erase):
            return await self._erase(partition, record)
        elif isinstance(record, Tick):
            when = datetime.fromtimestamp(record.at, UTC)
            keys = self._due_index(partition).pop_due(when)
            result = expire_due(
                keys, when, get_state=self._get_state, put_state=self._put_state,
                config=self.state_config, router=self.router,
            )
        else:
            items = record.items
            deny = self.erasures.deny
            if deny:  # in flight when the person was erased (streams/erasure.py)
                kept = [i for i in items if not deny.denies_key(i[0], i[1].occurred_at)]
                if len(kept) < len(items):
                    metrics.EVENTS_ERASED.labels("apply").inc(len(items) - len(kept))
                    items = kept
            result = apply_batch(
                items, get_state=self._get_state, put_state=self._put_state,
                config=self.state_config, router=self.router,
            )
            result.dead_letters.extend(undecodable)
            metrics.EVENTS_DUPLICATE.inc(result.duplicates)
            _count_parking(result)
            kinds = Counter(event.kind.value for _, event, _ in items)
            for kind, count in kinds.items():
                metrics.EVENTS_PROCESSED.labels(kind).inc(count)
            for _, event, received in reversed(items):
                if event.origin == "live":  # backfilled events keep their old receipt time
                    self.backlog.observe(received)
                    break
        # Effects first, state second: a crash in between replays the record against the old
        # state, which re-derives the same transitions and action ids (sinks drop repeats).
        # The other order would mark the event processed and lose its actions.
        metrics.publish_tally(self.router.tally.drain())
        effects = await self._emit(partition, result)
        self.processed_records += 1
        return effects

    async def _erase(self, partition: int, command: Erase) -> list[Any]:
        """Remove an erased customer from this partition: its state (parked events included)
        in order with its events, its identity links on every partition of the global
        table's changelog, its last-sent entries and delivered ids (streams/erasure.py)."""
        key = command.customer_key
        before = self.states.get(key)
        if before is not None:
            self.states.delete(key)
        self.census.remove(partition, key, before)
        self._due_index(partition).schedule(key, None)
        producer = self.topology.app.producer._producer  # type: ignore[attr-defined]
        effects = await tombstone(
            producer, self.topology.identity, command.links, range(self.partitions)
        )
        for link in command.links:
            self.identity.discard(link)
        last_sent = [entry_key(key, s) for s in SINKS] + [as_of_key(key, s) for s in SINKS]
        last_sent = [k for k in last_sent if self.topology.last_sent.data.get(k.encode())]
        effects += await tombstone(producer, self.topology.last_sent, last_sent, [partition])
        self.delivery.last_sent.discard(last_sent)
        delivered = self.topology.delivered
        ids = [i for i in command.delivered if delivered.data.get(i.encode()) is not None]
        effects += await tombstone(producer, delivered, ids, [partition])
        for writer in self.delivery.delivered.values():
            for action_id in ids:
                writer.discard(action_id)
        metrics.ERASURES.inc()
        log.info("erased customer %s (%d identity entries)", key, len(command.links))
        self.processed_records += 1
        return effects


def _count_parking(result: ApplyResult) -> None:
    counts = result.parking
    for outcome, n in (
        ("parked", counts.parked), ("released", counts.released), ("overflow", counts.overflow)
    ):
        if n:
            metrics.EVENTS_PARKED.labels(outcome).inc(n)
