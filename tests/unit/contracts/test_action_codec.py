"""out.<sink>: actions decoded once by the topic codec; older encodings still decode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.actions import Action
from contracts.records import decode_action_batch, encode_action_batch

FIXTURES = Path(__file__).parent / "fixtures"

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
aware = st.datetimes(timezones=st.just(UTC))
actions = st.builds(
    Action, action_id=text, sink=st.sampled_from(
        ["customerio", "zendesk", "intercom", "webhook", "audiences", "warehouse"]),
    operation=text, customer_key=text, person=text,
    payload=st.dictionaries(text, json_values, max_size=4),
    priority=st.sampled_from(["suppression", "enrichment", "analytics"]),
    one_off=st.booleans(), created_at=aware, received_at=st.none() | aware,
    causing_event_id=st.none() | text,
)


class TestRoundTrip:
    """What the apply agent encodes, the deliver agent decodes to equal actions."""

    @settings(max_examples=150, deadline=None)
    @given(st.lists(actions, min_size=1, max_size=5))
    def test_action_batch(self, batch: list[Action]) -> None:
        decoded = decode_action_batch(encode_action_batch(batch))
        assert decoded == batch
        assert [a.to_dict() for a in decoded] == [a.to_dict() for a in batch]


class TestEarlierEncodings:
    """Bytes written before this codec (a committed fixture) decode as they did then."""

    def test_fixture_batch(self) -> None:
        data = (FIXTURES / "action_batch_v1.json").read_bytes()
        expected = [Action.from_dict(a) for a in orjson.loads(data)["items"]]
        decoded = decode_action_batch(data)
        assert decoded == expected and len(decoded) == 11
        assert decoded[0].created_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def test_lenient_values_validated_as_before(self) -> None:
        item: dict[str, Any] = {
            "action_id": "a", "sink": "webhook", "operation": "x", "customer_key": "c:1",
            "person": "p", "created_at": 1714564800,  # unix seconds, as pydantic took them
            "one_off": "true",
        }
        [action] = decode_action_batch(orjson.dumps({"v": 1, "items": [item]}))
        assert (action.sink, action.one_off, action.payload) == ("webhook", True, {})
        assert action.created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)

    def test_invalid_action_refused(self) -> None:
        item = {"action_id": "a", "sink": "fax", "operation": "x", "customer_key": "c:1",
                "person": "p", "created_at": "2024-05-01T12:00:00Z"}
        with pytest.raises(msgspec.ValidationError):
            decode_action_batch(orjson.dumps({"v": 1, "items": [item]}))
