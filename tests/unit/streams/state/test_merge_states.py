from __future__ import annotations

import pytest

from contracts.events import EventKind, Identities
from streams.state import (
    StateAbsorbed,
    StateConfig,
    SupportState,
    absorbed_tombstone,
    apply,
    merge_states,
)

from .factory import CONFIG, at, event, opened, rating, solved, ticket


def _state(key: str, events: list, config: StateConfig = CONFIG) -> SupportState:
    state = None
    for item in events:
        state, _ = apply(state, item, key, config)
    assert state is not None
    return state


class TestMergeStates:
    """Two customers' states combine deterministically, emitting states_merged."""

    def test_tickets_and_facts_combine(self) -> None:
        survivor = _state("c:a", [event("u1", EventKind.UNSUBSCRIBED), rating("r1", "good", at())])
        absorbed = _state(
            "c:b",
            [
                event("t1", EventKind.TRACK, identities=Identities(cio_id="9")),
                opened("e1", "1", at(hours=1), priority="high"),
                event("s1", EventKind.SEGMENT_ENTERED, attributes={"segment": "vip"}),
            ],
        )
        merged, out = merge_states(
            survivor, absorbed, CONFIG, event_id="m1", occurred_at=at(hours=2)
        )
        assert merged.customer_key == "c:a"
        assert "zendesk:1" in merged.tickets and merged.support_state == "escalated"
        assert merged.segments == ("vip",) and not merged.consent.allows("email")
        assert merged.identities.cio_id == "9"
        assert [t.kind for t in out] == [
            "states_merged",
            "identities_linked",  # the survivor now has the absorbed customer's cio_id
            "attributes_changed",
            "support_state_changed",
        ]
        assert out[1].details == {"added": ["cio_id"]}
        assert out[0].details == {
            "survivor": "c:a",
            "absorbed": "c:b",
            "tickets_moved": ["zendesk:1"],
            "absorbed_identities": dict(absorbed.identities.pairs()),
        }
        assert out[-1].reason == "identity_merge"
        assert merged.has_processed("e1") and merged.has_processed("u1")

    def test_newer_ticket_version_wins(self) -> None:
        survivor = _state("c:a", [opened("e1", "1")])
        absorbed = _state("c:b", [opened("e1", "1"), solved("e2", "1", at(hours=1))])
        merged, _ = merge_states(survivor, absorbed, CONFIG, event_id="m1", occurred_at=at(hours=2))
        assert merged.tickets["zendesk:1"].status == "solved"
        assert merged.support_state == "cooldown"

    def test_deterministic_ids(self) -> None:
        survivor = _state("c:a", [opened("e1", "1")])
        absorbed = _state("c:b", [opened("e2", "2")])
        _, first = merge_states(survivor, absorbed, CONFIG, event_id="m1", occurred_at=at())
        _, second = merge_states(survivor, absorbed, CONFIG, event_id="m1", occurred_at=at())
        assert [t.transition_id for t in first] == [t.transition_id for t in second]

    def test_merge_ids_do_not_collide_with_the_causing_events_ids(self) -> None:
        survivor = _state("c:a", [event("t0", EventKind.TRACK)])
        absorbed = _state("c:b", [opened("e2", "2")])
        merged, merge_out = merge_states(
            survivor, absorbed, CONFIG, event_id="m1", occurred_at=at()
        )
        cause = ticket("m1", "2", "solved", at(hours=1))
        _, apply_out = apply(merged, cause, "c:a", CONFIG)
        ids = [t.transition_id for t in merge_out + apply_out]
        assert len(set(ids)) == len(ids)

    def test_tombstone_forwards_and_merging_it_is_a_no_op(self) -> None:
        survivor = _state("c:a", [opened("e1", "1")])
        absorbed = _state("c:b", [opened("e2", "2")])
        tomb = absorbed_tombstone(absorbed, "c:a")
        assert tomb.merged_into == "c:a" and tomb.tickets == {}
        with pytest.raises(StateAbsorbed) as raised:
            apply(tomb, opened("e3", "3"), "c:b", CONFIG)
        assert raised.value.survivor == "c:a"
        same, out = merge_states(survivor, tomb, CONFIG, event_id="m1", occurred_at=at())
        assert same == survivor and out == []

    def test_self_merge_is_a_no_op(self) -> None:
        survivor = _state("c:a", [opened("e1", "1")])
        same, out = merge_states(survivor, survivor, CONFIG, event_id="m1", occurred_at=at())
        assert same == survivor and out == []
