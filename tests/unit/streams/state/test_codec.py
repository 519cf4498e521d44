"""State bytes: versioned, round-trip exactly, and bytes written earlier still decode."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.state import SupportState, apply

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


class TestEarlierEncodings:
    """Committed bytes of both versions decode to the same state."""

    def test_version_2_and_version_1(self) -> None:
        v2 = (FIXTURES / "state_v2.bin").read_bytes()
        v1 = (FIXTURES / "state_v1.json").read_bytes().strip()
        from_v1 = SupportState.model_validate_json(v1)  # pydantic, independent of the codec
        assert SupportState.from_bytes(v1) == from_v1
        assert SupportState.from_bytes(v2) == from_v1
        assert len(from_v1.tickets) == 2 and from_v1.csat is not None
        assert SupportState.from_bytes(v2).to_bytes() == v2
