"""Routing makes no actions, and no dead letters, for destinations that run nowhere."""

from __future__ import annotations

from tests.unit.streams.recipes.helpers import Desk, event, ticket


class TestDisabledDestinations:
    """Only the enabled sinks get actions; rejects for disabled ones are not written."""

    def test_only_enabled_sinks_get_actions(self) -> None:
        everything, customerio_only = Desk(), Desk(sinks=("customerio",))
        ids = {"intercom_contact_id": "ic1"}
        sinks_all = {a.sink for a in everything.send(ticket("1", "open", identities=ids))[0]}
        sinks_one = {a.sink for a in customerio_only.send(ticket("1", "open", identities=ids))[0]}
        assert {"customerio", "intercom", "webhook", "warehouse"} <= sinks_all
        assert sinks_one == {"customerio"}

    def test_no_dead_letter_for_a_disabled_destination(self) -> None:
        desk = Desk(sinks=("customerio",))
        identify = event("identify", "pipelines", "m1", email=None,
                         identities={"external_id": "u1"}, attributes={"traits": {}})
        assert desk.send(identify) == ([], [])
        enabled = Desk()
        _, letters = enabled.send(identify)
        assert [d.reason for d in letters] == ["missing_email"]
