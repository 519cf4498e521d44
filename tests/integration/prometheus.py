"""A real Prometheus (the Debian `prometheus` binary) for the observability tests: a free
loopback port, a temporary config and storage, 1 s scrape and rule evaluation."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from streams.runtime.broker import free_port
from tests.integration.support import wait_for


def get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


class Prometheus:
    """Scrapes `targets` as job `supportsync`; evaluates `rules` (a rules file) if given."""

    def __init__(self, targets: list[str] | str, workdir: Path, rules: Path | None = None) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus binary missing: apt-get install prometheus (see .ci/run)"
        self.port = free_port()
        listed = [targets] if isinstance(targets, str) else targets
        config = workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            + (f"rule_files: ['{rules}']\n" if rules is not None else "")
            + "scrape_configs:\n"
            + "  - job_name: supportsync\n"
            + f"    static_configs: [{{targets: {orjson.dumps(listed).decode()}}}]\n"
        )
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def _api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        doc = orjson.loads(get(url))
        assert doc["status"] == "success", doc
        return doc["data"]

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, "prometheus exited early"
            try:
                return get(f"http://127.0.0.1:{self.port}/-/ready", 2).startswith(b"Prometheus")
            except OSError:
                return False

        wait_for(ready, timeout, "prometheus ready")

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._api("/api/v1/query", query=expr)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending or firing)."""
        alerts: list[dict[str, Any]] = self._api("/api/v1/alerts")["alerts"]
        return alerts

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.log.close()
