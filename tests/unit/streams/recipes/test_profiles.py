"""R10 profile sync (newer wins, pinned fields, echoes), R13 Customer.io → Intercom."""

from __future__ import annotations

from streams.recipes import RecipesConfig
from streams.recipes.settings import FieldRule, R10ProfileSync
from tests.unit.streams.recipes.helpers import Desk, by_recipe, event

BOTH = {"zendesk_user_id": "9", "intercom_contact_id": "ic1"}


class TestR10:
    """Fields flow from where they changed to the other helpdesk."""

    def test_intercom_change_goes_to_zendesk_and_echo_stops(self) -> None:
        desk = Desk()
        actions, _ = desk.send(event("contact_updated", "intercom", "i1", minutes=5,
                                     identities=BOTH, attributes={"name": "Kim"}))
        [sync] = by_recipe(actions, "R10")
        assert (sync.sink, sync.attributes) == ("zendesk", {"name": "Kim"})
        echo, _ = desk.send(event("contact_updated", "zendesk", "z1", minutes=1,
                                  identities=BOTH, attributes={"name": "Kim"}))
        assert by_recipe(echo, "R10") == []

    def test_older_conflicting_update_changes_nothing(self) -> None:
        desk = Desk()
        desk.send(event("contact_updated", "intercom", "i1", minutes=5, identities=BOTH,
                        attributes={"name": "New"}))
        older, _ = desk.send(event("contact_updated", "zendesk", "z1", minutes=10,
                                   identities=BOTH, attributes={"name": "Old"}))
        assert by_recipe(older, "R10") == []
        assert desk.state.profile["name"].value == "New"

    def test_pinned_field_flows_one_way(self) -> None:
        rules = {"plan": FieldRule(zendesk="plan_tier", intercom="plan", pinned="zendesk")}
        desk = Desk(RecipesConfig(r10_profile_sync=R10ProfileSync(fields=rules)))
        actions, _ = desk.send(event("contact_updated", "intercom", "i1", identities=BOTH,
                                     attributes={"plan": "pro"}))
        assert by_recipe(actions, "R10") == []


class TestR10FieldsAndOrganizations:
    """Email, plan and custom fields cross by id, once; organizations become companies."""

    def test_zendesk_plan_and_custom_field_reach_the_intercom_contact_by_id(self) -> None:
        rules = {**R10ProfileSync().fields,
                 "region": FieldRule(zendesk="region", zendesk_field_id="3601",
                                     intercom="region")}
        desk = Desk(RecipesConfig(r10_profile_sync=R10ProfileSync(fields=rules)))
        actions, _ = desk.send(event("contact_updated", "zendesk", "z1", identities=BOTH,
                                     attributes={"plan_tier": "gold", "3601": "eu"}))
        [sync] = by_recipe(actions, "R10")
        assert (sync.sink, sync.operation) == ("intercom", "update_contact")
        assert sync.attributes == {"plan": "gold", "region": "eu"}
        assert sync.payload["contact_id"] == "ic1"

    def test_intercom_email_change_reaches_the_zendesk_user_by_id(self) -> None:
        desk = Desk()
        desk.send(event("contact_updated", "zendesk", "z1", minutes=10, identities=BOTH,
                        attributes={"email": "pat@example.com"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "i1", minutes=1,
                                     identities=BOTH, attributes={"email": "pat@new.example"}))
        [sync] = by_recipe(actions, "R10")
        assert (sync.sink, sync.attributes) == ("zendesk", {"email": "pat@new.example"})
        assert sync.payload["user_id"] == "9"

    def test_value_the_other_side_holds_is_not_sent_back(self) -> None:
        desk = Desk()
        first, _ = desk.send(event("contact_updated", "intercom", "i1", minutes=10,
                                   identities=BOTH, attributes={"plan": "pro"}))
        assert by_recipe(first, "R10")[0].attributes == {"plan_tier": "pro"}
        # our write comes back from Zendesk under its own name: equal, nothing goes out
        echo, _ = desk.send(event("contact_updated", "zendesk", "z1", minutes=5,
                                  identities=BOTH, attributes={"plan_tier": "pro"}))
        assert by_recipe(echo, "R10") == []
        # an older Zendesk value loses to the newer Intercom one
        older, _ = desk.send(event("contact_updated", "zendesk", "z2", minutes=20,
                                   identities=BOTH, attributes={"plan_tier": "basic"}))
        assert by_recipe(older, "R10") == []

    def test_only_the_other_helpdesk_s_value_counts(self) -> None:
        desk = Desk()
        desk.send(event("identify", "pipelines", "p1", minutes=1, identities=BOTH,
                        attributes={"traits": {"plan": "pro"}}))
        actions, _ = desk.send(event("contact_updated", "zendesk", "z1", minutes=5,
                                     identities=BOTH, attributes={"plan_tier": "pro"}))
        assert [a.attributes for a in by_recipe(actions, "R10")] == [{"plan": "pro"}]

    def test_unchanged_values_send_nothing(self) -> None:
        desk = Desk()
        desk.send(event("contact_updated", "zendesk", "z1", minutes=5, identities=BOTH,
                        attributes={"name": "Pat", "plan_tier": "pro"}))
        again, _ = desk.send(event("contact_updated", "zendesk", "z2", minutes=1,
                                   identities=BOTH, attributes={"name": "Pat",
                                                                "plan_tier": "pro"}))
        assert by_recipe(again, "R10") == []

    def test_a_new_organization_attaches_the_contact_to_its_company(self) -> None:
        desk = Desk()
        actions, _ = desk.send(event("contact_updated", "zendesk", "z1", identities=BOTH,
                                     attributes={"organization_id": "77"}))
        [attach] = by_recipe(actions, "R10")
        assert (attach.operation, attach.payload["contact_id"],
                attach.payload["company_id"]) == ("attach_company", "ic1", "zendesk-org-77")
        again, _ = desk.send(event("contact_updated", "zendesk", "z2", identities=BOTH,
                                   attributes={"organization_id": "77", "name": "Pat"}))
        assert [a.operation for a in by_recipe(again, "R10")] == ["update_contact"]

    def test_organization_becomes_an_intercom_company(self) -> None:
        organizations = {"fields": {"88": "plan", "industry": "industry"}}
        config = RecipesConfig(r10_profile_sync=R10ProfileSync(organizations=organizations))
        desk = Desk(config, key="organization:zendesk:77")
        org = event("organization_updated", "zendesk", "o1", email=None,
                    attributes={"organization_id": "77", "name": "Acme", "88": "enterprise",
                                "unmapped": "x"})
        actions, _ = desk.send(org)
        [company] = by_recipe(actions, "R10")
        assert (company.sink, company.operation) == ("intercom", "update_company")
        assert company.person == "zendesk-org-77"
        assert company.attributes == {"name": "Acme", "plan": "enterprise"}
        assert desk.states == {}  # an organization holds no customer state


class TestR13:
    """Segments and lifecycle events reach contacts Intercom knows."""

    def test_segment_attribute_and_event(self) -> None:
        desk = Desk()
        ids = {"intercom_contact_id": "ic1"}
        entered, _ = desk.send(event("segment_entered", "customerio", "s1", identities=ids,
                                     attributes={"segment": "Churn Risk"}))
        assert by_recipe(entered, "R13")[0].attributes == {"cio_segment_churn_risk": True}
        lifecycle, _ = desk.send(event("lifecycle_event", "customerio", "l1", identities=ids,
                                       attributes={"name": "signed_up", "plan": "pro"}))
        [data] = by_recipe(lifecycle, "R13")
        assert (data.operation, data.payload["metadata"]) == ("data_event", {"plan": "pro"})

    def test_unknown_to_intercom_nothing(self) -> None:
        actions, _ = Desk().send(event("segment_entered", "customerio", "s1",
                                       attributes={"segment": "vip"}))
        assert by_recipe(actions, "R13") == []

    def test_contact_linked_later_gets_the_segments_already_entered(self) -> None:
        recipes = RecipesConfig.model_validate(
            {"r13_cio_to_intercom": {"segment_tag_ids": {"vip": "t-vip"}}})
        desk = Desk(recipes)
        desk.send(event("segment_entered", "customerio", "s1", minutes=5,
                        attributes={"segment": "vip"}),
                  event("segment_entered", "customerio", "s2", minutes=4,
                        attributes={"segment": "Churn Risk"}))
        actions, _ = desk.send(event("contact_updated", "intercom", "ic-created",
                                     identities={"intercom_contact_id": "ic1"}))
        r13 = by_recipe(actions, "R13")
        assert [(a.operation, a.payload.get("attributes") or a.payload.get("tag_id"))
                for a in r13] == [
            ("update_contact", {"cio_segment_churn_risk": True, "cio_segment_vip": True}),
            ("tag_contact", "t-vip"),
        ]
