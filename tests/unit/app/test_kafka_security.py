"""Kafka security settings reach every Kafka client supportsync builds."""

from __future__ import annotations

import ast
import ssl
import subprocess
from pathlib import Path

import faust
import pytest

from app.settings import ConfigError, load_settings
from streams.runtime import kafka as kafkaclients
from streams.runtime.faust_app import build_app

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = {
    "kafka_bootstrap_servers": "kafka-1:9093",
    "sources": "",
}
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "2",
         "-subj", "/CN=kafka-test"],
        check=True, capture_output=True, timeout=60,
    )
    return {"cafile": folder / "cert.pem", "certfile": folder / "cert.pem",
            "keyfile": folder / "key.pem"}


class TestSettings:
    """Incomplete security settings are configuration errors naming the variables."""

    def test_sasl_needs_credentials(self) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_KAFKA_SASL_USERNAME"):
            load_settings(**CLUSTER, kafka_security_protocol="SASL_SSL")

    def test_missing_ca_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_KAFKA_SSL_CAFILE"):
            load_settings(**CLUSTER, kafka_security_protocol="SSL",
                          kafka_ssl_cafile=tmp_path / "absent.pem")

    def test_unknown_mechanism(self) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_KAFKA_SASL_MECHANISM"):
            load_settings(**CLUSTER, kafka_sasl_mechanism="GSSAPI")


class TestClientOptions:
    """SASL/SCRAM over TLS: aiokafka options, Faust credentials and replication factor."""

    def test_sasl_ssl(self, tls: dict[str, Path], tmp_path: Path) -> None:
        settings = load_settings(
            **CLUSTER, data_dir=tmp_path, kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="svc",
            kafka_sasl_password="pw-0123456789", kafka_ssl_cafile=tls["cafile"],
            kafka_replication_factor=3,
        )
        options = kafkaclients.options_for(settings)
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-256"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
            "svc", "pw-0123456789"
        )
        assert isinstance(options["ssl_context"], ssl.SSLContext)
        topology = build_app(settings, settings.kafka_bootstrap_servers or "")
        credentials = topology.app.conf.broker_credentials
        assert isinstance(credentials, faust.SASLCredentials)
        assert credentials.mechanism.value == "SCRAM-SHA-256"
        assert credentials.ssl_context is not None
        assert topology.app.conf.topic_replication_factor == 3

    def test_mutual_tls(self, tls: dict[str, Path]) -> None:
        settings = load_settings(
            **CLUSTER, kafka_security_protocol="SSL", kafka_ssl_cafile=tls["cafile"],
            kafka_ssl_certfile=tls["certfile"], kafka_ssl_keyfile=tls["keyfile"],
        )
        options = kafkaclients.options_for(settings)
        assert set(options) == {"security_protocol", "ssl_context"}
        assert isinstance(kafkaclients.faust_credentials(settings), faust.SSLCredentials)

    def test_configure_sets_process_defaults(self) -> None:
        settings = load_settings(
            **CLUSTER, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="svc", kafka_sasl_password="pw-0123456789",
            kafka_replication_factor=3,
        )
        try:
            kafkaclients.configure(settings)
            assert kafkaclients.client_options["sasl_mechanism"] == "PLAIN"
            assert kafkaclients.replication_factor() == 3
        finally:
            kafkaclients.configure(load_settings())  # embedded: PLAINTEXT, factor 1
        assert kafkaclients.client_options == {} and kafkaclients.replication_factor() == 1


class TestEveryClient:
    """Every aiokafka client is built by the runtime's factory or takes its security options."""

    def test_constructors_pass_client_options(self) -> None:
        missing = []
        for path in [*ROOT.glob("app/**/*.py"), *ROOT.glob("streams/**/*.py")]:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name not in CLIENTS:
                    continue
                if path.name == "kafka.py" and path.parent.name == "runtime":
                    continue  # the factory itself: producer(), consumer(), admin()
                spread = [k.value for k in node.keywords if k.arg is None]
                if not any("client_options" in ast.unparse(v) for v in spread):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert missing == []
