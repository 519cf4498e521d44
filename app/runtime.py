"""`supportsync run`: the embedded broker (unless one is configured), topics, the Faust worker,
the webhook server and the sinks, in one process (SPEC S9)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from app.admin import build_admin_app
from app.config import SupportsyncConfig, load_config
from app.ingress.batcher import RawBatcher
from app.ingress.messages import MessageSource
from app.ingress.server import BodyBudget, WebhookEndpoint, build_web_app, handler_options
from app.ownwriters import configured_own_writers, learn_own_writers
from app.settings import Settings
from app.sinks import make_sinks, requester_directory
from app.status.privacy import privacy_routes
from app.status.routes import status_routes
from app.status.updater import BrokerInfo, StatusUpdater
from connectors.customerio.webhook import CustomerIOWebhooks
from connectors.delivery.dlq import DeadLetter
from connectors.delivery.sink import DeliveryObserver, Sink
from connectors.inbound import WebhookSource
from connectors.intercom.webhook import IntercomWebhooks
from connectors.pipelines.api import PATHS as PIPELINES_PATHS
from connectors.pipelines.api import PipelinesAPI
from connectors.zendesk.webhook import ZendeskWebhooks
from streams.recipes import RecipeRouter
from streams.runtime import kafka, metrics
from streams.runtime.agents import Pipeline
from streams.runtime.broker import EmbeddedBroker, ensure_topics
from streams.runtime.delivered import TableDeliveredStore
from streams.runtime.faust_app import SINKS, Topology, build_app, topic_names
from streams.runtime.normalizers import envelope_normalizer
from streams.runtime.tablewriter import BatchedTable

log = logging.getLogger(__name__)


class MetricsObserver(DeliveryObserver):
    """Sink outcomes as Prometheus series. `modes` (sink -> "live" | "dry_run") is filled once
    the sinks exist: a dry-run sink makes no requests, its outbox writes count as deliveries."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}

    def track(self, sinks: dict[str, Sink]) -> None:
        """Record each sink's mode and create its series at 0, so every panel and the status
        page list a configured sink before its first action (and an idle one stays listed)."""
        for name, sink in sinks.items():
            mode = "dry_run" if sink.dry_run else "live"
            self.modes[name] = mode
            metrics.SINK_MODE.labels(name, mode).set(1)
            metrics.SINK_DELIVERIES.labels(name, mode)
            metrics.SINK_RETRIES.labels(name)
            metrics.RATE_LIMIT_WAIT.labels(name)
            metrics.SINK_BACKLOG_AGE.labels(name).set(0)

    def request(self, sink: str, operation: str, outcome: str, seconds: float) -> None:
        metrics.SINK_REQUESTS.labels(sink, operation, outcome).inc()
        metrics.SINK_LATENCY.labels(sink, operation).observe(seconds)

    def retry(self, sink: str, operation: str, error: Exception) -> None:
        metrics.SINK_RETRIES.labels(sink).inc()

    def dead_letter(self, sink: str, reason: str) -> None:
        metrics.DLQ.labels(f"sink:{sink}", sink, reason).inc()

    def delivered(self, sink: str, operation: str, priority: str, latency: float | None) -> None:
        metrics.SINK_DELIVERIES.labels(sink, self.modes.get(sink, "live")).inc()
        if latency is not None:
            metrics.DELIVERY_LATENCY.labels(sink, priority).observe(max(latency, 0.0))


class TopicDeadLetters:
    """Sink dead letters go to the dlq topic (and are counted)."""

    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def write(self, dead_letter: DeadLetter) -> None:
        await self._topic.send(key=dead_letter.action.sink.encode(), value=dead_letter.to_json())


def webhook_sources(settings: Settings) -> dict[str, WebhookSource | MessageSource]:
    """Every inbound endpoint of an enabled source, by path (SPEC S2.1). The settings made
    sure each has its secret (or generated one in embedded mode)."""
    sources: dict[str, WebhookSource | MessageSource] = {}
    tolerance = settings.signature_tolerance_s
    enabled = set(settings.source_names)
    # Every secret setting may list several (comma-separated): any of them is accepted.
    zendesk = settings.secret_values("zendesk_webhook_secret")
    if zendesk and "zendesk" in enabled:
        sources["/webhooks/zendesk"] = ZendeskWebhooks(zendesk, tolerance)
    intercom = settings.secret_values("intercom_client_secret")
    if intercom and "intercom" in enabled:
        sources["/webhooks/intercom"] = IntercomWebhooks(intercom)
    customerio = settings.secret_values("customerio_webhook_signing_key")
    if customerio and "customerio" in enabled:
        sources["/webhooks/customerio"] = CustomerIOWebhooks(customerio, tolerance)
    write_keys = settings.secret_values("pipelines_write_key")
    if write_keys and "pipelines" in enabled:
        api = PipelinesAPI(write_keys)
        sources.update({path: api for path in PIPELINES_PATHS})
    return sources


def build_sinks(
    settings: Settings,
    topology: Topology,
    session: aiohttp.ClientSession,
    delivered: Callable[[str], BatchedTable[bytes]],
) -> dict[str, Sink]:
    store = TableDeliveredStore(delivered)
    observer = MetricsObserver()
    sinks = make_sinks(
        settings,
        session,
        store=store,
        dead_letters=TopicDeadLetters(topology.topics["dlq"]),
        observer=observer,
    )
    observer.track(sinks)
    return sinks


class WebService(kafka.Service):
    """The HTTP server, the raw-topic producer and the sinks' HTTP session."""

    def __init__(
        self, settings: Settings, bootstrap_servers: str, pipeline: Pipeline, **kw: Any
    ) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.pipeline = pipeline
        self.producer: kafka.AIOKafkaProducer | None = None
        self.batcher: RawBatcher | None = None
        self.runner: web.AppRunner | None = None
        self.admin_runner: web.AppRunner | None = None
        self.admin_port: int | None = None
        self.ingress_paths = 0
        self.session: aiohttp.ClientSession | None = None
        self.port: int | None = None
        super().__init__(**kw)

    async def healthy(self) -> tuple[bool, dict[str, Any]]:
        """Readiness (`/readyz`): partitions owned, not rebalancing, sinks built."""
        app = self.pipeline.topology.app
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        # No endpoint means every webhook would get a 404: that is not a working ingress.
        ok = (
            assigned > 0 and not app.rebalancing and self.pipeline.delivery.sinks_ready.is_set()
            and self.ingress_paths > 0
        )
        return ok, {
            "assigned_partitions": assigned, "rebalancing": bool(app.rebalancing),
            "ingress_paths": self.ingress_paths,
        }

    async def alive(self) -> tuple[bool, dict[str, Any]]:
        """Liveness (`/healthz`): the worker has neither crashed nor begun to stop; a
        rebalance is no reason to restart it."""
        app = self.pipeline.topology.app
        # Serving no webhook path at all (SUPPORTSYNC_SOURCES empty) is not ok either: every
        # webhook would get a 404 while the platforms believe it is delivered somewhere.
        ok = not app.crashed and not app.should_stop and self.ingress_paths > 0
        ready, detail = await self.healthy()
        return ok, {"ready": ready, **detail}

    async def on_start(self) -> None:
        # Runs after table recovery: what exists now lives for the whole process. Freezing it
        # and collecting young objects less often cuts the garbage collector's share of the
        # per-event CPU (about a third of the pure path, measured): the hot path allocates
        # many short-lived objects but creates few reference cycles.
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        s = self.settings
        self.session = aiohttp.ClientSession()
        await learn_own_writers(s, self.session, self.pipeline.own_writers)
        delivery = self.pipeline.delivery
        delivery.sinks = build_sinks(
            s, self.pipeline.topology, self.session, delivery.delivered_table
        )
        directory = requester_directory(s, self.session)
        if directory is not None:  # Zendesk credentials: look requesters up before identity
            self.pipeline.enrich = directory.enrich
        delivery.sinks_ready.set()
        self.producer = kafka.producer(
            self.bootstrap_servers,
            acks="all",
            linger_ms=0,
            request_timeout_ms=5000,
            max_batch_size=s.kafka_max_request_bytes,
            max_request_size=s.kafka_max_request_bytes,
        )
        await self.producer.start()
        names = topic_names(s)
        self.batcher = RawBatcher(
            self.producer,
            lambda source: names[f"raw.{source}"],
            s.partitions,
            linger_s=s.ingress_linger_ms / 1000.0,
            min_interval_s=s.ingress_record_interval_ms / 1000.0,
            behind=self.pipeline.backlog.behind,
            max_batch=s.ingress_max_batch,
            max_record_bytes=s.kafka_max_request_bytes,
        )
        budget = BodyBudget(s.ingress_max_buffered_bytes)
        endpoints = {
            path: WebhookEndpoint(
                source, self.batcher, s.max_body_bytes, budget, s.web_body_timeout_s
            )
            for path, source in webhook_sources(s).items()
        }
        self.ingress_paths = len(endpoints)
        updater = StatusUpdater(
            self.pipeline, s.partitions, state_version=s.state_version,
            broker=BrokerInfo(embedded=s.embedded, bootstrap=self.bootstrap_servers),
        )
        await self.add_runtime_dependency(updater)
        web_app = build_web_app(
            endpoints, self.healthy, max_body_bytes=s.max_body_bytes,
            liveness=self.alive,
        )
        self.runner = web.AppRunner(
            web_app, access_log=None, **handler_options(s.web_header_timeout_s)
        )
        self.port = await _listen(self.runner, s.web_host, s.web_port)
        log.info("webhook server listening on http://%s:%s", s.web_host, self.port)
        admin_app = build_admin_app(
            self.healthy,
            status_routes(updater) + privacy_routes(self.pipeline, s.partitions),
            token=s.admin_token.get_secret_value() if s.admin_token is not None else None,
            allowed_hosts=s.admin_allowed_hosts.split(","),
        )
        self.admin_runner = web.AppRunner(
            admin_app, access_log=None, **handler_options(s.web_header_timeout_s)
        )
        self.admin_port = await _listen(self.admin_runner, s.admin_host, s.admin_port)
        log.info("admin listener (status page, /state, /metrics) on http://%s:%s%s",
                 s.admin_host, self.admin_port, "" if s.admin_token is None else ", token required")

    async def on_stop(self) -> None:
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.batcher is not None:
            await self.batcher.flush_all()
        if self.producer is not None:
            await self.producer.stop()
        if self.session is not None:
            await self.session.close()


async def _listen(runner: web.AppRunner, host: str, port: int) -> int:
    """Start `runner` on host:port; the port actually bound (port 0 picks a free one)."""
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound: int = sockets[0].getsockname()[1] if sockets else port
    return bound


def build_worker(
    settings: Settings,
    bootstrap_servers: str,
    *,
    clock: Any = time.time,
    config: SupportsyncConfig | None = None,
) -> tuple[Topology, Pipeline, WebService]:
    config = config if config is not None else load_config()  # supportsync.yaml (recipes)
    topology = build_app(settings, bootstrap_servers)
    router = RecipeRouter(
        config.recipes, identifier=settings.customerio_identifier, horizon=config.one_off_horizon,
        sinks=frozenset(settings.destination_names),
    )
    pipeline = Pipeline(
        topology,
        state_config=config.state_config(),
        router=router,
        sink_names=settings.sink_names,
        partitions=settings.partitions,
        clock=clock,
        own_writers=configured_own_writers(settings),
        max_record_bytes=settings.kafka_max_request_bytes,
        normalize=envelope_normalizer(
            zendesk_reason=config.sources.zendesk.reason_rule(),
            intercom_reason=config.sources.intercom.reason_rule(),
        ),
    )
    web_service = WebService(settings, bootstrap_servers, pipeline)
    topology.app.service(web_service)  # type: ignore[arg-type]
    return topology, pipeline, web_service


def prepare(settings: Settings) -> tuple[str, EmbeddedBroker | None]:
    """Start the embedded broker when none is configured; create every topic."""
    broker: EmbeddedBroker | None = None
    if settings.embedded:
        broker = EmbeddedBroker(log_path=settings.data_dir / "broker.log").start()
        bootstrap = broker.bootstrap_servers
    else:
        assert settings.kafka_bootstrap_servers is not None
        bootstrap = settings.kafka_bootstrap_servers
    try:
        names = topic_names(settings)
        asyncio.run(ensure_topics(
            bootstrap, names.values(), settings.partitions, compacted=[names["erasures"]]
        ))
    except BaseException:
        if broker is not None:
            broker.stop()
        raise
    return bootstrap, broker


__all__ = ["SINKS", "build_worker", "prepare"]
