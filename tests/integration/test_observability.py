"""Observability end to end (SPEC S8): a real worker process, a real Prometheus scraping it,
the Grafana dashboard's every query, the status page in headless Chromium, and
`/state/{identifier}` / `supportsync state show`.

The scenario makes every exported series exist: accepted and rejected webhooks, state
transitions, Customer.io requests answered 200, 429 (a retry, and rate-limit waits: the
bucket is set to a few requests per second) and 422 (a dead letter).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli import main
from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.integration.prometheus import Prometheus, get
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    minutes_ago,
    post,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana/dashboards/sync-health.json"
HAPPY = "obs.happy@example.com"
SECOND = "obs.second@example.com"
DEAD = "obs.dlq-case@example.com"
SERIES_NEEDED = (
    "supportsync_events_rejected_total",
    "supportsync_transitions_total",
    "supportsync_sink_retries_total",
    "supportsync_rate_limit_wait_seconds_total",
    "supportsync_dlq_total",
    "supportsync_delivery_latency_seconds_bucket",
    "supportsync_consumer_lag",
)


_get = get


def _metrics(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = _get(worker.admin_url("/metrics")).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _has_series(worker: WorkerProcess, name: str) -> bool:
    return any(key[0] == name for key in _metrics(worker))


@pytest.fixture(scope="module")
def cio() -> Iterator[FakeCustomerIO]:
    with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as fake:
        yield fake


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, cio: FakeCustomerIO) -> Iterator[WorkerProcess]:
    env = {**worker_env(cio.track_url), "SUPPORTSYNC_CUSTOMERIO_RATE_PER_S": "4"}
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


@pytest.fixture(scope="module")
def prometheus(worker: WorkerProcess) -> Iterator[Prometheus]:
    with tempfile.TemporaryDirectory(prefix="supportsync-prom-") as tmp:
        prom = Prometheus(f"127.0.0.1:{worker.admin_port}", Path(tmp))
        try:
            prom.wait_ready()
            yield prom
        finally:
            prom.stop()


def _send(worker: WorkerProcess, body: bytes, expect: int = 200) -> None:
    status, answer = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body))
    assert status == expect, answer


@pytest.fixture(scope="module")
def scenario(worker: WorkerProcess, cio: FakeCustomerIO, prometheus: Prometheus) -> None:
    """Run once: every metric the dashboard queries gets at least one series."""
    cio.faults.add(429, retry_after=0.5, times=1)
    cio.faults.add(422, times=None, path="dlq-case")
    t0, t1 = minutes_ago(30), minutes_ago(10)
    _send(worker, trigger_body("901", "Open", t0, HAPPY, priority="urgent"))
    _send(worker, trigger_body("902", "Open", t0, SECOND))
    # Alone, so its writes go as v1 requests to its own path (where the 422 fault waits)
    # rather than in a v2 batch with the others.
    wait_for(lambda: all(p in cio.people and cio.people[p].events for p in (HAPPY, SECOND)),
             60, "the first tickets delivered")
    _send(worker, trigger_body("903", "Open", t0, DEAD))
    body = trigger_body("904", "Open", t0, HAPPY)
    status, _ = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body, "wrong"))
    assert status == 401
    _send(worker, trigger_body("901", "Solved", t1, HAPPY))
    for name in SERIES_NEEDED:
        wait_for(lambda n=name: _has_series(worker, n), 60, f"{name} on /metrics")
    wait_for(
        lambda: prometheus.query("supportsync_dlq_total"), 30, "prometheus scraped the dlq"
    )
    time.sleep(5)  # a few more scrapes: rate() needs two samples of every series


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "1m"))
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


class TestDashboardQueries:
    """Every PromQL expression of every panel returns data from a real Prometheus."""

    def test_every_panel_query_has_data(self, scenario: None, prometheus: Prometheus) -> None:
        queries = _panel_queries()
        assert len(queries) >= 16
        empty = [(title, expr) for title, expr in queries if not prometheus.query(expr)]
        assert not empty, "panels without data:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)


def _dump_dom(url: str, profile: Path) -> str:
    binary = shutil.which("chromium")
    assert binary, "chromium binary missing: apt-get install chromium (see .ci/run)"
    done = subprocess.run(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", url,
        ],
        capture_output=True, timeout=90, check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


_CELL = re.compile(r'data-metric="([^"]+)" data-labels="([^"]*)">([^<]+)<')


def _page_mismatches(dom: str, samples: dict[tuple[str, Any], float]) -> list[str]:
    problems = []
    for name, labels, text in _CELL.findall(dom):
        match = dict(p.split("=", 1) for p in labels.split(",") if p)
        expected = sum(
            value
            for (sample, sample_labels), value in samples.items()
            if sample == name and all(dict(sample_labels).get(k) == v for k, v in match.items())
        )
        if abs(float(text) - expected) > 1e-3:
            problems.append(f"{name}{{{labels}}}: page {text}, /metrics {expected}")
    return problems


def _shown(samples: dict[tuple[str, Any], float], names: set[str]) -> dict[Any, float]:
    return {key: value for key, value in samples.items() if key[0] in names}


class TestStatusPage:
    """The status page, rendered by headless Chromium, shows the numbers of /metrics."""

    def test_page_matches_metrics(self, scenario: None, worker: WorkerProcess) -> None:
        # Compared on a still frame: the series the page shows did not move while Chromium
        # rendered it. Gauges the updater refreshes every 2 s (and process_* series) may move
        # on a loaded machine, so only the page's own series are compared, and the loop has
        # a generous bound rather than a timing expectation.
        with tempfile.TemporaryDirectory(prefix="supportsync-chromium-") as profile:
            problems: list[str] = ["not compared yet"]
            deadline = time.monotonic() + 180
            while problems and time.monotonic() < deadline:
                before = _metrics(worker)
                dom = _dump_dom(worker.admin_url("/"), Path(profile))
                names = {name for name, _labels, _text in _CELL.findall(dom)}
                if _shown(_metrics(worker), names) != _shown(before, names):
                    continue  # numbers moved while the page rendered: compare a still frame
                problems = _page_mismatches(dom, before)
        assert not problems, "\n".join(problems)
        assert "sync health" in dom
        assert len(_CELL.findall(dom)) >= 15
        assert 'data-labels="support_state=cooldown">1<' in dom
        assert "escalated → cooldown" in dom and "clear → open" in dom
        assert HAPPY not in dom and DEAD not in dom  # customer keys only, no emails
        assert 'data-value="true">worker ok</strong>' in dom and 'data-health="owned">4<' in dom
        # Customer.io is live here (the fake): its 422 is a failed request and a dead letter
        # whose row names the command to list it.
        assert "supportsync dlq list --sink customerio --reason client_error" in dom
        assert re.search(r'<a href="/state/c:[^"]+">c:', dom)


class TestStateExplain:
    """`/state/{identifier}` and `supportsync state show` explain a customer's state."""

    def test_http_endpoint(self, scenario: None, worker: WorkerProcess) -> None:
        doc = orjson.loads(_get(worker.admin_url(f"/state/{HAPPY}")))
        assert doc["support_state"] == "cooldown" and doc["suppressed"] is True
        assert "cooldown" in doc["why"]
        assert {t["id"] for t in doc["tickets"]} == {"901"}
        assert any(n["new"] == "cooldown" for n in doc["recent_transitions"])
        by_key = orjson.loads(_get(worker.admin_url(f"/state/{doc['customer_key']}")))
        assert by_key["customer_key"] == doc["customer_key"]

    def test_http_endpoint_says_what_was_last_sent(
        self, scenario: None, worker: WorkerProcess
    ) -> None:
        def last_sent(email: str) -> dict[str, Any] | None:
            doc = orjson.loads(_get(worker.admin_url(f"/state/{email}")))
            sent: dict[str, Any] = doc["last_sent"]
            return sent.get("customerio")

        # A ticket opened: R1's identify (or the event after it) was confirmed by Customer.io.
        cio = wait_for(lambda: last_sent(SECOND), 30, "last sent to Customer.io")
        assert cio["operation"] in {"identify", "event"} and cio["outcome"] == "delivered"
        assert str(cio["recipe"]).startswith("R") and cio["at"] and cio["action_id"]
        # Customer.io answers 422 for this person: the explanation says it was dead-lettered.
        dead = wait_for(lambda: last_sent(DEAD), 30, "last dead-lettered to Customer.io")
        assert dead["outcome"] == "dead_lettered"

    def test_cli_state_show(
        self,
        scenario: None,
        worker: WorkerProcess,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("SUPPORTSYNC_ADMIN_PORT", str(worker.admin_port))
        assert main(["state", "show", SECOND]) == 0
        out = capsys.readouterr().out
        assert "support_state: open — suppressed" in out
        assert "zendesk:902" in out
        assert re.search(r"^  customerio:  (identify|event)  delivered  recipe=R", out, re.M)
        assert main(["state", "show", "nobody@example.com"]) == 1
        assert "unknown identifier" in capsys.readouterr().out
