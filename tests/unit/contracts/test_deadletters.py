"""The dlq topic: one tagged shape for stage and sink letters; untagged older letters read."""

from __future__ import annotations

from datetime import UTC

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.actions import Action
from contracts.deadletters import SinkDeadLetter, StageDeadLetter, decode_dead_letter

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
json_values = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
aware = st.datetimes(timezones=st.just(UTC))
actions = st.builds(
    Action, action_id=text, sink=st.sampled_from(["customerio", "zendesk", "webhook"]),
    operation=text, customer_key=text, person=text,
    payload=st.dictionaries(text, json_values, max_size=3), created_at=aware,
)
stage_letters = st.builds(
    StageDeadLetter, stage=st.sampled_from(["normalize", "identity", "apply", "route"]),
    reason=text, source=st.none() | text, detail=text,
    record=st.dictionaries(text, json_values, max_size=3), at=st.floats(0, 4e9),
)
sink_letters = st.builds(
    SinkDeadLetter,
    reason=st.sampled_from(["client_error", "conflict", "deadline_exceeded"]),
    sink=text, action=actions, covered_action_ids=st.lists(text, max_size=3),
    error_class=text, error_message=text, status=st.none() | st.integers(100, 599),
    response_body=st.none() | text, attempts=st.integers(0, 20),
    first_attempt_at=st.none() | aware, last_attempt_at=st.none() | aware,
)


class TestTaggedShape:
    """Either kind comes back as itself from the one decoder."""

    @settings(max_examples=100, deadline=None)
    @given(stage_letters | sink_letters)
    def test_round_trip(self, letter: StageDeadLetter | SinkDeadLetter) -> None:
        data = letter.to_json()
        assert orjson.loads(data)["kind"] in ("stage", "sink")
        assert decode_dead_letter(data) == letter

    def test_a_stage_letter_is_no_sink_letter(self) -> None:
        letter = StageDeadLetter(stage="apply", reason="invalid_event")
        with pytest.raises(msgspec.ValidationError):
            SinkDeadLetter.from_json(letter.to_json())

    def test_not_a_letter(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            decode_dead_letter(b'{"kind": "postcard"}')


class TestUntaggedLetters:
    """Letters written before the tag still decode, each as its kind."""

    def test_stage_letter(self) -> None:
        data = (b'{"stage":"normalize","reason":"malformed","source":"zendesk",'
                b'"detail":"KeyError","record":{"key":"k"},"at":1714564800.0}')
        letter = decode_dead_letter(data)
        assert isinstance(letter, StageDeadLetter)
        assert (letter.stage, letter.record, letter.at) == ("normalize", {"key": "k"}, 1714564800.0)

    def test_sink_letter(self) -> None:
        action = Action(action_id="a", sink="zendesk", operation="ticket_create",
                        customer_key="c:1", person="p@example.com")
        doc = {
            "reason": "client_error", "sink": "zendesk", "action": action.to_dict(),
            "covered_action_ids": ["a"], "error_class": "ClientError", "error_message": "400",
            "status": 400, "response_body": "{}", "attempts": 1,
            "first_attempt_at": "2024-05-01T12:00:00Z", "last_attempt_at": None,
        }
        letter = decode_dead_letter(orjson.dumps(doc))
        assert isinstance(letter, SinkDeadLetter)
        assert letter.action == action and letter.status == 400
