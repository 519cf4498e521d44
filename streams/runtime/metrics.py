"""Prometheus metrics (SPEC S8): base units, `_total` counters, `_seconds` histograms, and no
per-customer labels. Every name here is queried by the Grafana dashboard.

Counters export no `_created` series (they double the series count and no panel or alert
reads them); the registry also carries the process collector (`process_*`: CPU, memory,
open files) and `supportsync_build_info`."""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

from streams.tally import RecipeTally

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

#: SPEC S8: webhook accepted -> suppression confirmed by the sink, p99 within this.
SUPPRESSION_GOAL_SECONDS = 1.0


def version() -> str:
    """The installed supportsync version ("unknown" when run from a bare source tree)."""
    try:
        return metadata.version("supportsync")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO = Gauge(
    "supportsync_build_info",
    "Always 1; the labels say which build runs",
    ["version", "python"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version(), platform.python_version()).set(1)
SUPPRESSION_GOAL = Gauge(
    "supportsync_suppression_latency_goal_seconds",
    "The suppression latency goal (p99 of supportsync_delivery_latency_seconds)",
    registry=REGISTRY,
)
SUPPRESSION_GOAL.set(SUPPRESSION_GOAL_SECONDS)

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_RECEIVED = Counter(
    "supportsync_events_received_total", "Inbound requests received", ["source"], registry=REGISTRY
)
EVENTS_ACCEPTED = Counter(
    "supportsync_events_accepted_total",
    "Inbound requests acknowledged by the broker and answered 2xx",
    ["source"],
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "supportsync_events_rejected_total",
    "Inbound requests rejected, by reason",
    ["source", "reason"],
    registry=REGISTRY,
)
ADMIN_REJECTED = Counter(
    "supportsync_admin_rejected_total",
    "Requests refused by the admin listener: missing/wrong token, or a Host not allowed",
    ["reason"],
    registry=REGISTRY,
)
EVENTS_PROCESSED = Counter(
    "supportsync_events_processed_total",
    "Canonical events applied to the state, by kind",
    ["kind"],
    registry=REGISTRY,
)
EVENTS_UNHANDLED = Counter(
    "supportsync_events_unhandled_total",
    "Valid raw records of a type no normalizer maps (kept on the raw topic)",
    ["source"],
    registry=REGISTRY,
)
OWN_WRITES_DROPPED = Counter(
    "supportsync_own_writes_dropped_total",
    "Webhook events reporting a change supportsync's own API user/admin made, dropped",
    ["source", "kind"],
    registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "supportsync_events_duplicate_total",
    "Events ignored as already processed",
    registry=REGISTRY,
)
EVENTS_ERASED = Counter(
    "supportsync_events_erased_total",
    "Events and actions dropped because their person was erased after they happened "
    "(deny list), by stage (ingest, apply, deliver)",
    ["stage"],
    registry=REGISTRY,
)
ERASURES = Counter(
    "supportsync_erasures_total",
    "Customers erased (`supportsync forget`), counted where the state was removed",
    registry=REGISTRY,
)
AUDIT_RECORDS = Counter(
    "supportsync_audit_records_total",
    "Delivery outcomes written to the audit topic, by sink and outcome",
    ["sink", "outcome"],
    registry=REGISTRY,
)
EVENTS_PARKED = Counter(
    "supportsync_events_parked_total",
    "Events of customers that cannot be addressed yet: parked, released (applied once the "
    "identity arrived) or overflow (applied at once: the customer's parking was full)",
    ["outcome"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "supportsync_transitions_total",
    "support_state transitions",
    ["old_state", "new_state"],
    registry=REGISTRY,
)
CUSTOMERS_BY_STATE = Gauge(
    "supportsync_customers",
    "Customers by support_state (partitions owned by this worker)",
    ["support_state"],
    registry=REGISTRY,
)
OPEN_TICKETS = Gauge(
    "supportsync_open_tickets", "Open tickets and conversations held in state", registry=REGISTRY
)
ACTIONS_ROUTED = Counter(
    "supportsync_actions_total",
    "Actions produced by the routing rules, by sink and operation",
    ["sink", "operation"],
    registry=REGISTRY,
)
SINK_MODE = Gauge(
    "supportsync_sink_mode",
    "1 for the mode each configured sink runs in: live (platform API) or dry_run (outbox)",
    ["sink", "mode"],
    registry=REGISTRY,
)
SINK_DELIVERIES = Counter(
    "supportsync_sink_deliveries_total",
    "Requests confirmed by a sink: accepted by the platform (live) or written to the "
    "outbox (dry_run)",
    ["sink", "mode"],
    registry=REGISTRY,
)
SINK_REQUESTS = Counter(
    "supportsync_sink_requests_total",
    "Requests made by sinks, by outcome status",
    ["sink", "operation", "status"],
    registry=REGISTRY,
)
SINK_LATENCY = Histogram(
    "supportsync_sink_request_duration_seconds",
    "Duration of one sink request",
    ["sink", "operation"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "supportsync_rate_limit_wait_seconds_total",
    "Time sinks spent waiting for rate-limit tokens",
    ["sink"],
    registry=REGISTRY,
)
SINK_RETRIES = Counter(
    "supportsync_sink_retries_total", "Sink request retries", ["sink"], registry=REGISTRY
)
STALE_WRITES = Counter(
    "supportsync_stale_attribute_writes_total",
    "Attribute writes not sent: a newer write of the same attributes was already sent",
    ["sink"],
    registry=REGISTRY,
)
DLQ = Counter(
    "supportsync_dlq_total",
    "Dead letters written, by stage (normalize, identity, apply, route, sink:<name>), "
    "source (the inbound platform, or the sink) and reason",
    ["stage", "source", "reason"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "supportsync_consumer_lag",
    "Records behind the end of the partition (Tansu end offsets understate it)",
    ["topic", "partition"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "supportsync_delivery_latency_seconds",
    "Webhook receipt to the sink's confirmed delivery (the suppression SLO)",
    ["sink", "priority"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
REPLAY_RECORDS = Counter(
    "supportsync_replay_records_total",
    "Raw records reprocessed by `supportsync replay` (counted by the worker that applies "
    "them, so the worker's /metrics shows replay progress)",
    registry=REGISTRY,
)
STATUS_SCAN_SECONDS = Histogram(
    "supportsync_status_scan_duration_seconds",
    "Duration of one census of the state table (customers by state, open tickets)",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
SINK_BACKLOG_AGE = Gauge(
    "supportsync_sink_backlog_age_seconds",
    "Age of the oldest action a sink is delivering (0 when idle): its lag, independent of "
    "broker end offsets",
    ["sink"],
    registry=REGISTRY,
)


RECIPE_ACTIONS = Counter(
    "supportsync_recipe_actions_total",
    "Actions produced by routing, by recipe and sink",
    ["recipe", "sink"],
    registry=REGISTRY,
)
ONE_OFF_SKIPPED = Counter(
    "supportsync_recipe_one_off_skipped_total",
    "One-off actions of replayed/backfilled events older than the horizon (recorded, not sent)",
    ["recipe"],
    registry=REGISTRY,
)
REPORT_TICKETS = Counter(
    "supportsync_report_tickets_total",
    "Tickets and conversations opened/resolved, by helpdesk (R18)",
    ["source", "event"],
    registry=REGISTRY,
)
REPORT_RESOLUTION = Histogram(
    "supportsync_report_resolution_seconds",
    "Time from opening to resolution, by helpdesk (R18)",
    ["source"],
    buckets=(300, 900, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
    registry=REGISTRY,
)
REPORT_CSAT = Counter(
    "supportsync_report_csat_total",
    "Satisfaction ratings by helpdesk and whether they were low (R18)",
    ["source", "low"],
    registry=REGISTRY,
)


def publish_tally(tally: RecipeTally) -> None:
    """Add what the recipes counted in one batch to the Prometheus metrics."""
    for (recipe, sink), n in tally.actions.items():
        RECIPE_ACTIONS.labels(recipe, sink).inc(n)
    for recipe, n in tally.one_offs_skipped.items():
        ONE_OFF_SKIPPED.labels(recipe).inc(n)
    for (source, event), n in tally.tickets.items():
        REPORT_TICKETS.labels(source, event).inc(n)
    for source, seconds in tally.resolutions:
        REPORT_RESOLUTION.labels(source).observe(seconds)
    for (source, low), n in tally.csat.items():
        REPORT_CSAT.labels(source, low).inc(n)


REBALANCING = Gauge(
    "supportsync_rebalancing",
    "1 while this worker's consumer group is rebalancing (partitions moving), else 0",
    registry=REGISTRY,
)
PARTITIONS_OWNED = Gauge(
    "supportsync_partitions_owned",
    "Partitions of the events topic this worker owns",
    registry=REGISTRY,
)
REPLAY_PROGRESS = Gauge(
    "supportsync_replay_offsets",
    "A running replay's raw-topic offsets: done so far and total to replay (done / total is "
    "its progress)",
    ["version", "part"],
    registry=REGISTRY,
)
