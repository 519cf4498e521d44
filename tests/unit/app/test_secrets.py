"""Secrets: empty or well-known values are configuration errors; with a real cluster every
enabled source needs its own; generated ones are printed only on a loopback-only server."""

from __future__ import annotations

import os

import pytest

from app.settings import REFUSED_SECRETS, SOURCE_SECRETS, ConfigError, load_settings

CLUSTER = {"kafka_bootstrap_servers": "kafka:9092"}
GOOD = {field: f"a-real-{source}-secret-4f9b2c" for source, field in SOURCE_SECRETS.items()}


class TestSecretValues:
    """An empty or well-known secret stops start-up with an error naming the variable."""

    @pytest.mark.parametrize("field", [*SOURCE_SECRETS.values(), "admin_token"])
    @pytest.mark.parametrize("value", ["", "   "])
    def test_empty(self, field: str, value: str) -> None:
        with pytest.raises(ConfigError, match=f"SUPPORTSYNC_{field.upper()}: .*empty"):
            load_settings(**{field: value})

    @pytest.mark.parametrize("field", sorted(SOURCE_SECRETS.values()))
    @pytest.mark.parametrize(
        "value", ["dev-zendesk-secret", "dev-intercom-secret", "dev-cio-key", "dev-write-key",
                  "CHANGEME"]
    )
    def test_well_known(self, field: str, value: str) -> None:
        with pytest.raises(ConfigError, match=f"SUPPORTSYNC_{field.upper()}: .*well-known"):
            load_settings(**{field: value})

    def test_compose_fallbacks_are_refused(self) -> None:
        assert {"dev-zendesk-secret", "dev-intercom-secret", "dev-cio-key",
                "dev-write-key"} <= REFUSED_SECRETS

    def test_short_admin_token(self) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_ADMIN_TOKEN: .*16"):
            load_settings(admin_token="short-token")


class TestSourcesNeedSecrets:
    """To serve with a Kafka cluster, every enabled source needs its secret (none generated)."""

    def test_missing_are_named(self) -> None:
        settings = load_settings(**CLUSTER, zendesk_webhook_secret=GOOD["zendesk_webhook_secret"])
        with pytest.raises(ConfigError) as info:
            settings.check_serving()
        message = str(info.value)
        for field in ("intercom_client_secret", "customerio_webhook_signing_key",
                      "pipelines_write_key"):
            assert f"SUPPORTSYNC_{field.upper()}" in message
        assert "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET" not in message

    def test_all_set(self) -> None:
        settings = load_settings(**CLUSTER, **GOOD)
        settings.check_serving()
        assert settings.source_names == tuple(SOURCE_SECRETS)

    def test_only_enabled_sources(self) -> None:
        settings = load_settings(**CLUSTER, sources="pipelines",
                                 pipelines_write_key=GOOD["pipelines_write_key"])
        settings.check_serving()
        assert settings.source_names == ("pipelines",)

    def test_embedded_needs_none(self) -> None:
        load_settings().check_serving()  # generated at start-up instead

    def test_embedded_generates_for_enabled_only(self) -> None:
        settings, generated = load_settings(sources="zendesk,pipelines").with_dev_secrets()
        assert sorted(generated) == ["pipelines_write_key", "zendesk_webhook_secret"]
        assert settings.intercom_client_secret is None

    def test_unknown_source(self) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_SOURCES"):
            load_settings(sources="zendesk,salesforce")


class TestRunRefuses:
    """`supportsync run` against a cluster stops before starting anything, naming the secrets."""

    @pytest.fixture(autouse=True)
    def _clean_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in [n for n in os.environ if n.startswith("SUPPORTSYNC_")]:
            monkeypatch.delenv(name)

    def test_run_without_secrets(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from app.cli import main

        monkeypatch.setenv("SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        monkeypatch.setenv("SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET", GOOD["zendesk_webhook_secret"])
        assert main(["run"]) == 2
        assert "SUPPORTSYNC_PIPELINES_WRITE_KEY" in capsys.readouterr().err

    def test_run_with_compose_default(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from app.cli import main

        monkeypatch.setenv("SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        monkeypatch.setenv("SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET", "dev-zendesk-secret")
        assert main(["run"]) == 2
        assert "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET" in capsys.readouterr().err
