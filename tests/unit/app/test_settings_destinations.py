"""Which sinks run and which destinations routing serves, by default and when named."""

from __future__ import annotations

import pytest

from app.settings import SINK_NAMES, Settings
from app.status.deadletters import Entry, plan
from contracts.records import RawEnvelope, decode_raw_batch, envelope_record

CLUSTER = {"kafka_bootstrap_servers": "kafka:9092"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTSYNC_SINKS", raising=False)


class TestDefaultSinks:
    """Unset SUPPORTSYNC_SINKS: every destination with credentials (embedded: all)."""

    def test_embedded_runs_every_destination(self) -> None:
        assert Settings().sink_names == SINK_NAMES
        assert Settings().routed_sinks == SINK_NAMES

    def test_cluster_runs_those_with_credentials(self) -> None:
        settings = Settings(
            **CLUSTER, intercom_access_token="t", warehouse_dsn="postgresql://db/x",
            customerio_site_id="s", customerio_api_key="k",
        )
        assert settings.sink_names == ("customerio", "intercom", "warehouse")
        assert settings.routed_sinks == ("customerio", "intercom", "warehouse")

    def test_half_set_credentials_do_not_count(self) -> None:
        assert Settings(**CLUSTER, customerio_site_id="s").sink_names == ()

    def test_named_sinks_run_and_are_routed_with_the_configured(self) -> None:
        settings = Settings(**CLUSTER, sinks="zendesk", intercom_access_token="t")
        assert settings.sink_names == ("zendesk",)
        assert settings.routed_sinks == ("zendesk", "intercom")
        assert Settings(**CLUSTER, sinks="").sink_names == ()


class TestSecretValues:
    """A secret setting lists several, comma-separated."""

    def test_split_and_trimmed(self) -> None:
        settings = Settings(zendesk_webhook_secret="one, two,,")
        assert settings.secret_values("zendesk_webhook_secret") == ("one", "two")
        assert settings.secret_values("intercom_client_secret") == ()


NAMES = {"raw.zendesk": "p.raw.zendesk", "events.by-customer": "p.events.by-customer.v1"}


def entry(stage: str, record: dict[str, object]) -> Entry:
    doc = {"stage": stage, "reason": "r", "source": "zendesk", "record": record}
    return Entry(0, 1, 0, stage, "r", "zendesk", None, "", doc)


class TestRedrivePlans:
    """Identity dead letters go back to raw.<source>; route ones to events.by-customer."""

    def test_identity_dead_letter_with_envelope(self) -> None:
        envelope = RawEnvelope(source="zendesk", key="zendesk_user_id:1", body="{}",
                               received_at=1.0)
        record = {"event": {}, "envelope": envelope_record(envelope)}
        redrive = plan(entry("identity", record), NAMES)
        assert redrive.topic == "p.raw.zendesk" and redrive.key == "zendesk_user_id:1"
        assert decode_raw_batch(redrive.value) == [envelope]

    def test_route_dead_letter_is_rerouted(self) -> None:
        transition = {"customer_key": "c:1", "kind": "attributes_changed"}
        redrive = plan(entry("route", {"transition": transition}), NAMES)
        assert redrive.topic == "p.events.by-customer.v1" and redrive.key == "c:1"
        assert b'"reroute"' in redrive.value
