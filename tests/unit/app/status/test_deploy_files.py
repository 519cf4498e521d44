"""docker-compose.yml, Prometheus config and Grafana provisioning hang together.

There is no Docker engine (nor `docker compose`) on CI, so the compose file is checked here
structurally: what `docker compose config` would reject (unknown services, undeclared
volumes, missing bind-mount sources, interpolations without a default) plus what the stack
needs (KRaft Kafka for Faust, the worker pointed at it, scrape and provisioning wiring).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streams.runtime import metrics

ROOT = Path(__file__).resolve().parents[4]
SERVICES = {"kafka", "postgres", "supportsync", "prometheus", "grafana"}


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "grafana/dashboards/sync-health.json").read_text())
    return doc


class TestCompose:
    """The compose file is well formed and wires the whole stack."""

    def test_services(self) -> None:
        services = _compose()["services"]
        assert set(services) == SERVICES
        assert services["kafka"]["image"].startswith("apache/kafka:")
        assert services["supportsync"]["build"]["dockerfile"] == "Dockerfile"
        assert (ROOT / "Dockerfile").is_file()

    def test_references_resolve(self) -> None:
        doc = _compose()
        volumes = set(doc.get("volumes") or {})
        for name, service in doc["services"].items():
            for dep in service.get("depends_on") or {}:
                assert dep in doc["services"], (name, dep)
            for mount in service.get("volumes") or []:
                source = mount.split(":", 1)[0]
                if source.startswith("."):
                    assert (ROOT / source).exists(), (name, source)
                else:
                    assert source in volumes, (name, source)

    def test_interpolations_have_defaults(self) -> None:
        text = (ROOT / "docker-compose.yml").read_text()
        for match in re.finditer(r"\$\{([^}]*)\}", text):
            assert ":-" in match.group(1), match.group(0)

    def test_kafka_is_single_node_kraft(self) -> None:
        env = _compose()["services"]["kafka"]["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
        assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]

    def test_worker_uses_kafka_and_serves_metrics(self) -> None:
        worker = _compose()["services"]["supportsync"]
        env = worker["environment"]
        assert env["SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["SUPPORTSYNC_WEB_HOST"] == "0.0.0.0"
        port = env["SUPPORTSYNC_WEB_PORT"]
        scrape = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
        job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "supportsync")
        assert job["dns_sd_configs"][0]["names"] == ["supportsync"]
        assert str(job["dns_sd_configs"][0]["port"]) == port


class TestPrometheusConfig:
    """promtool accepts the scrape configuration."""

    def test_promtool(self) -> None:
        promtool = shutil.which("promtool")
        assert promtool, "promtool missing: apt-get install prometheus (see .ci/run)"
        done = subprocess.run(
            [promtool, "check", "config", str(ROOT / "deploy/prometheus.yml")],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


class TestGrafana:
    """Provisioning points at the mounted dashboards and the fixed datasource uid."""

    def test_datasource_uid_is_used_by_every_panel(self) -> None:
        ds = yaml.safe_load(
            (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
        )["datasources"][0]
        assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
        for panel in _dashboard()["panels"]:
            assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == ds["uid"], panel["title"]

    def test_provider_path_is_mounted(self) -> None:
        provider = yaml.safe_load(
            (ROOT / "grafana/provisioning/dashboards/supportsync.yml").read_text()
        )["providers"][0]
        mounts = _compose()["services"]["grafana"]["volumes"]
        assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts

    def test_panels_query_exported_metrics(self) -> None:
        exported = {
            sample_name
            for family in metrics.REGISTRY.collect()
            for sample_name in (
                family.name,
                f"{family.name}_total",
                f"{family.name}_bucket",
                f"{family.name}_sum",
                f"{family.name}_count",
            )
        }
        panels = _dashboard()["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        for panel in panels:
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                for name in re.findall(r"\bsupportsync_[a-z_]+", target["expr"]):
                    assert name in exported, (panel["title"], name)
