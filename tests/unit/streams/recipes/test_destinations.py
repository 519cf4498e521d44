"""Actions are built only for the destinations the router is given."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings
from contracts.actions import Action
from streams.recipes.router import event_table, transition_table
from streams.recipes.settings import RecipesConfig
from streams.state.tickets import TICKET_KINDS
from tests.unit.streams.recipes.helpers import Desk, event, ticket

EVERY = ("customerio", "zendesk", "intercom", "webhook", "audiences", "warehouse")


def _lifecycle(desk: Desk) -> list[str]:
    """Sinks of every action of a ticket opened then solved, with ads consent given."""
    desk.send(event("subscribed", "customerio", "s1", minutes=90,
                    attributes={"channel": "ads"}))
    opened, _ = desk.send(ticket("1", "open", minutes=60))
    solved, _ = desk.send(ticket("1", "solved"))
    return sorted({a.sink for a in opened + solved})


class TestDestinations:
    """Only enabled destinations get actions; the same actions as before for them."""

    def test_every_destination_by_default(self) -> None:
        assert _lifecycle(Desk()) == ["audiences", "customerio", "warehouse", "webhook"]

    def test_customerio_only(self) -> None:
        everything = Desk()
        only = Desk(sinks=("customerio",))
        assert _lifecycle(only) == ["customerio"]
        _lifecycle(everything)
        # What Customer.io gets is unchanged (same ids, same payloads).
        full, _ = everything.send(ticket("2", "open"))
        lean, _ = only.send(ticket("2", "open"))
        def strip(actions: list[Action]) -> list[dict[str, object]]:
            return [{**a.to_dict(), "created_at": None} for a in actions]

        assert strip(lean) == strip([a for a in full if a.sink == "customerio"])
        assert [a.operation for a in lean] == ["identify", "event"]  # R1, R2

    def test_no_dead_letter_for_a_destination_not_built(self) -> None:
        # An Intercom conversation (Zendesk tickets without an email are parked instead).
        opened = event("conversation_opened", "intercom", "c1", email=None,
                       identities={"intercom_contact_id": "ic1"},
                       conversation={"id": "c1", "state": "open"})
        _, letters = Desk(sinks=("webhook",)).send(opened)
        assert letters == []
        _, letters = Desk().send(opened)
        assert [letter.reason for letter in letters] == ["no_identifier"]

    def test_reporting_metrics_without_the_webhook(self) -> None:
        desk = Desk(sinks=("customerio",))
        desk.send(ticket("1", "open", minutes=60))
        desk.send(ticket("1", "solved"))
        tally = desk.router.tally.drain()
        assert tally.tickets == {("zendesk", "opened"): 1, ("zendesk", "resolved"): 1}
        assert tally.resolutions == [("zendesk", 3600)]


class TestRecipeIndex:
    """A recipe runs only for the kinds it reacts to and only while it has a destination."""

    def test_ticket_events_skip_recipes_for_other_destinations(self) -> None:
        c = RecipesConfig()
        everything = event_table(c, "email")
        lean = event_table(c, "email", frozenset({"customerio"}))
        for kind in TICKET_KINDS:
            assert len(everything[kind]) == 3  # R9, R11, R12: Intercom and Zendesk only
            assert kind not in lean
        assert set(transition_table(c, "email", frozenset({"audiences"}))) == {
            "support_state_changed", "consent_changed", "states_merged",
            "ticket_opened", "ticket_resolved", "csat_received",
        }  # R17 (state, ads consent, merges), and R18 for its metrics

    def test_r18_left_out_without_metrics_or_webhook(self) -> None:
        c = RecipesConfig.model_validate({"r18_reporting": {"metrics": False}})
        assert "csat_received" not in transition_table(c, "email", frozenset({"audiences"}))


class TestDestinationSettings:
    """DESTINATIONS defaults to every destination that runs somewhere (DESTINATIONS wins)."""

    def test_defaults(self) -> None:
        assert Settings().destination_names == EVERY  # embedded: all, in dry-run
        cluster = {"kafka_bootstrap_servers": "kafka:9092"}
        assert Settings(**cluster, sinks="customerio").destination_names == ("customerio",)
        assert Settings(**cluster, sinks="").destination_names == ()
        assert Settings(
            **cluster, sinks="", warehouse_dsn="postgresql://db/x"
        ).destination_names == ("warehouse",)
        assert Settings(sinks="", destinations="zendesk,webhook").destination_names == (
            "zendesk", "webhook",
        )

    def test_unknown_destination_named(self) -> None:
        with pytest.raises(ValidationError, match="unknown sinks \\['zendsk'\\]"):
            Settings(destinations="zendsk")
