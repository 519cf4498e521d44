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
