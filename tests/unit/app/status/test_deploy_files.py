"""docker-compose.yml, the Dockerfile, Prometheus config and alerts, Grafana provisioning.

There is no Docker engine on CI. The compose file is validated by a real compose
implementation (Debian's `docker-compose` package, `docker-compose config`: interpolation,
schema, references) and against the compose-spec JSON schema (`tests/data/compose-spec.json`,
vendored from that package: the Compose Specification's schema as docker-compose 1.29.2
ships it), plus what the stack needs (KRaft Kafka for Faust, the worker pointed at it, scrape
and provisioning wiring, nothing but the webhooks published beyond the host).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from streams.runtime import metrics

ROOT = Path(__file__).resolve().parents[4]
SERVICES = {"kafka", "postgres", "supportsync", "prometheus", "grafana"}
#: What compose needs from the environment: no secret has a default.
REQUIRED_ENV = {
    "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": "zendesk-secret-for-test",
    "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": "intercom-secret-for-test",
    "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": "cio-key-for-test",
    "SUPPORTSYNC_PIPELINES_WRITE_KEY": "write-key-for-test",
    "POSTGRES_PASSWORD": "pg-password-for-test",
    "GRAFANA_ADMIN_PASSWORD": "grafana-password-for-test",
    "SUPPORTSYNC_ADMIN_TOKEN": "admin-token-for-test-0123456789",
}


def _docker_compose_config(
    env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly `env` (an empty env file: a developer's `.env`
    next to the compose file does not count)."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: apt-get install docker-compose (see .ci/run)"
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED_ENV}
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, timeout=60, check=False, env={**clean, **env},
    )


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

    def test_secrets_are_required_and_the_rest_has_defaults(self) -> None:
        text = (ROOT / "docker-compose.yml").read_text()
        required = set()
        for match in re.finditer(r"\$\{([A-Z_]+)(:-|:\?)[^}]*\}", text):
            if match.group(2) == ":?":
                required.add(match.group(1))
        assert required == set(REQUIRED_ENV)
        assert "dev-" not in text and ":-admin" not in text
        for match in re.finditer(r"\$\{([^}]*)\}", text):
            assert ":-" in match.group(1) or ":?" in match.group(1), match.group(0)

    def test_only_webhooks_are_published_beyond_loopback(self) -> None:
        services = _compose()["services"]
        for name, service in services.items():
            for port in service.get("ports") or []:
                if name == "supportsync" and not port.startswith("127.0.0.1:"):
                    assert port == "6066:6066"  # webhooks; the admin listener stays local
                else:
                    assert port.startswith("127.0.0.1:"), (name, port)
        assert services["kafka"]["ports"] == ["127.0.0.1:29092:29092"]

    def test_grafana_needs_a_login(self) -> None:
        env = _compose()["services"]["grafana"]["environment"]
        assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
        assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")

    def test_prometheus_loads_the_alerts(self) -> None:
        prometheus = _compose()["services"]["prometheus"]
        assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in prometheus["volumes"]
        scrape = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
        assert scrape["rule_files"] == ["alerts.yml"]


class TestComposeImplementation:
    """A real compose implementation and the compose-spec schema accept the file."""

    def test_docker_compose_config(self, tmp_path: Path) -> None:
        done = _docker_compose_config(REQUIRED_ENV, tmp_path)
        assert done.returncode == 0, done.stderr
        resolved = yaml.safe_load(done.stdout)
        worker = resolved["services"]["supportsync"]
        env = worker["environment"]
        assert env["SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET"] == "zendesk-secret-for-test"
        assert "pg-password-for-test@postgres" in env["SUPPORTSYNC_WAREHOUSE_DSN"]
        assert "supportsync-data:/home/supportsync/data:rw" in worker["volumes"]

    def test_missing_secret_is_refused_by_name(self, tmp_path: Path) -> None:
        env = {k: v for k, v in REQUIRED_ENV.items() if k != "GRAFANA_ADMIN_PASSWORD"}
        done = _docker_compose_config(env, tmp_path)
        assert done.returncode != 0
        assert "set GRAFANA_ADMIN_PASSWORD" in done.stderr

    def test_compose_spec_schema(self) -> None:
        schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
        validator = jsonschema.Draft201909Validator(schema)
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(_compose())]
        assert not errors, errors
        broken = _compose()
        broken["services"]["grafana"]["port"] = ["3000:3000"]  # a typo the schema catches
        assert list(validator.iter_errors(broken))


class TestDockerfile:
    """The image: a data directory owned by the worker, a healthcheck on the configured
    port, a pinned build."""

    def test_data_dir_belongs_to_the_worker(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        assert "useradd --create-home --uid 10001 supportsync" in text
        assert "install -d -o 10001 -g 10001 -m 0700 /home/supportsync/data" in text
        assert "SUPPORTSYNC_DATA_DIR=/home/supportsync/data" in text
        mount = next(
            v for v in _compose()["services"]["supportsync"]["volumes"]
            if v.startswith("supportsync-data:")
        )
        assert mount == "supportsync-data:/home/supportsync/data"

    def test_healthcheck_uses_the_configured_port(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        check = text[text.index("HEALTHCHECK"):text.index("STOPSIGNAL")]
        assert "6066/" not in check and "SUPPORTSYNC_WEB_PORT" in check and "/healthz" in check
        command = re.search(r'CMD python -c "(.*)"', check)
        assert command
        compile(command.group(1), "healthcheck", "exec")  # valid Python

    def test_every_package_is_copied(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        project = (ROOT / "pyproject.toml").read_text()
        include = re.search(r"^include = \[(.*?)\]", project, re.M)
        assert include
        for package in re.findall(r'"([a-z_]+)\*"', include.group(1)):
            assert f"COPY {package} ./{package}\n" in text, f"{package} missing from the image"

    def test_build_is_pinned(self) -> None:
        text = (ROOT / "Dockerfile").read_text()
        assert "COPY constraints.txt" in text and "PIP_CONSTRAINT=/src/constraints.txt" in text
        pins = dict(
            line.split("==", 1)
            for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", v) for v in pins.values()), pins
        project = (ROOT / "pyproject.toml").read_text()
        deps = re.search(r"^dependencies = \[(.*?)^\]", project, re.S | re.M)
        assert deps
        for requirement in re.findall(r'"([A-Za-z0-9_.-]+)[<>=!~ ]', deps.group(1)):
            name = requirement.lower().replace("_", "-")
            assert name in pins, f"{name} not pinned in constraints.txt"
        assert {"setuptools", "wheel"} <= set(pins)  # the build backend too


    def test_kafka_is_single_node_kraft(self) -> None:
        env = _compose()["services"]["kafka"]["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
        assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]

    def test_worker_uses_kafka_and_serves_metrics(self) -> None:
        services = _compose()["services"]
        env = services["supportsync"]["environment"]
        assert env["SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["SUPPORTSYNC_WEB_HOST"] == "0.0.0.0"
        # /metrics is on the admin listener, behind the token Prometheus is given.
        port = env["SUPPORTSYNC_ADMIN_PORT"]
        assert env["SUPPORTSYNC_ADMIN_TOKEN"].startswith("${SUPPORTSYNC_ADMIN_TOKEN:?")
        prometheus = services["prometheus"]
        token = env["SUPPORTSYNC_ADMIN_TOKEN"]
        assert prometheus["environment"]["SUPPORTSYNC_ADMIN_TOKEN"] == token
        scrape = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
        job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "supportsync")
        assert job["dns_sd_configs"][0]["names"] == ["supportsync"]
        assert str(job["dns_sd_configs"][0]["port"]) == port
        token_file = job["authorization"]["credentials_file"]
        assert token_file in " ".join(prometheus["command"])


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (see .ci/run)"
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


class TestPrometheusConfig:
    """promtool accepts the scrape configuration and the alerting rules, and the rules'
    unit tests (deploy/alerts.test.yml) pass: each alert fires when it should, after its
    `for`, and not on a healthy worker."""

    def test_promtool(self, tmp_path: Path) -> None:
        # The token file exists only in the running container: check a copy pointing at one.
        token = tmp_path / "admin-token"
        token.write_text("admin-token-for-test-0123456789")
        config = (ROOT / "deploy/prometheus.yml").read_text()
        config = config.replace("/prometheus/admin-token", str(token))
        (tmp_path / "prometheus.yml").write_text(config)
        (tmp_path / "alerts.yml").write_text((ROOT / "deploy/alerts.yml").read_text())
        done = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "6 rules found" in done.stdout

    def test_check_rules(self) -> None:
        done = _promtool("check", "rules", "deploy/alerts.yml")
        assert done.returncode == 0, done.stdout + done.stderr

    def test_alert_rules_unit_tests(self) -> None:
        done = _promtool("test", "rules", "deploy/alerts.test.yml")
        assert done.returncode == 0, done.stdout + done.stderr
        alerts = yaml.safe_load((ROOT / "deploy/alerts.yml").read_text())["groups"][0]["rules"]
        tested = (ROOT / "deploy/alerts.test.yml").read_text()
        for rule in alerts:
            assert f"alertname: {rule['alert']}" in tested, rule["alert"]


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
