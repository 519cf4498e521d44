"""R5 VIP routing, R7 outreach, and the linked-ticket recipes R8 R9 R11 R12."""

from __future__ import annotations

from streams.recipes import RecipesConfig
from streams.recipes.settings import R5VipRouting, R11TagMapping, TagMapping, VipRule
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event, ticket

LINK = "intercom_conversation_c7"


def vip_config() -> RecipesConfig:
    rules = [VipRule(segment="vip", priority="urgent", tags=["vip"], group_id=4),
             VipRule(plan="enterprise", priority="high")]
    return RecipesConfig(r5_vip_routing=R5VipRouting(segments=rules))


class TestR5:
    """The first matching rule routes a new ticket; nothing for other customers."""

    def test_segment_rule(self) -> None:
        desk = Desk(vip_config())
        desk.send(event("segment_entered", "customerio", "s1", attributes={"segment": "vip"}))
        actions, _ = desk.send(ticket("101", "new"))
        [routed] = by_recipe(actions, "R5")
        assert routed.payload | {"recipe": "R5"} == {
            "ticket_id": "101", "priority": "urgent", "add_tags": ["vip"], "group_id": 4,
            "recipe": "R5"}

    def test_plan_rule(self) -> None:
        desk = Desk(vip_config())
        desk.send(event("contact_updated", "intercom", "p1", attributes={"plan": "enterprise"}))
        actions, _ = desk.send(ticket("102", "new"))
        assert by_recipe(actions, "R5")[0].payload["priority"] == "high"

    def test_no_rule_no_action(self) -> None:
        actions, _ = Desk(vip_config()).send(ticket("103", "new"))
        assert by_recipe(actions, "R5") == []


class TestR7:
    """Entering churn-risk opens one internal ticket with context."""

    def test_outreach_ticket(self) -> None:
        actions, _ = Desk().send(event("segment_entered", "customerio", "s1",
                                       attributes={"segment": "churn-risk"}))
        [created] = by_recipe(actions, "R7")
        assert created.operation == "create_ticket" and created.one_off
        assert created.payload["ticket"]["tags"] == ["proactive-outreach"]
        assert "Support state: clear" in created.payload["note"]


class TestLinked:
    """R8 escalation, R9 status back, R11 tags, R12 acknowledgements."""

    def test_r8_one_ticket_per_conversation(self) -> None:
        desk = Desk()
        tagged = [event("conversation_tagged", "intercom", f"t{i}",
                        conversation={"id": "c7", "tags": ["escalate"], "priority": "high"})
                  for i in (1, 2)]
        ids = {a.action_id for e in tagged for a in by_recipe(desk.send(e)[0], "R8")}
        assert len(ids) == 1

    def test_r9_note_and_close(self) -> None:
        desk = Desk()
        actions, _ = desk.send(ticket("55", "solved", info={"tags": [LINK]}))
        assert [a.operation for a in by_recipe(actions, "R9")] == [
            "note_conversation", "close_conversation"]
        assert by_recipe(actions, "R9")[0].payload["conversation_id"] == "c7"

    def test_r11_skips_tags_already_present(self) -> None:
        mapping = TagMapping(intercom="Billing", intercom_tag_id="9", zendesk="billing")
        desk = Desk(RecipesConfig(r11_tag_mapping=R11TagMapping(tags=[mapping])))
        first, _ = desk.send(ticket("56", "open", info={"tags": [LINK, "billing"]}))
        assert [a.payload["tag_id"] for a in by_recipe(first, "R11")] == ["9"]
        echo, _ = desk.send(event("conversation_tagged", "intercom", "e1",
                                  conversation={"id": "c7", "tags": ["Billing"]}))
        assert by_recipe(echo, "R11") == []

    def test_r12_acknowledges_web_tickets_of_intercom_contacts(self) -> None:
        ids = {"intercom_contact_id": "ic1"}
        actions, _ = Desk().send(ticket("57", "new", identities=ids,
                                        info={"channel": "web", "priority": "urgent"}))
        [ack] = by_recipe(actions, "R12")
        assert ack.payload["metadata"] == {"ticket_id": "57", "expected_response": "1 hour"}
        api, _ = Desk().send(ticket("58", "new", identities=ids, info={"channel": "api"}))
        assert by_recipe(api, "R12") == []
