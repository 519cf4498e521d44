"""The worker's periodic status refresh: consumer lag, the state census, counter rates.

Started by the web service; every `interval` seconds it sets `supportsync_consumer_lag`,
`supportsync_customers`, `supportsync_open_tickets`, `supportsync_partitions_owned` and
`supportsync_rebalancing`, and samples counters for the status
page's rates. Everything runs on the worker's event loop between stream events.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from app.status.lag import consumer_lag
from app.status.page import Health, PageData
from app.status.snapshot import RateWindow, collect
from streams.runtime import metrics
from streams.runtime.agents import Pipeline
from streams.runtime.faust_app import Topology
from streams.runtime.kafka import ConsumerNotStarted, Service
from streams.state.census import CensusResult, StateCensus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerInfo:
    """Where the worker's broker is: the embedded Tansu (in memory) or a cluster."""

    embedded: bool
    bootstrap: str = ""


class StatusUpdater(Service):
    """Keeps the gauges the application cannot count on the hot path."""

    def __init__(
        self,
        pipeline: Pipeline,
        partitions: int,
        *,
        interval: float = 2.0,
        broker: BrokerInfo | None = None,
        state_version: str = "",
        **kw: Any,
    ) -> None:
        self.broker = broker or BrokerInfo(embedded=False)
        self.state_version = state_version
        self.pipeline = pipeline
        self.topology: Topology = pipeline.topology
        self.partitions = partitions
        self.interval = interval
        self.census: StateCensus = pipeline.census
        self.rates = RateWindow()
        self.last_census: CensusResult | None = None
        self.lag: dict[tuple[str, int], int] = {}
        super().__init__(**kw)

    @Service.task
    async def _refresh_forever(self) -> None:
        while not self.should_stop:
            await self.refresh()
            await self.sleep(self.interval)

    async def refresh(self) -> None:
        consumer = self.topology.app.consumer
        try:
            await self._update_lag(consumer)
            owned = self.owned_partitions(consumer)
        except ConsumerNotStarted:
            owned = set()
        self._update_census(owned)
        metrics.PARTITIONS_OWNED.set(len(owned))
        metrics.REBALANCING.set(1 if self.topology.app.rebalancing else 0)
        now = time.time()
        for sink in self.pipeline.sink_names:
            since = self.pipeline.delivery.delivering_since.get(sink)
            metrics.SINK_BACKLOG_AGE.labels(sink).set(0.0 if since is None else now - since)
        self.rates.sample(collect())

    def input_topics(self) -> set[str]:
        """The topics this worker's agents consume (not Faust's changelogs)."""
        return {topic.get_topic_name() for topic in self.topology.topics.values()}

    def health(self) -> Health:
        """What `/healthz` decides on, for the status page's banner."""
        app = self.topology.app
        consumer = app.consumer
        try:
            owned = self.owned_partitions(consumer) if consumer is not None else set()
        except ConsumerNotStarted:
            owned = set()
        rebalancing = bool(app.rebalancing)
        ok = bool(owned) and not rebalancing and self.pipeline.delivery.sinks_ready.is_set()
        return Health(
            ok=ok, owned=len(owned), partitions=self.partitions, rebalancing=rebalancing,
            version=metrics.version(), state_version=self.state_version,
            embedded=self.broker.embedded, bootstrap=self.broker.bootstrap,
        )

    def page_data(self) -> PageData:
        return PageData(
            samples=collect(), rates=self.rates.rates(), recent=self.census.recent(),
            health=self.health(),
        )

    async def _update_lag(self, consumer: Any) -> None:
        lag = await consumer_lag(consumer, self.input_topics())
        # Set the whole family at once (no await in between): a scrape never sees it half done.
        metrics.CONSUMER_LAG.clear()
        for (topic, partition), behind in lag.items():
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(behind)
        self.lag = lag

    def owned_partitions(self, consumer: Any) -> set[int]:
        topic = self.topology.topics["events.by-customer"].get_topic_name()
        return {tp.partition for tp in consumer.assignment() if tp.topic == topic}

    def _update_census(self, owned: set[int]) -> None:
        started = time.perf_counter()
        for partition in owned:
            # Only after an assignment: one pass over that partition's states.
            self.pipeline.ensure_partition(partition)
        result = self.census.result(lambda partition: partition in owned)
        metrics.STATUS_SCAN_SECONDS.observe(time.perf_counter() - started)
        for state, count in result.customers.items():
            metrics.CUSTOMERS_BY_STATE.labels(state).set(count)
        metrics.OPEN_TICKETS.set(result.open_tickets)
        self.last_census = result
