"""R19: Segment-spec identify, group and track as the Zendesk destination handles them."""

from __future__ import annotations

import uuid
from typing import Any

from streams.recipes import RecipesConfig
from streams.recipes.settings import R19ZendeskDestination
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event


def call(kind: str, email: str | None = "ada@example.com", **attributes: Any) -> Any:
    ids = {"external_id": attributes.get("user_id")} if attributes.get("user_id") else {}
    return event(kind, "pipelines", f"m-{uuid.uuid4().hex}", email=email,
                 identities=ids, attributes=attributes)


class TestIdentify:
    """Users: email required, name joined, mapped traits, membership, settings."""

    def test_user_and_membership(self) -> None:
        config = RecipesConfig(r19_zendesk_destination=R19ZendeskDestination(
            create_users_as_verified=True, skip_verify_email=True))
        traits = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
                  "organizationId": 5, "timezone": "Europe/London", "plan": "pro",
                  "company": {"id": "4711", "remove": True}}
        actions, _ = Desk(config).send(call("identify", user_id="u1", traits=traits))
        user, membership = by_recipe(actions, "R19")
        assert user.attributes == {"name": "Ada Lovelace", "external_id": "u1",
                                   "organization_id": 5, "time_zone": "Europe/London",
                                   "user_fields": {"plan": "pro"}}
        assert user.payload["verified"] is True and user.payload["skip_verify_email"] is True
        assert (membership.operation, membership.payload) == (
            "remove_membership", {"organization_id": 4711, "recipe": "R19"})

    def test_company_id_must_be_a_zendesk_organization_id(self) -> None:
        traits = {"email": "ada@example.com", "company": {"id": "acme"}}
        actions, letters = Desk().send(call("identify", user_id="u1", traits=traits))
        assert [a.operation for a in by_recipe(actions, "R19")] == ["update_user"]
        assert [d.reason for d in letters] == ["invalid_company_id"]

    def test_without_email_updates_the_user_by_external_id_only(self) -> None:
        actions, letters = Desk().send(call("identify", email=None, user_id="u1",
                                            traits={"name": "X"}))
        [user] = by_recipe(actions, "R19")
        assert (user.person, user.payload["identify_by"], user.payload["create"]) == (
            "u1", "external_id", False)
        assert letters == []

    def test_email_or_user_id_required(self) -> None:
        actions, letters = Desk().send(call("identify", email=None, traits={"name": "X"}))
        assert by_recipe(actions, "R19") == []
        assert [d.reason for d in letters] == ["missing_email"]


class TestGroupAndTrack:
    """Organizations, tickets, and user events found in the documented order."""

    def test_group(self) -> None:
        traits = {"name": "Acme", "domainNames": "a.example, b.example", "tags": ["x"],
                  "notes": "n", "email": "billing@acme.example", "plan": "gold"}
        actions, _ = Desk().send(call("group", user_id="u1", group_id="g1", traits=traits))
        org, member = by_recipe(actions, "R19")
        assert org.attributes == {"external_id": "g1", "name": "Acme", "notes": "n",
                                  "domain_names": ["a.example", "b.example"], "tags": ["x"],
                                  "organization_fields": {"email": "billing@acme.example",
                                                          "plan": "gold"}}
        assert (member.operation, member.person) == ("add_membership", "ada@example.com")

    def test_ticket_created_and_updated(self) -> None:
        desk = Desk()
        created, _ = desk.send(call("track", event="Ticket Created",
                                    properties={"subject": "S", "description": "D"}))
        assert by_recipe(created, "R19")[0].payload["ticket"] == {
            "subject": "S", "comment": {"body": "D"}}
        updated, _ = desk.send(call("track", event="Ticket Updated",
                                    properties={"ticket_id": 12, "status": "solved"}))
        assert by_recipe(updated, "R19")[0].payload | {"recipe": ""} == {
            "ticket_id": "12", "status": "solved", "recipe": ""}

    def test_user_event_lookup_order(self) -> None:
        by_id, _ = Desk().send(call("track", event="Viewed", zendesk_user_id="77", user_id="u1"))
        assert by_recipe(by_id, "R19")[0].payload["user_id"] == "77"
        by_email, _ = Desk().send(call("track", event="Viewed", user_id="u1"))
        assert by_recipe(by_email, "R19")[0].payload["email"] == "ada@example.com"
        by_external, _ = Desk().send(call("track", email=None, event="Viewed", user_id="u1"))
        assert by_recipe(by_external, "R19")[0].payload["external_id"] == "u1"
