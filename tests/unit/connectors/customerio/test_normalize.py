from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.customerio.normalize import CAMPAIGN_BODY_TEMPLATE, normalize
from contracts.events import EventKind
from tests.unit.connectors.customerio.fixtures import action, reporting

RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AT = datetime.fromtimestamp(1761991200, UTC)


class TestReporting:
    """Reporting metrics → email_engagement, unsubscribed or subscribed."""

    @pytest.mark.parametrize("metric", ["opened", "clicked", "delivered", "bounced", "converted"])
    def test_engagement(self, metric: str) -> None:
        [ev] = normalize(reporting(metric, href="https://shop.example/x"), RECEIVED)
        assert ev.kind is EventKind.EMAIL_ENGAGEMENT
        assert ev.source == "customerio"
        assert ev.event_id == f"01HQCIO{metric.upper()}"
        assert ev.occurred_at == AT
        assert ev.attributes["metric"] == metric and ev.attributes["channel"] == "email"
        assert ev.attributes["campaign_id"] == "38" and ev.attributes["action_id"] == "112"
        assert ev.identities.cio_id == "d9c106000001"
        assert ev.identities.external_id == "u-42"
        assert ev.identities.email == "pat.doe@example.com"

    @pytest.mark.parametrize("object_type", ["email", "customer"])
    def test_unsubscribed(self, object_type: str) -> None:
        [ev] = normalize(reporting("unsubscribed", object_type), RECEIVED)
        assert ev.kind is EventKind.UNSUBSCRIBED
        assert ev.attributes == {"channel": "email"}

    def test_subscribed(self) -> None:
        [ev] = normalize(reporting("subscribed", "customer"), RECEIVED)
        assert ev.kind is EventKind.SUBSCRIBED

    @pytest.mark.parametrize(
        ("metric", "object_type"),
        [
            ("opened", "push"),
            ("sent", "sms"),
            ("cio_subscription_preferences_changed", "customer"),
            ("mystery", "email"),
        ],
    )
    def test_unmapped_yield_nothing(self, metric: str, object_type: str) -> None:
        assert normalize(reporting(metric, object_type), RECEIVED) == []


class TestCampaignActions:
    """Bodies from the recommended campaign webhook template."""

    def test_segment_entered(self) -> None:
        [ev] = normalize(action("segment_entered", segment="churn-risk"), RECEIVED)
        assert ev.kind is EventKind.SEGMENT_ENTERED
        assert ev.attributes == {"segment": "churn-risk"}
        assert ev.event_id == "38-u-42-1761991200"
        assert ev.occurred_at == AT

    def test_segment_exited(self) -> None:
        [ev] = normalize(action("segment_exited", segment="vip"), RECEIVED)
        assert ev.kind is EventKind.SEGMENT_EXITED

    def test_lifecycle_event(self) -> None:
        body = action("lifecycle_event", name="trial_started", attributes={"plan": "pro"})
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.LIFECYCLE_EVENT
        assert ev.attributes == {"plan": "pro", "name": "trial_started"}

    @pytest.mark.parametrize(
        ("name", "kind"),
        [("unsubscribed", EventKind.UNSUBSCRIBED), ("subscribed", EventKind.SUBSCRIBED)],
    )
    def test_consent_actions(self, name: str, kind: EventKind) -> None:
        [ev] = normalize(action(name), RECEIVED)
        assert ev.kind is kind and ev.attributes == {"channel": "email"}

    def test_segment_without_name_is_a_bad_shape(self) -> None:
        with pytest.raises(ValueError):
            normalize(action("segment_entered"), RECEIVED)

    def test_unknown_action_yields_nothing(self) -> None:
        assert normalize(action("ordered_pizza"), RECEIVED) == []

    def test_body_without_event_id_gets_a_content_hash(self) -> None:
        body = orjson.dumps(
            {"action": "segment_entered", "segment": "s", "identifiers": {"id": "1"}}
        )
        [first] = normalize(body, RECEIVED)
        [again] = normalize(body, RECEIVED)
        assert first.event_id.startswith("customerio:") and first.event_id == again.event_id
        assert first.occurred_at == RECEIVED

    def test_template_is_valid_json_with_the_marker(self) -> None:
        doc = orjson.loads(orjson.dumps(CAMPAIGN_BODY_TEMPLATE))
        assert doc["supportsync"] == "customerio-action/v1"
        assert set(doc["identifiers"]) == {"id", "email", "cio_id"}
