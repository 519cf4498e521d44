"""State bytes: versioned, round-trip exactly, and bytes written earlier still decode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.jsonvalues import JSON_OPTIONS, json_value
from contracts.records import encode_transition_batch
from streams.state import SupportState, Transition, apply

from .factory import CONFIG, KEY
from .test_properties import interleaving, ticket_histories

FIXTURES = Path(__file__).parent / "fixtures"


class TestRoundTrip:
    """Any state the machine reaches decodes from its bytes to an equal state."""

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def test_state_bytes(self, data: st.DataObject) -> None:
        state: SupportState | None = None
        for event in data.draw(interleaving(data.draw(ticket_histories()))):
            state, _ = apply(state, event, KEY, CONFIG)
            encoded = state.to_bytes()
            assert encoded[:1] == b"\x02"  # the version byte
            assert SupportState.from_bytes(encoded) == state
            assert SupportState.from_bytes(encoded).to_bytes() == encoded


class TestTransitionRoundTrip:
    """Any transition the machine emits decodes from its topic JSON to an equal one."""

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def test_transition_json(self, data: st.DataObject) -> None:
        state: SupportState | None = None
        emitted: list[Transition] = []
        for event in data.draw(interleaving(data.draw(ticket_histories()))):
            state, out = apply(state, event, KEY, CONFIG)
            emitted.extend(out)
        encoded = encode_transition_batch(emitted)
        assert encoded == orjson.dumps(
            {"v": 1, "items": [t.json_fields() for t in emitted]},
            default=json_value, option=JSON_OPTIONS,
        )
        items = orjson.loads(encoded)["items"]
        assert [Transition.from_dict(item) for item in items] == emitted
        assert [Transition.from_json(t.to_json()) for t in emitted] == emitted


class TestEarlierEncodings:
    """Committed bytes of both versions decode to the same state."""

    def test_version_2_and_version_1(self) -> None:
        v2 = (FIXTURES / "state_v2.bin").read_bytes()
        v1 = (FIXTURES / "state_v1.json").read_bytes().strip()
        from_v1 = SupportState.from_bytes(v1)
        assert SupportState.from_bytes(v2) == from_v1
        assert SupportState.from_bytes(v2).to_bytes() == v2
        # What the version-1 document says, read as plain JSON (independent of the codec).
        doc = orjson.loads(v1)
        assert from_v1.customer_key == doc["customer_key"] and from_v1.seq == doc["seq"]
        assert dict(from_v1.identities.pairs()) == doc["identities"]
        assert {k: t.status for k, t in from_v1.tickets.items()} == {
            k: t["status"] for k, t in doc["tickets"].items()
        }
        assert from_v1.tickets["zendesk:1"].tags == ("a", "b")
        assert from_v1.tickets["zendesk:1"].closed_at == datetime(2024, 5, 1, 13, tzinfo=UTC)
        assert from_v1.csat is not None and from_v1.csat.score == doc["csat"]["score"]
        assert "".join(from_v1.processed_ids) == doc["processed_ids"]
        assert [n.kind for n in from_v1.recent_transitions] == [
            n[1] for n in doc["recent_transitions"]
        ]
        assert from_v1.profile["plan"].value == {"tier": 2}
        assert SupportState.from_bytes(from_v1.to_json_bytes()) == from_v1

    def test_version_1_with_notes_as_objects(self) -> None:
        """The first version-1 states wrote each transition note as an object."""
        v1 = (FIXTURES / "state_v1.json").read_bytes().strip()
        doc = orjson.loads(v1)
        names = ("at", "kind", "reason", "event", "old", "new", "ticket")
        doc["recent_transitions"] = [
            {k: v for k, v in zip(names, note, strict=True) if v is not None}
            for note in doc["recent_transitions"]
        ]
        assert SupportState.from_bytes(orjson.dumps(doc)) == SupportState.from_bytes(v1)
