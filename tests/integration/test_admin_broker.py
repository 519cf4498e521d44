"""The admin listener of a real worker: state and metrics off the public port."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import wait_for

pytestmark = pytest.mark.broker

TOKEN = "admin-token-for-tests-0123456789"


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker) -> Iterator[WorkerProcess]:
    env = {"SUPPORTSYNC_PIPELINES_WRITE_KEY": "admin-test-key", "SUPPORTSYNC_SINKS": ""}
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


class TestListeners:
    """/state, / and /metrics answer on the admin port only; Host is checked there."""

    def test_public_port_has_no_admin_routes(self, worker: WorkerProcess) -> None:
        for path in ("/state/a@example.com", "/metrics", "/"):
            assert _status(worker.url(path)) in (404, 405), path

    def test_admin_port_serves_them(self, worker: WorkerProcess) -> None:
        assert _status(worker.admin_url("/metrics")) == 200
        assert _status(worker.admin_url("/")) == 200
        assert _status(worker.admin_url("/state/nobody@example.com")) == 404  # no such state
        assert _status(worker.admin_url("/healthz")) == 200

    def test_rebound_host_refused(self, worker: WorkerProcess) -> None:
        headers = {"Host": f"attacker.example:{worker.admin_port}"}
        assert _status(worker.admin_url("/state/a@example.com"), headers) == 403


class TestExposedAdmin:
    """Bound beyond loopback: no token, no start; with one, every request must carry it."""

    def test_refuses_to_start_without_token(self, broker: EmbeddedBroker) -> None:
        env = {"SUPPORTSYNC_PIPELINES_WRITE_KEY": "k" * 24, "SUPPORTSYNC_ADMIN_HOST": "0.0.0.0"}
        proc = WorkerProcess(broker.bootstrap_servers, env=env).start()
        try:
            assert proc.process is not None and proc.process.wait(timeout=60) == 2
            assert "SUPPORTSYNC_ADMIN_TOKEN" in proc.log_tail()
        finally:
            proc.stop()
            proc.remove_data_dir()

    def test_token_required(self, broker: EmbeddedBroker) -> None:
        env = {"SUPPORTSYNC_PIPELINES_WRITE_KEY": "k" * 24, "SUPPORTSYNC_SINKS": "",
               "SUPPORTSYNC_ADMIN_HOST": "0.0.0.0", "SUPPORTSYNC_ADMIN_TOKEN": TOKEN}
        with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
            proc.wait_healthy(timeout=60)
            assert _status(proc.admin_url("/metrics")) == 401
            assert _status(proc.admin_url("/metrics"), {"Authorization": "Bearer nope"}) == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert _status(proc.admin_url("/metrics"), auth) == 200
            assert _status(proc.admin_url("/state/a@example.com"), auth) == 404


def _health(proc: WorkerProcess) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(proc.url("/healthz"), timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())
    except OSError:
        return 0, {}


class TestHealthWithoutIngress:
    """/healthz is not ok while every webhook path would answer 404."""

    def test_no_source_is_unhealthy(self, broker: EmbeddedBroker) -> None:
        env = {"SUPPORTSYNC_SOURCES": "", "SUPPORTSYNC_SINKS": ""}
        with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
            def assigned() -> tuple[int, dict[str, object]] | None:
                answer = _health(proc)
                return answer if answer[1].get("assigned_partitions") else None

            # Running and assigned (so the answer is about ingress, not start-up).
            status, doc = wait_for(assigned, timeout=60, what="partitions assigned")
            assert status == 503 and doc["ok"] is False and doc["ingress_paths"] == 0
