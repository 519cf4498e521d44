"""Ticket reason: from a Zendesk custom field or tag prefix, an Intercom attribute or tag."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from connectors.inbound.reason import ReasonRule
from connectors.intercom import normalize as intercom
from connectors.zendesk import normalize as zendesk
from connectors.zendesk.normalize import TRIGGER_MARKER

NOW = datetime.now(UTC)
RULE = ReasonRule(field="360001", tag_prefix="reason_")


def trigger(**ticket: object) -> bytes:
    return orjson.dumps({"supportsync": TRIGGER_MARKER, "event_id": "t1",
                         "ticket": {"id": "1", "status": "open", **ticket},
                         "requester": {"email": "a@example.com"}})


class TestZendeskReason:
    """Custom field first, then a tag with the prefix; nothing without a rule."""

    def test_tag_prefix(self) -> None:
        [event] = zendesk.normalize(trigger(tags="vip reason_billing"), NOW, RULE)
        assert event.ticket is not None and event.ticket.reason == "billing"

    def test_custom_field_wins_over_tag(self) -> None:
        body = trigger(tags="reason_billing",
                       custom_fields=[{"id": 360001, "value": "refund"}, {"id": 2, "value": "x"}])
        [event] = zendesk.normalize(body, NOW, RULE)
        assert event.ticket is not None and event.ticket.reason == "refund"

    def test_rendered_template_reason_and_unrendered_placeholder(self) -> None:
        [event] = zendesk.normalize(trigger(reason="Shipping"), NOW)
        assert event.ticket is not None and event.ticket.reason == "Shipping"
        [raw] = zendesk.normalize(trigger(reason="{{ticket.ticket_field_option_title_FIELD_ID}}"),
                                  NOW)
        assert raw.ticket is not None and raw.ticket.reason is None

    def test_no_rule_no_reason(self) -> None:
        [event] = zendesk.normalize(trigger(tags="reason_billing"), NOW)
        assert event.ticket is not None and event.ticket.reason is None

    def test_custom_field_changed_event(self) -> None:
        doc = {"type": "zen:event-type:ticket.custom_field_changed", "id": "e1",
               "time": NOW.isoformat(),
               "detail": {"id": "7", "requester_id": "9", "status": "OPEN"},
               "event": {"current": "warranty", "previous": None,
                         "custom_field": {"id": 360001, "title": "Reason"}}}
        [event] = zendesk.normalize(orjson.dumps(doc), NOW, RULE)
        assert event.ticket is not None and event.ticket.reason == "warranty"
        other = {**doc, "event": {**doc["event"], "custom_field": {"id": 5}}}
        assert zendesk.normalize(orjson.dumps(other), NOW, RULE) == []


class TestIntercomReason:
    """A conversation custom attribute, else a tag with the prefix."""

    def test_attribute_then_tag(self) -> None:
        rule = ReasonRule(field="Contact reason", tag_prefix="reason:")
        item = {"type": "conversation", "id": "c1", "state": "open",
                "custom_attributes": {"Contact reason": "refund"},
                "tags": {"tags": [{"name": "reason:billing"}]},
                "contacts": {"contacts": [{"id": "ic1", "email": "a@example.com"}]}}
        doc = {"type": "notification_event", "id": "n1", "topic": "conversation.user.created",
               "data": {"item": item}}
        [event] = intercom.normalize(orjson.dumps(doc), NOW, rule)
        assert event.conversation is not None and event.conversation.reason == "refund"
        item["custom_attributes"] = {}
        [event] = intercom.normalize(orjson.dumps(doc), NOW, rule)
        assert event.conversation is not None and event.conversation.reason == "billing"
