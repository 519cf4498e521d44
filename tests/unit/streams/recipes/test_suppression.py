"""R1 suppression (holdout), R15 unsubscribe sync, R17 ad audiences."""

from __future__ import annotations

from streams.recipes import RecipesConfig
from streams.state.config import StateConfig
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event, ticket


class TestR1:
    """Suppression attributes to Customer.io and Intercom, holdout-aware."""

    def test_open_ticket_suppresses_first(self) -> None:
        actions, letters = Desk().send(ticket("1", "open"))
        assert letters == []
        assert actions[0].payload["recipe"] == "R1" and actions[0].priority == "suppression"
        assert actions[0].attributes["has_open_ticket"] is True
        assert [a.sink for a in by_recipe(actions, "R1")] == ["customerio"]

    def test_intercom_only_when_intercom_knows_the_contact(self) -> None:
        ids = {"intercom_contact_id": "ic1"}
        actions, _ = Desk().send(ticket("1", "open", identities=ids))
        assert sorted(a.sink for a in by_recipe(actions, "R1")) == ["customerio", "intercom"]

    def test_holdout_is_flagged_never_suppressed(self) -> None:
        desk = Desk(state=StateConfig(holdout_percent=100))
        actions, _ = desk.send(ticket("1", "open"))
        [r1] = by_recipe(actions, "R1")
        assert r1.attributes["support_holdout"] is True
        assert "has_open_ticket" not in r1.attributes and "support_state" not in r1.attributes
        assert r1.priority == "enrichment"
        assert by_recipe(actions, "R17") == []

    def test_no_identifier_is_a_dead_letter(self) -> None:
        desk = Desk()
        _, letters = desk.send(event("conversation_opened", "intercom", "conv-1", email=None,
                                     identities={"intercom_contact_id": "ic9"},
                                     conversation={"id": "c1", "state": "open"}))
        assert [(d.stage, d.reason) for d in letters] == [("route", "no_identifier")]


class TestR1LaterLinkedPlatforms:
    """A platform that learns of a customer after their ticket opened is brought up to date."""

    def test_intercom_contact_linked_while_a_ticket_is_open_gets_the_flags(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "open", minutes=5))
        actions, letters = desk.send(event("contact_updated", "intercom", "ic-created",
                                           identities={"intercom_contact_id": "ic1"},
                                           attributes={"name": "Pat"}))
        assert letters == []
        [r1] = by_recipe(actions, "R1")
        assert (r1.sink, r1.operation, r1.priority) == ("intercom", "update_contact",
                                                        "suppression")
        assert r1.attributes["has_open_ticket"] is True
        assert r1.attributes["support_state"] == "open"

    def test_customerio_identifier_linked_later_gets_the_flags(self) -> None:
        desk = Desk()
        desk.send(event("conversation_opened", "intercom", "conv-1", email=None,
                        identities={"intercom_contact_id": "ic9"},
                        conversation={"id": "c1", "state": "open"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-email",
                                     email="pat@example.com",
                                     identities={"intercom_contact_id": "ic9"},
                                     attributes={"name": "Pat"}))
        [r1] = [a for a in by_recipe(actions, "R1") if a.sink == "customerio"]
        assert r1.person == "pat@example.com" and r1.attributes["has_open_ticket"] is True

    def test_nothing_for_a_customer_who_never_had_a_ticket(self) -> None:
        desk = Desk()
        desk.send(event("contact_updated", "intercom", "c1", attributes={"name": "Pat"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "c2",
                                     identities={"intercom_contact_id": "ic1"},
                                     attributes={"name": "Pat"}))
        assert by_recipe(actions, "R1") == []

    def test_holdout_customer_gets_no_suppression_flags(self) -> None:
        desk = Desk(state=StateConfig(holdout_percent=100))
        desk.send(ticket("1", "open", minutes=5))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-created",
                                     identities={"intercom_contact_id": "ic1"}))
        [r1] = by_recipe(actions, "R1")
        assert "has_open_ticket" not in r1.attributes and r1.priority == "enrichment"

    def test_replaying_the_linking_event_sends_nothing_again(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "open", minutes=5))
        linking = event("contact_updated", "intercom", "ic-created",
                        identities={"intercom_contact_id": "ic1"})
        first, _ = desk.send(linking)
        again, _ = desk.send(linking)
        assert by_recipe(first, "R1") and again == []


class TestR15:
    """An unsubscribe anywhere wins; the origin platform is not written back."""

    def test_customerio_unsubscribe_reaches_intercom(self) -> None:
        ids = {"intercom_contact_id": "ic1"}
        actions, _ = Desk().send(event("unsubscribed", "customerio", "u1", identities=ids,
                                       attributes={"channel": "email"}))
        [action] = by_recipe(actions, "R15")
        assert (action.sink, action.attributes) == ("intercom",
                                                    {"unsubscribed_from_emails": True})

    def test_resubscribe_waits_for_every_platform(self) -> None:
        ids = {"intercom_contact_id": "ic1"}
        desk = Desk()
        desk.send(event("unsubscribed", "customerio", "u1", minutes=5, identities=ids,
                        attributes={"channel": "email"}),
                  event("unsubscribed", "intercom", "u2", minutes=4, identities=ids,
                        attributes={"channel": "email"}))
        actions, _ = desk.send(event("subscribed", "customerio", "s1", identities=ids,
                                     attributes={"channel": "email"}))
        [action] = by_recipe(actions, "R15")
        assert action.attributes == {"unsubscribed_from_emails": True}  # Intercom still says no


class TestR15LaterLinkedPlatforms:
    """An unsubscribe reaches a platform that learns of the customer afterwards."""

    def test_intercom_contact_linked_after_a_customerio_unsubscribe(self) -> None:
        desk = Desk()
        desk.send(event("unsubscribed", "customerio", "u1", minutes=5,
                        attributes={"channel": "email"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-created",
                                     identities={"intercom_contact_id": "ic1"}))
        [r15] = by_recipe(actions, "R15")
        assert (r15.sink, r15.attributes, r15.priority) == (
            "intercom", {"unsubscribed_from_emails": True}, "suppression")

    def test_not_back_to_the_platform_the_unsubscribe_came_from(self) -> None:
        desk = Desk()
        desk.send(event("unsubscribed", "intercom", "u1", minutes=5, email=None,
                        identities={"intercom_contact_id": "ic1"},
                        attributes={"channel": "email"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-email",
                                     identities={"intercom_contact_id": "ic1"}))
        [r15] = by_recipe(actions, "R15")  # Customer.io learns of it; Intercom knew
        assert (r15.sink, r15.person) == ("customerio", "pat@example.com")
        assert r15.attributes == {"unsubscribed": True}

    def test_nothing_while_every_platform_allows_email(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "open", minutes=5))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-created",
                                     identities={"intercom_contact_id": "ic1"}))
        assert by_recipe(actions, "R15") == []


class TestR17:
    """Audience membership follows the state; ads consent (opt-in by default) is required;
    withdrawing it removes the person from every audience."""

    @staticmethod
    def consent(kind: str, event_id: str, minutes: float) -> object:
        return event(kind, "customerio", event_id, minutes=minutes,
                     attributes={"channel": "ads"})

    def test_add_and_remove(self) -> None:
        desk = Desk(state=StateConfig(cooldown=StateConfig().cooldown * 0))
        desk.send(self.consent("subscribed", "s1", 20))  # type: ignore[arg-type]
        added, _ = desk.send(ticket("1", "open", minutes=10))
        removed, _ = desk.send(ticket("1", "solved", minutes=1))
        [add] = by_recipe(added, "R17")
        assert (add.operation, add.payload["audience"], add.payload["ads_consent"]) == (
            "audience_add", "suppress_promos", True)
        assert [a.operation for a in by_recipe(removed, "R17")] == ["audience_remove"]

    def test_never_without_ads_consent(self) -> None:
        desk = Desk()
        desk.send(self.consent("unsubscribed", "u1", 5))  # type: ignore[arg-type]
        actions, _ = desk.send(ticket("1", "open"))
        assert by_recipe(actions, "R17") == []

    def test_opt_in_by_default_and_opt_out_configurable(self) -> None:
        assert by_recipe(Desk().send(ticket("1", "open"))[0], "R17") == []
        opt_out = RecipesConfig.model_validate({"r17_ad_audiences": {"ads_consent": "opt_out"}})
        assert [a.operation for a in by_recipe(Desk(opt_out).send(ticket("1", "open"))[0],
                                                "R17")] == ["audience_add"]

    def test_withdrawal_removes_from_every_audience(self) -> None:
        desk = Desk()
        desk.send(self.consent("subscribed", "s1", 20))  # type: ignore[arg-type]
        desk.send(ticket("1", "open", minutes=10))
        actions, _ = desk.send(self.consent("unsubscribed", "u1", 5))  # type: ignore[arg-type]
        removed = by_recipe(actions, "R17")
        assert {(a.operation, a.payload["audience"]) for a in removed} == {
            ("audience_remove", "suppress_promos"), ("audience_remove", "service_recovery")}

    def test_opting_in_adds_where_the_state_belongs(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "open", minutes=10))
        actions, _ = desk.send(self.consent("subscribed", "s1", 5))  # type: ignore[arg-type]
        assert [(a.operation, a.payload["audience"]) for a in by_recipe(actions, "R17")] == [
            ("audience_add", "suppress_promos")]
