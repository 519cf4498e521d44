"""Topic codecs: the hand-written fast paths write and read exactly what pydantic did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson
import pytest

from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    RatingInfo,
    SupportEvent,
    TicketInfo,
)
from contracts.jsonvalues import JSON_OPTIONS, json_value
from contracts.records import (
    decode_event_batch,
    encode_action_batch,
    encode_event_batch,
    encode_json_batch,
    encode_transition_batch,
    event_from_dict,
)
from streams.routing import Router
from streams.state import Transition

from .state.factory import at, conversation, event, opened, rating, run, solved

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _events() -> list[SupportEvent]:
    return [
        SupportEvent(event_id="a", source="zendesk", kind=EventKind.TRACK, occurred_at=T),
        SupportEvent(
            event_id="b",
            source="zendesk",
            kind=EventKind.TICKET_OPENED,
            occurred_at=datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            received_at=datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=UTC),
            identities=Identities(email=" Ann@X.com ", zendesk_user_id=77),
            ticket=TicketInfo(
                id=5, status="OPEN", tags=("a", "b"), created_at=T, updated_at=T, merged_into=9
            ),
            attributes={"nested": {"x": [1, 2.5, None]}, "when": T, "tuple": (1, 2)},
            origin="backfill",
        ),
        SupportEvent(
            event_id="c",
            source="intercom",
            kind=EventKind.CONVERSATION_RATED,
            occurred_at=datetime(2024, 5, 1, 12, 0),  # naive
            conversation=ConversationInfo(id="9", state="open", admin_id="adm"),
            rating=RatingInfo(score=2, scale="one_to_five", comment=True, ticket_id="9"),
        ),
        opened("o1", "1", priority="high", reason="refund", tags=("web",)),
        solved("s1", "1", at(hours=1)),
        rating("r1", "bad", at(hours=2)),
        conversation("c1", "3", "snoozed", at(hours=3), EventKind.CONVERSATION_TAGGED),
        event("u1", EventKind.UNSUBSCRIBED, source="customerio", attributes={"channel": "sms"}),
    ]


def _full_form(event: SupportEvent) -> dict[str, Any]:
    """The event with every top-level field written, defaults included (how dead-letter
    records carried events before defaults were left out)."""
    doc: dict[str, Any] = msgspec.to_builtins(msgspec.structs.asdict(event))
    return doc


def _as_json(items: list[tuple[str, SupportEvent, float]]) -> list[tuple[str, SupportEvent, float]]:
    """The items with attribute values as JSON gives them back (times as strings, tuples as
    lists): what any JSON topic carries."""
    return [
        (k, e.replace(attributes=orjson.loads(
            orjson.dumps(e.attributes, default=json_value, option=JSON_OPTIONS))), t)
        for k, e, t in items
    ]


class TestEventBatch:
    """events.by-customer batches round-trip; defaults may be written or left out."""

    def test_round_trip(self) -> None:
        items = [(f"c:{i}", e, 1.7e9 + i) for i, e in enumerate(_events())]
        assert decode_event_batch(encode_event_batch(items)) == _as_json(items)

    def test_defaults_left_out(self) -> None:
        [item] = orjson.loads(encode_event_batch([("c:1", _events()[-1], 1.0)]))["items"]
        assert "origin" not in item["e"] and "ticket" not in item["e"]

    def test_decodes_events_written_with_every_field(self) -> None:
        items = [(f"c:{i}", e, 1.7e9 + i) for i, e in enumerate(_events())]
        data = orjson.dumps(
            {"v": 1, "items": [{"k": k, "t": t, "e": _full_form(e)} for k, e, t in items]},
            default=json_value, option=JSON_OPTIONS,
        )
        assert decode_event_batch(data) == _as_json(items)

    def test_unexpected_input_is_validated_as_before(self) -> None:
        doc = orjson.loads(encode_event_batch([("c:1", _events()[1], 1.0)]))["items"][0]["e"]
        with pytest.raises(msgspec.ValidationError):
            event_from_dict({**doc, "surprise": 1})
        with pytest.raises(msgspec.ValidationError):
            event_from_dict({**doc, "source": "myspace"})
        lenient = event_from_dict({**doc, "occurred_at": 1714564800})  # pydantic accepts it
        assert lenient.occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        assert event_from_dict({**doc, "ticket": {"id": 7}}).ticket == TicketInfo(id="7")


class TestTransitionAndActionBatches:
    def test_transitions_round_trip_and_actions_match_model_dump(self) -> None:
        state, out = run(
            [
                opened("e1", "1", reason="refund", tags=("a",)),
                solved("e2", "1", at(hours=1)),
                rating("r1", "bad", at(hours=2)),
                event("u1", EventKind.UNSUBSCRIBED, at(hours=3), source="intercom"),
                event("p1", EventKind.CONTACT_UPDATED, at(hours=4), attributes={"a": (1, T)}),
            ]
        )
        assert encode_transition_batch(out) == orjson.dumps(
            {"v": 1, "items": [t.json_fields() for t in out]},
            default=json_value, option=JSON_OPTIONS,
        )
        items = orjson.loads(encode_transition_batch(out))["items"]
        assert [t.json_dict() for t in out] == items
        assert [Transition.from_dict(item).json_dict() for item in items] == items
        assert [Transition.from_json(t.to_json()) for t in out[:-1]] == out[:-1]  # no tuples
        router = Router()
        actions = [a for t in out for a in router.route(t, state, 1.7e9)[0]]
        assert actions
        assert encode_action_batch(actions) == encode_json_batch(
            [a.to_dict() for a in actions]
        )
