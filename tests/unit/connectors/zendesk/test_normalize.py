from __future__ import annotations

from datetime import UTC, datetime

import orjson

from connectors.zendesk.normalize import TRIGGER_MARKER, normalize
from contracts.events import EventKind

RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _event(type_: str, detail: dict[str, object], event: object = None) -> bytes:
    doc: dict[str, object] = {
        "type": f"zen:event-type:{type_}",
        "id": f"evt-{type_}",
        "time": "2026-11-01T10:00:00Z",
        "detail": detail,
    }
    if event is not None:
        doc["event"] = event
    return orjson.dumps(doc)


class TestEventSubscribed:
    """Event-subscribed ticket webhooks normalize with upper-case statuses and string ids."""

    def test_status_changed_uses_event_current_lower_cased(self) -> None:
        body = _event(
            "ticket.status_changed",
            {"id": "77", "status": "SOLVED", "requester_id": "5", "priority": "HIGH"},
            {"current": "SOLVED", "previous": "OPEN"},
        )
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.TICKET_STATUS_CHANGED
        assert ev.ticket is not None and ev.ticket.status == "solved"
        assert ev.ticket.priority == "high"
        assert ev.identities.zendesk_user_id == "5"
        assert ev.event_id == "evt-ticket.status_changed"

    def test_created_with_integer_ids(self) -> None:
        body = _event("ticket.created", {"id": 77, "status": "new", "requester_id": 5})
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.TICKET_OPENED
        assert ev.ticket is not None and ev.ticket.id == "77"
        assert ev.identities.zendesk_user_id == "5"

    def test_merged_points_at_target_and_closes(self) -> None:
        body = _event(
            "ticket.merged", {"id": "77", "requester_id": "5"}, {"target_ticket_id": "80"}
        )
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.TICKET_MERGED
        assert ev.ticket is not None and ev.ticket.merged_into == "80"

    def test_user_event_links_email_and_user_id(self) -> None:
        detail = {"id": "5", "email": " Jane@Example.COM ", "role": "end-user"}
        body = _event("user.created", detail)
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.CONTACT_UPDATED
        assert ev.identities.email == "jane@example.com"
        assert ev.identities.zendesk_user_id == "5"

    def test_unknown_event_type_gives_no_events(self) -> None:
        assert normalize(_event("article.published", {"id": "1"}), RECEIVED) == []


class TestTriggerBody:
    """Bodies from the recommended trigger template carry a full snapshot and the requester."""

    def test_snapshot_with_space_separated_tags_and_csat(self) -> None:
        body = orjson.dumps(
            {
                "supportsync": TRIGGER_MARKER,
                "event_id": "77:2026-11-01T10:00:00Z:Solved",
                "ticket": {
                    "id": "77",
                    "status": "Solved",
                    "priority": "-",
                    "tags": "refund vip",
                    "updated_at": "2026-11-01T10:00:00Z",
                },
                "requester": {"id": "5", "email": "JANE@example.com", "external_id": ""},
                "satisfaction": {"score": "bad"},
            }
        )
        ticket_event, csat = normalize(body, RECEIVED)
        assert ticket_event.ticket is not None
        assert ticket_event.ticket.status == "solved"
        assert ticket_event.ticket.priority is None
        assert ticket_event.ticket.tags == ("refund", "vip")
        assert ticket_event.identities.email == "jane@example.com"
        assert ticket_event.identities.external_id is None
        assert csat.kind is EventKind.CSAT_RECEIVED
        assert csat.rating is not None and csat.rating.is_low


class TestAuthor:
    """The change's author is kept for loop prevention: ticket actor, trigger updater."""

    def test_ticket_event_actor(self) -> None:
        body = _event("ticket.tags_changed", {"id": "77", "requester_id": "5", "actor_id": 900},
                      {"tags_added": ["x"], "tags_removed": []})
        [ev] = normalize(body, RECEIVED)
        assert ev.author_id == "900"

    def test_trigger_updater_email_but_not_on_the_customers_rating(self) -> None:
        body = orjson.dumps({
            "supportsync": TRIGGER_MARKER, "event_id": "77:t:open",
            "ticket": {"id": "77", "status": "open", "updated_at": "2026-11-01T10:00:00Z"},
            "requester": {"id": "5", "email": "jane@example.com"},
            "satisfaction": {"score": "good"},
            "updater": {"email": " API@Example.com "},
        })
        ticket, rating = normalize(body, RECEIVED)
        assert ticket.author_id == "api@example.com" and rating.author_id is None

    def test_no_author_when_the_payload_says_nothing(self) -> None:
        [ev] = normalize(_event("ticket.status_changed", {"id": "77", "status": "OPEN"}),
                         RECEIVED)
        assert ev.author_id is None
    def test_rendered_satisfaction_values_are_parsed(self) -> None:
        cases = {"Good, I'm satisfied": "good", "Bad, I'm unsatisfied": "bad",
                 "good_with_comment": "good", "Offered": None, "Unoffered": None, "": None}
        for rendered, expected in cases.items():
            body = orjson.dumps({
                "supportsync": TRIGGER_MARKER, "event_id": "78:t:solved",
                "ticket": {"id": "78", "status": "solved", "updated_at": "2026-11-01T10:00:00Z"},
                "requester": {"email": "jane@example.com"},
                "satisfaction": {"score": rendered, "comment": "Thanks a lot"},
            })
            events = normalize(body, RECEIVED)
            ratings = [e.rating for e in events if e.rating is not None]
            if expected is None:
                assert ratings == [], rendered
            else:
                assert [(r.score, r.comment, r.comment_text) for r in ratings] == [
                    (expected, True, "Thanks a lot")], rendered


class TestProfileEvents:
    """User and organization events carry the profile fields R10 syncs."""

    def test_name_changed_takes_the_new_name(self) -> None:
        detail = {"id": "5", "email": "Jane@Example.com", "role": "end-user",
                  "organization_id": "0"}
        body = _event("user.name_changed", detail, {"current": "Jane Roe", "previous": "J"})
        [ev] = normalize(body, RECEIVED)
        # the email shown is a snapshot, not a change: an identity, no profile field
        assert ev.attributes == {"name": "Jane Roe", "role": "end-user"}
        assert ev.identities.email == "jane@example.com"

    def test_identity_events_report_the_email_and_membership_the_organization(self) -> None:
        detail = {"id": "5", "email": "Jane@New.example", "organization_id": "77"}
        [ev] = normalize(_event("user.identity_changed", detail), RECEIVED)
        assert ev.attributes == {"email": "jane@new.example", "organization_id": "77"}

    def test_custom_field_changed_is_named_by_key_else_id(self) -> None:
        detail = {"id": "5", "email": "jane@example.com"}
        by_id = _event("user.custom_field_changed", detail,
                       {"current": "gold", "previous": "silver",
                        "custom_field": {"id": "3601", "title": "Plan", "type": "text"}})
        by_key = _event("user.custom_field_changed", detail,
                        {"current": {"value": "eu", "name": "Europe"},
                         "field": {"id": "3602", "key": "region"}})
        [first] = normalize(by_id, RECEIVED)
        [second] = normalize(by_key, RECEIVED)
        assert first.attributes["3601"] == "gold"
        assert second.attributes["region"] == "eu"

    def test_organization_event_names_the_organization_and_no_person(self) -> None:
        detail = {"id": "77", "name": "Acme", "external_id": "acme-1",
                  "updated_at": "2026-11-01T10:00:00Z"}
        renamed = _event("organization.name_changed", detail,
                         {"current": "Acme Inc", "previous": "Acme"})
        field = _event("organization.custom_field_changed", detail,
                       {"current": "enterprise", "custom_field": {"id": "88", "title": "Tier"}})
        [ev] = normalize(renamed, RECEIVED)
        [changed] = normalize(field, RECEIVED)
        assert ev.kind is EventKind.ORGANIZATION_UPDATED
        assert ev.identities.pairs() == []
        assert ev.attributes == {"organization_id": "77", "name": "Acme Inc",
                                 "external_id": "acme-1"}
        assert changed.attributes["88"] == "enterprise"
