"""The set-up a user starts with (embedded broker, sinks in dry-run: no platform credentials)
seen through a real Prometheus: every Grafana panel query returns data, and the shipped
alerting rules fire.

One worker, one scripted scenario (tickets opened and solved, a request with a bad
signature, a signed payload the normalizer cannot read), Prometheus scraping every second.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker, free_port
from tests.integration.prometheus import Prometheus, get
from tests.integration.support import (
    ZENDESK_SECRET,
    minutes_ago,
    post,
    trigger_body,
    wait_for,
    zendesk_headers,
)

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana/dashboards").glob("*.json"))
ALERTS = ROOT / "deploy/alerts.yml"


def _metrics_text(worker: WorkerProcess) -> str:
    return get(worker.admin_url("/metrics")).decode()


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker) -> Iterator[WorkerProcess]:
    # No sink credentials: against a cluster only the sinks named run (in dry-run); by
    # default none would, since no destination has credentials.
    env = {"SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET, "SUPPORTSYNC_SINKS": "customerio"}
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=90)
        yield proc


@pytest.fixture(scope="module")
def prometheus(worker: WorkerProcess) -> Iterator[Prometheus]:
    """Scrapes the worker and a second target where nothing listens (a worker that is down),
    with the shipped rules; their `for` durations are set to 0 so the test takes seconds
    (deploy/alerts.test.yml checks the durations with promtool)."""
    with tempfile.TemporaryDirectory(prefix="supportsync-prom-") as tmp:
        rules = yaml.safe_load(ALERTS.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "0s"
        rules_file = Path(tmp) / "alerts.yml"
        rules_file.write_text(yaml.safe_dump(rules))
        down = f"127.0.0.1:{free_port()}"
        prom = Prometheus([f"127.0.0.1:{worker.admin_port}", down], Path(tmp), rules=rules_file)
        try:
            prom.wait_ready()
            yield prom
        finally:
            prom.stop()


def _send(worker: WorkerProcess, body: bytes, expect: int = 200) -> None:
    status, answer = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body))
    assert status == expect, answer


def _unreadable_ticket() -> bytes:
    """Signed and well-formed JSON, but its ticket id is an object: the normalizer cannot
    read it, so it becomes a dead letter (the webhook itself was accepted)."""
    body = orjson.loads(trigger_body("990", "Open", minutes_ago(5), "dry.bad@example.com"))
    body["ticket"]["id"] = {"unexpected": "shape"}
    return orjson.dumps(body)


@pytest.fixture(scope="module")
def scenario(worker: WorkerProcess, prometheus: Prometheus) -> None:
    t0, t1 = minutes_ago(30), minutes_ago(10)
    _send(worker, trigger_body("981", "Open", t0, "dry.one@example.com", priority="urgent"))
    _send(worker, trigger_body("982", "Open", t0, "dry.two@example.com"))
    body = trigger_body("983", "Open", t0, "dry.three@example.com")
    status, _ = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body, "wrong"))
    assert status == 401
    _send(worker, _unreadable_ticket())
    _send(worker, trigger_body("981", "Solved", t1, "dry.one@example.com"))
    for needed in (
        'supportsync_sink_deliveries_total{mode="dry_run",sink="customerio"}',
        'supportsync_dlq_total{reason="malformed_payload",source="zendesk",stage="normalize"}',
        "supportsync_delivery_latency_seconds_bucket",
        "supportsync_consumer_lag{",
        "supportsync_transitions_total{",
    ):
        wait_for(
            lambda n=needed: re.search(rf"^{re.escape(n)}.* [1-9]", _metrics_text(worker), re.M)
            is not None or (n.endswith("{") and n in _metrics_text(worker)),
            90, f"{needed} on /metrics",
        )
    # rate() over the dashboard's window needs two scrapes of every series after the events.
    wait_for(
        lambda: prometheus.query(
            'count_over_time(supportsync_sink_deliveries_total{mode="dry_run"}[1m]) >= 3'
        ), 90, "prometheus scraped the deliveries",
    )


def _panel_queries() -> list[tuple[str, str]]:
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m")
                queries.append((f"{path.name}: {panel['title']}", expr))
    return queries


class TestEveryPanelHasData:
    """In dry-run, every PromQL query of every dashboard panel returns at least one series."""

    def test_every_panel_query(self, scenario: None, prometheus: Prometheus) -> None:
        queries = _panel_queries()
        assert len(queries) >= 20
        empty: list[tuple[str, str]] = list(queries)
        deadline = time.monotonic() + 90
        while empty and time.monotonic() < deadline:
            empty = [(title, expr) for title, expr in empty if not prometheus.query(expr)]
            if empty:
                time.sleep(1)
        assert not empty, "panels without data:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)

    def test_dry_run_deliveries_and_suppression_latency(
        self, scenario: None, prometheus: Prometheus
    ) -> None:
        deliveries = prometheus.query("sum by (sink, mode) (supportsync_sink_deliveries_total)")
        assert {(d["metric"]["sink"], d["metric"]["mode"]) for d in deliveries} == {
            ("customerio", "dry_run")
        }
        assert float(deliveries[0]["value"][1]) >= 1
        p99 = prometheus.query(
            'histogram_quantile(0.99, sum by (le) (supportsync_delivery_latency_seconds_bucket'
            '{priority="suppression"}))'
        )
        assert p99 and p99[0]["value"][1] != "NaN"

    def test_lag_is_input_topics_only(self, scenario: None, prometheus: Prometheus) -> None:
        topics = {r["metric"]["topic"] for r in prometheus.query("supportsync_consumer_lag")}
        assert topics and not [t for t in topics if t.endswith("-changelog")], topics

    def test_process_and_build_series_without_created(
        self, scenario: None, worker: WorkerProcess
    ) -> None:
        text = _metrics_text(worker)
        assert "process_cpu_seconds_total" in text and "process_resident_memory_bytes" in text
        assert re.search(r'^supportsync_build_info\{python="[^"]+",version="[^"]+"\} 1\.0$',
                         text, re.M)
        assert not re.search(r"^\w+_created[{ ]", text, re.M)


def _firing(prometheus: Prometheus) -> dict[str, list[dict[str, Any]]]:
    firing: dict[str, list[dict[str, Any]]] = {}
    for alert in prometheus.alerts():
        if alert["state"] == "firing":
            firing.setdefault(alert["labels"]["alertname"], []).append(alert)
    return firing


class TestAlertsFire:
    """The shipped rules, evaluated by a real Prometheus: a target that does not answer is a
    worker down; the unreadable ticket is a new dead letter."""

    def test_worker_down_and_dead_letters(self, scenario: None, prometheus: Prometheus) -> None:
        wanted = {"SupportsyncWorkerDown", "SupportsyncDeadLetters"}
        deadline = time.monotonic() + 90
        firing = _firing(prometheus)
        while not wanted <= set(firing) and time.monotonic() < deadline:
            time.sleep(1)
            firing = _firing(prometheus)
        assert wanted <= set(firing), (prometheus.alerts(), prometheus.query("up"))
        down = firing["SupportsyncWorkerDown"]
        assert len(down) == 1 and down[0]["labels"]["severity"] == "page"
        dead = firing["SupportsyncDeadLetters"][0]["labels"]
        assert (dead["stage"], dead["source"], dead["reason"]) == (
            "normalize", "zendesk", "malformed_payload",
        )
        assert "SupportsyncSuppressionLatencyOverGoal" not in firing
