"""Parking: Zendesk events of customers nobody can address wait for the identity."""

from __future__ import annotations

import orjson

from contracts.events import SupportEvent
from contracts.records import encode_merge_in
from streams import merging, parking
from streams.stages import reroute
from streams.state.model import SupportState
from tests.unit.streams.recipes.helpers import NOW, Desk, by_recipe, event, ticket

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


class TestReroute:
    """A redriven no_identifier dead letter is routed with what the state knows now."""

    def test_rerouted_with_current_identity_and_values(self) -> None:
        desk = Desk()
        ids = {"intercom_contact_id": "ic9"}
        _, [letter] = desk.send(event("conversation_opened", "intercom", "conv-1", email=None,
                                      identities=ids,
                                      conversation={"id": "c1", "state": "open"}))
        assert letter.reason == "no_identifier"
        desk.send(event("contact_updated", "intercom", "contact-1", email="jo@example.com",
                        identities=ids))
        result = reroute(letter.record, get_state=desk.states.get, router=desk.router)
        [r1] = [a for a in by_recipe(result.actions, "R1") if a.sink == "customerio"]
        assert r1.person == "jo@example.com" and r1.attributes["has_open_ticket"] is True
        again = reroute(letter.record, get_state=desk.states.get, router=desk.router)
        assert [a.action_id for a in again.actions] == [a.action_id for a in result.actions]

    def test_unknown_customer_is_a_dead_letter(self) -> None:
        desk = Desk()
        _, [letter] = desk.send(event("conversation_opened", "intercom", "conv-1", email=None,
                                      identities={"intercom_contact_id": "ic9"},
                                      conversation={"id": "c1", "state": "open"}))
        result = reroute(letter.record, get_state={}.get, router=desk.router)
        assert [d.reason for d in result.dead_letters] == ["unknown_customer"]


class TestMergeReleases:
    """A merge with a customer that has the email applies the absorbed one's parked events."""

    def test_parked_events_follow_the_merge(self) -> None:
        parked, known = Desk(key="c:zendesk"), Desk(key="c:email")
        parked.send(requester_ticket("1", "open", minutes=2))
        known.send(event("contact_updated", "intercom", "contact-1", email="jo@example.com"))
        command = orjson.loads(encode_merge_in("c:email", parked.state.to_bytes(), "link-1",
                                               NOW.timestamp()))["merge_in"]
        result = merging.merge_in(command, get_state=known.states.get,
                                  put_state=known.states.__setitem__, config=known.config,
                                  router=known.router)
        [r1] = [a for a in by_recipe(result.actions, "R1") if a.sink == "customerio"]
        assert r1.person == "jo@example.com" and r1.attributes["has_open_ticket"] is True
        assert known.state.parked == () and "zendesk:1" in known.state.tickets
        assert result.parking.released == 1
