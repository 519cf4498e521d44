"""Status page and registry snapshot: numbers on the page are the registry's sums."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge

from app.status.page import PageData, render
from app.status.snapshot import RateWindow, by_label, collect, total
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
