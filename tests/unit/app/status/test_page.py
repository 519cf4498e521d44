"""Status page and registry snapshot: numbers on the page are the registry's sums."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.status.page import Health, PageData, render
from app.status.snapshot import RateWindow, by_label, collect, quantile, total
from streams.state.census import RecentTransition


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    received = Counter(
        "supportsync_events_received_total", "r", ["source"], registry=registry
    )
    received.labels("zendesk").inc(5)
    received.labels("intercom").inc(2)
    customers = Gauge("supportsync_customers", "c", ["support_state"], registry=registry)
    customers.labels("open").set(3)
    requests = Counter(
        "supportsync_sink_requests_total", "s", ["sink", "operation", "status"], registry=registry
    )
    requests.labels("customerio", "identify", "ok").inc(4)
    requests.labels("customerio", "identify", "RateLimited").inc()
    return registry


class TestSnapshot:
    """Sums and groupings over collected samples."""

    def test_total_and_by_label(self) -> None:
        samples = collect(_registry())
        assert total(samples, "supportsync_events_received_total") == 7
        assert total(samples, "supportsync_events_received_total", source="zendesk") == 5
        assert by_label(samples, "supportsync_sink_requests_total", "status") == {
            "RateLimited": 1.0,
            "ok": 4.0,
        }

    def test_rate_window(self) -> None:
        registry = CollectorRegistry()
        counter = Counter("supportsync_events_processed_total", "p", registry=registry)
        window = RateWindow(window=60)
        window.sample(collect(registry), now=0.0)
        counter.inc(20)
        window.sample(collect(registry), now=10.0)
        assert window.rates()["supportsync_events_processed_total"] == 2.0


class TestRender:
    """Every data-metric cell holds the sum of its series; no identifiers leak."""

    def test_cells_match_the_registry(self) -> None:
        samples = collect(_registry())
        recent = [RecentTransition("2026-01-01T00:00:00+00:00", "c:abc", "k", "clear", "open", "r")]
        html = render(PageData(samples=samples, rates={}, recent=recent))
        cells = re.findall(r'data-metric="([^"]+)" data-labels="([^"]*)">([^<]+)<', html)
        assert cells
        for name, labels, text in cells:
            match = dict(p.split("=", 1) for p in labels.split(",") if p)
            assert float(text) == total(samples, name, **match), (name, labels)
        assert 'data-labels="support_state=open">3<' in html
        assert "c:abc" in html and "clear → open" in html


def _sink_registry() -> CollectorRegistry:
    """A dry-run Customer.io (outbox deliveries, no requests) and a live Zendesk."""
    registry = CollectorRegistry()
    mode = Gauge("supportsync_sink_mode", "m", ["sink", "mode"], registry=registry)
    mode.labels("customerio", "dry_run").set(1)
    mode.labels("zendesk", "live").set(1)
    deliveries = Counter(
        "supportsync_sink_deliveries_total", "d", ["sink", "mode"], registry=registry
    )
    deliveries.labels("customerio", "dry_run").inc(73)
    deliveries.labels("zendesk", "live").inc(2)
    requests = Counter(
        "supportsync_sink_requests_total", "s", ["sink", "operation", "status"], registry=registry
    )
    requests.labels("zendesk", "create_ticket", "ok").inc(2)
    requests.labels("zendesk", "create_ticket", "ServerError").inc(3)
    latency = Histogram(
        "supportsync_delivery_latency_seconds", "l", ["sink", "priority"],
        buckets=(0.1, 0.5, 1.0, 2.5), registry=registry,
    )
    for seconds in [0.05] * 90 + [2.0] * 10:
        latency.labels("customerio", "suppression").observe(seconds)
    dlq = Counter("supportsync_dlq_total", "q", ["stage", "source", "reason"], registry=registry)
    dlq.labels("normalize", "zendesk", "malformed_payload").inc(2)
    dlq.labels("sink:zendesk", "zendesk", "client_error").inc()
    backlog = Gauge("supportsync_sink_backlog_age_seconds", "b", ["sink"], registry=registry)
    backlog.labels("zendesk").set(42)
    return registry


def _health(**changes: object) -> Health:
    base: dict[str, object] = {
        "ok": True, "owned": 8, "partitions": 8, "rebalancing": False, "version": "0.1.0",
        "state_version": "v1", "embedded": True, "bootstrap": "127.0.0.1:9092",
    }
    return Health(**{**base, **changes})  # type: ignore[arg-type]


def _row(html: str, first_cell: str) -> str:
    match = re.search(rf"<tr><td>{re.escape(first_cell)}</td>(.*?)</tr>", html)
    assert match, first_cell
    return match.group(1)


class TestSinksSection:
    """Each configured sink is listed with its mode, deliveries (dry-run included), failed
    requests, backlog age and suppression p50/p99 against the 1 s goal."""

    def test_dry_run_deliveries_are_counted(self) -> None:
        html = render(PageData(samples=collect(_sink_registry()), rates={}, recent=[]))
        row = _row(html, "customerio")
        assert "<td>dry-run</td>" in row
        deliveries = 'data-metric="supportsync_sink_deliveries_total" data-labels="sink=customerio"'
        assert f"{deliveries}>73<" in row
        assert "none yet" not in html.split("<h2>Sinks</h2>")[1].split("</section>")[0]

    def test_errors_backlog_and_goal(self) -> None:
        html = render(PageData(samples=collect(_sink_registry()), rates={}, recent=[]))
        zendesk = _row(html, "zendesk")
        assert "<td>live</td>" in zendesk and 'data-errors="zendesk">3<' in zendesk
        assert 'data-labels="sink=zendesk">42<' in zendesk  # backlog age
        assert "no suppression yet" in zendesk
        cio = _row(html, "customerio")
        p50, p99 = re.findall(r'data-quantile="[^"]+"[^>]*>([^<]+)<', cio)
        assert float(p50) < 0.1 and 1.0 < float(p99) <= 2.5
        assert "over 1 s" in cio


class TestQuantile:
    """Histogram quantiles interpolate within buckets like histogram_quantile."""

    def test_interpolates(self) -> None:
        registry = CollectorRegistry()
        h = Histogram("x_seconds", "x", buckets=(1.0, 2.0), registry=registry)
        for v in (0.5, 1.5, 1.5, 1.5):
            h.observe(v)
        samples = collect(registry)
        assert quantile(samples, "x_seconds", 0.25) == 1.0
        assert quantile(samples, "x_seconds", 0.5) == 1.0 + (2 - 1) / 3

    def test_empty(self) -> None:
        registry = CollectorRegistry()
        Histogram("x_seconds", "x", registry=registry)
        assert quantile(collect(registry), "x_seconds", 0.99) is None


class TestDeadLetterSection:
    """Dead letters by stage, source and reason, each with the command that lists them."""

    def test_rows_and_commands(self) -> None:
        html = render(PageData(samples=collect(_sink_registry()), rates={}, recent=[]))
        row = _row(html, "normalize")
        assert "<td>zendesk</td><td>malformed_payload</td>" in row
        assert "supportsync dlq list --source zendesk --reason malformed_payload" in row
        sink_row = _row(html, "sink:zendesk")
        assert "supportsync dlq list --sink zendesk --reason client_error" in sink_row


class TestBannerAndLinks:
    """The banner says whether the worker is ok, what it owns and where its broker is;
    recent transitions link to the customer's state."""

    def test_healthy_embedded(self) -> None:
        html = render(PageData(samples=[], rates={}, recent=[], health=_health()))
        assert 'data-value="true">worker ok</strong>' in html
        assert 'data-health="owned">8<' in html and 'data-health="version">0.1.0<' in html
        assert "embedded Tansu broker" in html

    def test_rebalancing_cluster(self) -> None:
        health = _health(ok=False, rebalancing=True, owned=0, embedded=False)
        html = render(PageData(samples=[], rates={}, recent=[], health=health))
        assert "rebalancing: partitions are moving" in html and 'class="banner warn"' in html
        assert "Kafka cluster 127.0.0.1:9092" in html

    def test_transition_links_to_state(self) -> None:
        recent = [RecentTransition("2026-01-01T00:00:00+00:00", "c:a/b", "k", "clear", "open", "r")]
        html = render(PageData(samples=[], rates={}, recent=recent))
        assert '<a href="/state/c:a%2Fb">c:a/b</a>' in html
