from __future__ import annotations

import msgspec
import pytest

from contracts.actions import Action, derive_action_id
from tests.unit.connectors.delivery.helpers import make_action


class TestActionIds:
    """Action ids are derived deterministically from transition, sink and operation."""

    def test_same_inputs_same_id(self) -> None:
        assert derive_action_id("t1", "zendesk", "ticket_create") == derive_action_id(
            "t1", "zendesk", "ticket_create"
        )

    @pytest.mark.parametrize(
        "other",
        [
            ("t2", "zendesk", "ticket_create", ""),
            ("t1", "intercom", "ticket_create", ""),
            ("t1", "zendesk", "ticket_update", ""),
            ("t1", "zendesk", "ticket_create", "2"),
        ],
    )
    def test_any_difference_changes_id(self, other: tuple[str, str, str, str]) -> None:
        assert derive_action_id("t1", "zendesk", "ticket_create") != derive_action_id(*other)

    def test_no_separator_ambiguity(self) -> None:
        assert derive_action_id("a", "b", "c", "") != derive_action_id("a", "bc", "", "")

    def test_id_hides_transition_content(self) -> None:
        action_id = derive_action_id("jane@example.com:t1", "customerio", "identify")
        assert "jane" not in action_id
        assert action_id.startswith("customerio:identify:")


class TestActionModel:
    """A frozen struct; its JSON codec validates what it reads."""

    def test_roundtrip(self) -> None:
        action = make_action(1, attributes={"open_tickets": 2}, received_offset=-0.5)
        again = Action.from_json(action.to_json())
        assert again == action
        assert again.received_at is not None and again.received_at.tzinfo is not None

    def test_frozen(self) -> None:
        action = make_action(1)
        with pytest.raises(AttributeError):
            action.person = "other"  # type: ignore[misc]

    @pytest.mark.parametrize(
        "change", [{"sink": "myspace"}, {"priority": "urgent"}, {"extra": 1}, {"person": 5}]
    )
    def test_decoding_rejects_what_is_no_action(self, change: dict[str, object]) -> None:
        doc = {**make_action(1).to_dict(), **change}
        with pytest.raises(msgspec.ValidationError):
            Action.from_dict(doc)
        with pytest.raises(msgspec.ValidationError):
            Action.from_json(msgspec.json.encode(doc))

    def test_attribute_update_classification(self) -> None:
        assert make_action(1, operation="identify").is_attribute_update
        assert not make_action(1, operation="event", one_off=True).is_attribute_update
        assert not make_action(1, operation="identify", one_off=True).is_attribute_update

    def test_with_attributes_keeps_other_payload(self) -> None:
        action = make_action(1, attributes={"a": 1, "b": 2}, payload={"timestamp": 5})
        slim = action.with_attributes({"b": 2})
        assert slim.payload == {"timestamp": 5, "attributes": {"b": 2}}
        assert action.attributes == {"a": 1, "b": 2}
