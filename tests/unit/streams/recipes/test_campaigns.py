"""R2 post-resolution (merges, replay horizon, deterministic ids), R6 CSAT, R14."""

from __future__ import annotations

from contracts.events import SupportEvent
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event, ticket


def replayed(e: SupportEvent) -> SupportEvent:
    return e.replace(origin="replay")


class TestR2:
    """Created/resolved events, none for merges, none twice, none beyond the horizon."""

    def test_created_and_resolved(self) -> None:
        desk = Desk()
        opened, _ = desk.send(ticket("1", "open", minutes=30, info={"reason": "billing"}))
        solved, _ = desk.send(ticket("1", "solved", minutes=10))
        assert [a.payload["name"] for a in by_recipe(opened, "R2")] == ["zendesk_ticket_created"]
        [resolved] = by_recipe(solved, "R2")
        assert resolved.payload["name"] == "support_ticket_resolved" and resolved.one_off
        assert resolved.payload["data"]["resolution_seconds"] == 20 * 60
        assert resolved.payload["data"]["reason"] == "billing"

    def test_merge_sends_no_resolution(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "open", minutes=30), ticket("2", "open", minutes=29))
        merged, _ = desk.send(ticket("2", "closed", info={"merged_into": "1"}))
        assert by_recipe(merged, "R2") == []

    def test_same_inputs_same_action_ids(self) -> None:
        history = [ticket("1", "open", minutes=30), ticket("1", "solved", minutes=10)]
        first, second = Desk(), Desk()
        ids = [a.action_id for e in history for a in first.send(e)[0]]
        again = [a.action_id for e in history for a in second.send(e)[0]]
        assert ids == again and len(set(ids)) == len(ids)

    def test_replay_beyond_horizon_sends_attributes_not_one_offs(self) -> None:
        days = 5 * 24 * 60
        actions, _ = Desk().send(replayed(ticket("1", "open", minutes=days)),
                                 replayed(ticket("1", "solved", minutes=days - 30)))
        assert by_recipe(actions, "R2") == []
        assert by_recipe(actions, "R1")  # attribute updates still flow

    def test_live_event_of_ticket_created_before_horizon_is_not_announced(self) -> None:
        # Going live: supportsync first sees a ticket created days ago, updated now.
        actions, _ = Desk().send(ticket("1", "open", minutes=5 * 24 * 60))
        assert by_recipe(actions, "R2") == []
        assert by_recipe(actions, "R1")  # its suppression still holds

    def test_live_event_of_recent_ticket_is_announced(self) -> None:
        actions, _ = Desk().send(ticket("1", "open", minutes=60))
        assert [a.payload["name"] for a in by_recipe(actions, "R2")] == ["zendesk_ticket_created"]


class TestR6:
    """CSAT attributes and an event for every rating; a low score also tracks
    low_csat_received, once per rated ticket."""

    def test_low_score(self) -> None:
        rating = {"score": 2, "scale": "one_to_five", "ticket_id": "c1",
                  "comment": True, "comment_text": "slow"}
        actions, _ = Desk().send(event("conversation_rated", "intercom", "r1", rating=rating,
                                       conversation={"id": "c1"}))
        r6 = by_recipe(actions, "R6")
        identify = next(a for a in r6 if a.operation == "identify")
        assert identify.attributes["last_csat_score"] == 2
        events = {a.payload["name"]: a.payload["data"] for a in r6 if a.operation == "event"}
        assert set(events) == {"csat_received", "low_csat_received"}
        assert events["csat_received"]["comment"] == "slow"
        assert events["csat_received"]["score"] == 2

    def test_good_score_tracks_csat_only(self) -> None:
        rating = {"score": "good", "scale": "good_bad", "ticket_id": "1"}
        actions, _ = Desk().send(event("csat_received", "zendesk", "r1", rating=rating))
        r6 = by_recipe(actions, "R6")
        assert sorted(a.operation for a in r6) == ["event", "identify"]
        assert next(a for a in r6 if a.operation == "event").payload["name"] == "csat_received"

    def test_repeated_low_rating_of_a_ticket_recovers_once(self) -> None:
        desk = Desk()
        rating = {"score": "bad", "scale": "good_bad", "ticket_id": "7"}
        first, _ = desk.send(event("csat_received", "zendesk", "r1", minutes=10, rating=rating))
        again, _ = desk.send(event("csat_received", "zendesk", "r2", minutes=5, rating=rating))
        commented = {**rating, "comment": True, "comment_text": "still slow"}
        later, _ = desk.send(event("csat_received", "zendesk", "r3", minutes=1, rating=commented))
        names = [a.payload["name"] for a in by_recipe(first + again + later, "R6")
                 if a.operation == "event"]
        assert names.count("low_csat_received") == 1
        assert again == []  # the same rating rendered into a later update: nothing new
        assert names.count("csat_received") == 2  # the added comment is a new rating


class TestR14:
    """Intercom contacts become Customer.io people, nurtured once per contact."""

    def test_nurture_once_per_contact(self) -> None:
        desk = Desk()
        ids = {"intercom_contact_id": "ic1"}
        first, _ = desk.send(event("contact_updated", "intercom", "n1", identities=ids,
                                   attributes={"name": "Pat", "role": "lead"}))
        second, _ = desk.send(event("contact_updated", "intercom", "n2", identities=ids,
                                    attributes={"name": "Pat B", "role": "lead"}))
        nurture = [a for a in by_recipe(first + second, "R14") if a.operation == "event"]
        assert len({a.action_id for a in nurture}) == 1  # the sinks deliver it once

    def test_closed_conversation_resolves(self) -> None:
        desk = Desk()
        desk.send(event("conversation_opened", "intercom", "o1", minutes=10,
                        conversation={"id": "c9", "state": "open"}))
        actions, _ = desk.send(event("conversation_closed", "intercom", "o2",
                                     conversation={"id": "c9"}))
        [resolved] = by_recipe(actions, "R14")
        assert resolved.payload["name"] == "support_resolved"
        assert resolved.payload["data"]["conversation_id"] == "c9"
