from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.intercom.normalize import normalize
from contracts.events import EventKind
from tests.unit.connectors.intercom.fixtures import (
    CONTACT_ID,
    contact,
    conversation,
    notification,
    ticket,
)

RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class TestConversations:
    """Conversation topics map to conversation_* kinds with string ids and states."""

    def test_user_created_opens(self) -> None:
        [ev] = normalize(notification("conversation.user.created", conversation()), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_OPENED
        assert ev.source == "intercom" and ev.event_id == "notif_1"
        assert ev.conversation is not None
        assert ev.conversation.id == "1911149811" and ev.conversation.state == "open"
        assert ev.conversation.admin_id == "814860"
        assert ev.conversation.priority == "normal"
        assert ev.identities.intercom_contact_id == CONTACT_ID
        assert ev.identities.external_id == "u-42"
        assert ev.identities.email == "pat.doe@example.com"
        assert ev.occurred_at == datetime.fromtimestamp(1761991100, UTC)

    @pytest.mark.parametrize(
        "topic",
        [
            "conversation.user.replied",
            "conversation.admin.replied",
            "conversation.admin.assigned",
            "conversation.admin.noted",
            "conversation.admin.opened",
            "conversation.admin.unsnoozed",
        ],
    )
    def test_activity_topics_keep_it_open(self, topic: str) -> None:
        [ev] = normalize(notification(topic, conversation(priority="priority")), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_OPENED
        assert ev.conversation is not None and ev.conversation.state == "open"
        assert ev.conversation.priority == "high"
        assert ev.attributes == {"topic": topic}

    def test_snoozed(self) -> None:
        item = conversation(state="snoozed")
        [ev] = normalize(notification("conversation.admin.snoozed", item), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_OPENED
        assert ev.conversation is not None and ev.conversation.state == "snoozed"

    def test_closed(self) -> None:
        [ev] = normalize(notification("conversation.admin.closed", conversation()), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_CLOSED
        assert ev.conversation is not None and ev.conversation.state == "closed"

    def test_tag_created_carries_added_tags(self) -> None:
        item = conversation(
            tags={"type": "tag.list", "tags": [{"type": "tag", "id": "1", "name": "vip"}]},
            tags_added={"type": "tag.list", "tags": [{"type": "tag", "id": "2", "name": "refund"}]},
        )
        [ev] = normalize(notification("conversation_part.tag.created", item), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_TAGGED
        assert ev.conversation is not None and ev.conversation.tags == ("refund",)

    @pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
    def test_rating(self, score: int) -> None:
        item = conversation(
            conversation_rating={
                "rating": score,
                "remark": "slow" if score < 3 else "",
                "created_at": 1761991150,
                "contact": {"type": "contact", "id": CONTACT_ID},
                "teammate": {"type": "admin", "id": "814860"},
            }
        )
        [ev] = normalize(notification("conversation.rating.added", item), RECEIVED)
        assert ev.kind is EventKind.CONVERSATION_RATED
        assert ev.rating is not None
        assert ev.rating.score == score and ev.rating.scale == "one_to_five"
        assert ev.rating.ticket_id == "1911149811"
        assert ev.rating.comment is (score < 3)
        assert ev.rating.is_low is (score <= 2)
        assert ev.occurred_at == datetime.fromtimestamp(1761991150, UTC)

    @pytest.mark.parametrize("bad", [None, {"rating": 0}, {"rating": 6}, {"rating": "5"}])
    def test_rating_off_scale_is_a_bad_shape(self, bad: object) -> None:
        item = conversation(conversation_rating=bad)
        with pytest.raises(ValueError):
            normalize(notification("conversation.rating.added", item), RECEIVED)


class TestContacts:
    """Contact topics give contact_updated plus the email consent they state."""

    @pytest.mark.parametrize(
        "topic",
        [
            "contact.user.created",
            "contact.lead.created",
            "contact.user.updated",
            "contact.lead.updated",
        ],
    )
    def test_contact_updated_and_subscribed(self, topic: str) -> None:
        updated, consent = normalize(notification(topic, contact()), RECEIVED)
        assert updated.kind is EventKind.CONTACT_UPDATED
        assert updated.attributes == {"name": "Pat Doe", "email": "pat.doe@example.com",
                                      "role": "user", "plan": "pro"}
        assert updated.identities.phone == "+15550100"
        assert consent.kind is EventKind.SUBSCRIBED
        assert consent.attributes == {"channel": "email"}
        assert consent.event_id == "notif_1:consent"

    def test_unsubscribed_from_emails(self) -> None:
        body = notification("contact.user.updated", contact(unsubscribed_from_emails=True))
        _, consent = normalize(body, RECEIVED)
        assert consent.kind is EventKind.UNSUBSCRIBED

    def test_without_the_flag_only_contact_updated(self) -> None:
        item = contact()
        del item["unsubscribed_from_emails"]
        [ev] = normalize(notification("contact.user.updated", item), RECEIVED)
        assert ev.kind is EventKind.CONTACT_UPDATED

    def test_contact_unsubscribed_topic(self) -> None:
        [ev] = normalize(notification("contact.unsubscribed", contact()), RECEIVED)
        assert ev.kind is EventKind.UNSUBSCRIBED


class TestTicketsAndOthers:
    """ticket.created opens a ticket; ping and unknown topics give nothing."""

    def test_ticket_created(self) -> None:
        [ev] = normalize(notification("ticket.created", ticket()), RECEIVED)
        assert ev.kind is EventKind.TICKET_OPENED
        assert ev.ticket is not None
        assert ev.ticket.id == "2201" and ev.ticket.status == "new"
        assert ev.ticket.subject == "Refund request"
        assert ev.identities.intercom_contact_id == CONTACT_ID

    def test_ticket_state_as_string(self) -> None:
        [ev] = normalize(
            notification("ticket.created", ticket(ticket_state="in_progress")), RECEIVED
        )
        assert ev.ticket is not None and ev.ticket.status == "open"

    def test_ticket_state_updates_close_tickets(self) -> None:
        resolved = ticket(ticket_state={"type": "ticket_state", "category": "resolved"})
        [ev] = normalize(notification("ticket.state.updated", resolved), RECEIVED)
        assert ev.kind is EventKind.TICKET_STATUS_CHANGED
        assert ev.ticket is not None and ev.ticket.status == "solved"
        [closed] = normalize(notification("ticket.closed", ticket(open=False)), RECEIVED)
        assert closed.ticket is not None and closed.ticket.status == "closed"
        [waiting] = normalize(notification("ticket.state.updated", ticket(
            ticket_state={"category": "waiting_on_customer"})), RECEIVED)
        assert waiting.ticket is not None and waiting.ticket.status == "pending"

    def test_tag_event_carries_the_transcript(self) -> None:
        item = conversation(
            source={"body": "<p>Help, <b>please</b></p>", "author": {"type": "user"}},
            conversation_parts={"conversation_parts": [
                {"part_type": "note", "body": "VIP", "author": {"type": "admin", "name": "Al"}},
                {"part_type": "assignment", "body": None},
            ]},
            tags_added={"tags": [{"name": "escalate"}]},
        )
        [ev] = normalize(notification("conversation_part.tag.created", item), RECEIVED)
        expected = "user: Help, please\n\nAl (admin) [internal note]: VIP"
        assert ev.attributes["transcript"] == expected

    @pytest.mark.parametrize("topic", ["ping", "company.created", "visitor.signed_up", ""])
    def test_unknown_topics_yield_nothing(self, topic: str) -> None:
        assert normalize(notification(topic, contact()), RECEIVED) == []

    def test_fallback_event_id_without_notification_id(self) -> None:
        body = notification("conversation.user.created", conversation(), notif_id="")
        [ev] = normalize(body, RECEIVED)
        assert ev.event_id == "intercom:conversation.user.created:1911149811:1761991100"


class TestPartAuthor:
    """The admin who wrote the newest conversation part is the event's author."""

    def test_admin_part(self) -> None:
        parts = {"conversation_parts": [
            {"author": {"type": "user", "id": "c1"}},
            {"author": {"type": "admin", "id": 991}},
        ]}
        [ev] = normalize(notification("conversation.admin.noted",
                                      conversation(conversation_parts=parts)), RECEIVED)
        assert ev.author_id == "991"

    def test_a_persons_part_has_no_admin_author(self) -> None:
        parts = {"conversation_parts": [{"author": {"type": "user", "id": "c1"}}]}
        [ev] = normalize(notification("conversation.user.replied",
                                      conversation(conversation_parts=parts)), RECEIVED)
        assert ev.author_id is None
