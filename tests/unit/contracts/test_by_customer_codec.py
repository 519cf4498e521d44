"""events.by-customer: one codec, each record parsed once; older encodings still decode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    RatingInfo,
    SupportEvent,
    TicketInfo,
)
from contracts.records import (
    Absorb,
    EventItems,
    MergeIn,
    Tick,
    decode_by_customer,
    decode_event_batch,
    encode_absorb,
    encode_event_batch,
    encode_merge_in,
    encode_tick,
)

FIXTURES = Path(__file__).parent / "fixtures"

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ids = st.one_of(st.none(), text.filter(str.strip), st.integers(0, 10**12))
moments = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=h)) for h in (2, -5)])),
    st.datetimes(),  # naive: kept as written
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False,
                                                                      allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
identities = st.builds(
    Identities, email=st.none() | st.emails(), external_id=ids, zendesk_user_id=ids,
    intercom_contact_id=ids, cio_id=ids, phone=ids,
)
tickets = st.builds(
    TicketInfo, id=text | st.integers(0, 10**9), status=st.none() | text,
    priority=st.none() | text, reason=st.none() | text, tags=st.lists(text).map(tuple),
    subject=st.none() | text, created_at=st.none() | moments, updated_at=st.none() | moments,
    merged_into=st.none() | text,
)
conversations = st.builds(
    ConversationInfo, id=text, state=st.none() | text, tags=st.lists(text).map(tuple),
    admin_id=st.none() | text, updated_at=st.none() | moments,
)
ratings = st.builds(
    RatingInfo, score=text | st.integers(-5, 5), scale=st.sampled_from(["good_bad",
                                                                         "one_to_five"]),
    ticket_id=st.none() | text, comment=st.booleans(),
)
events = st.builds(
    SupportEvent, event_id=text, source=st.sampled_from(["zendesk", "intercom", "customerio",
                                                         "pipelines"]),
    kind=st.sampled_from(list(EventKind)), occurred_at=moments, received_at=moments,
    identities=identities, ticket=st.none() | tickets, conversation=st.none() | conversations,
    rating=st.none() | ratings, attributes=st.dictionaries(text, json_values, max_size=4),
    origin=st.sampled_from(["live", "backfill", "replay"]), author_id=st.none() | text,
)
items = st.lists(st.tuples(text, events, st.floats(0, 2e9)), min_size=1, max_size=4)


class TestRoundTrip:
    """Whatever the worker encodes decodes to equal values, through the strict path."""

    @settings(max_examples=150, deadline=None)
    @given(items)
    def test_event_batch(self, batch: list[tuple[str, SupportEvent, float]]) -> None:
        decoded = decode_by_customer(encode_event_batch(batch))
        assert isinstance(decoded, EventItems)
        assert decoded.items == batch
        for (_, got, _), (_, sent, _) in zip(decoded.items, batch, strict=True):
            assert got.to_dict() == sent.to_dict()

    @settings(max_examples=50, deadline=None)
    @given(text, text, text, st.datetimes(timezones=st.just(UTC)), st.binary(max_size=40),
           st.floats(0, 2e9))
    def test_commands(
        self, absorbed: str, survivor: str, event_id: str, at: datetime, state: bytes,
        tick: float,
    ) -> None:
        absorb = decode_by_customer(encode_absorb(absorbed, survivor, event_id, at))
        assert absorb == Absorb({"absorbed": absorbed, "survivor": survivor,
                                 "event_id": event_id, "at": at.timestamp()})
        merge = decode_by_customer(encode_merge_in(survivor, state, event_id, tick))
        assert isinstance(merge, MergeIn) and merge.command["survivor"] == survivor
        assert decode_by_customer(encode_tick(tick)) == Tick(tick)


class TestEarlierEncodings:
    """Bytes written before this codec (committed fixtures) decode as they did then."""

    def test_fixture_records(self) -> None:
        lines = (FIXTURES / "by_customer_v1.jsonl").read_bytes().splitlines()
        batch, absorb, merge, tick, pydantic_batch = (decode_by_customer(r) for r in lines)
        for record, line in ((batch, lines[0]), (pydantic_batch, lines[4])):
            assert isinstance(record, EventItems)
            assert record.items == [
                (i["k"], SupportEvent.from_dict(i["e"]), i["t"])
                for i in orjson.loads(line)["items"]
            ]
        assert absorb == Absorb({"absorbed": "c:old", "survivor": "c:new", "event_id": "e-9",
                                 "at": 1714564800.0})
        assert isinstance(merge, MergeIn) and merge.command["at"] == 1714564800.5
        assert tick == Tick(1714564801.25)

    def test_lenient_values_are_validated_as_before(self) -> None:
        """What the strict wire types refuse is converted leniently, as pydantic did."""
        doc: dict[str, Any] = {
            "event_id": "e1", "source": "zendesk", "kind": "ticket_opened",
            "occurred_at": 1714564800, "received_at": "2024-05-01T12:00:00Z",
            "ticket": {"id": 7, "status": "OPEN"},
        }
        record = orjson.dumps({"v": 1, "items": [{"k": "c:1", "t": 5, "e": doc}]})
        [(key, event, received)] = decode_event_batch(record)
        assert (key, received) == ("c:1", 5.0)
        assert event.ticket == TicketInfo(id="7", status="open")
        assert event.occurred_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
