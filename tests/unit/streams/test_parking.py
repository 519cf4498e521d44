"""Parking: Zendesk events of customers nobody can address wait for the identity."""

from __future__ import annotations

from contracts.events import SupportEvent
from streams import parking
from streams.state.model import SupportState
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event, ticket

REQUESTER = {"zendesk_user_id": "66001"}


def requester_ticket(ticket_id: str, status: str, **fields: object) -> SupportEvent:
    return ticket(ticket_id, status, email=None, identities=REQUESTER, **fields)


def user_event(email: str, event_id: str = "user-1") -> SupportEvent:
    return event("contact_updated", "zendesk", event_id, email=email, identities=REQUESTER)


class TestParking:
    """A ticket naming only the requester id is parked, then applied with the email."""

    def test_parked_ticket_reaches_customerio_once_the_email_arrives(self) -> None:
        desk = Desk()
        actions, letters = desk.send(requester_ticket("1", "open", minutes=2))
        assert actions == [] and letters == []
        assert len(desk.state.parked) == 1 and desk.state.tickets == {}
        actions, letters = desk.send(user_event("jo@example.com"))
        assert letters == []
        [r1] = by_recipe(actions, "R1")
        assert r1.person == "jo@example.com" and r1.attributes["has_open_ticket"] is True
        assert [a.payload["name"] for a in by_recipe(actions, "R2")] == ["zendesk_ticket_created"]
        assert desk.state.parked == () and "zendesk:1" in desk.state.tickets

    def test_parked_events_apply_in_order(self) -> None:
        desk = Desk()
        desk.send(requester_ticket("1", "open", minutes=3),
                  requester_ticket("1", "solved", minutes=2))
        desk.send(user_event("jo@example.com"))
        assert desk.state.tickets["zendesk:1"].status == "solved"
        assert desk.state.support_state == "cooldown"

    def test_redelivered_event_is_parked_once(self) -> None:
        desk = Desk()
        desk.send(requester_ticket("1", "open"), requester_ticket("1", "open"))
        assert len(desk.state.parked) == 1

    def test_parking_is_bounded(self) -> None:
        desk = Desk()
        events = [requester_ticket(str(i), "open", minutes=100 - i)
                  for i in range(parking.PARK_LIMIT + 2)]
        desk.send(*events)
        assert len(desk.state.parked) == parking.PARK_LIMIT
        assert len(desk.state.tickets) == 2  # beyond the limit: applied at once

    def test_events_with_an_email_are_not_parked(self) -> None:
        desk = Desk()
        actions, _ = desk.send(ticket("1", "open"))
        assert by_recipe(actions, "R1") and desk.state.parked == ()

    def test_parked_events_survive_the_state_codec(self) -> None:
        desk = Desk()
        desk.send(requester_ticket("1", "open"))
        again = SupportState.from_bytes(desk.state.to_bytes())
        assert again.parked == desk.state.parked
        event_back, _ = parking.decode(again.parked[0])
        assert event_back.ticket is not None and event_back.ticket.id == "1"
        assert desk.state.explain()["parked_events"] == 1
