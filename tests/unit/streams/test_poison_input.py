"""Poison input: extreme times in every normalizer, and one bad item among many in a stage."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.customerio.normalize import normalize as customerio_normalize
from connectors.intercom.normalize import normalize as intercom_normalize
from connectors.pipelines.normalize import normalize as pipelines_normalize
from connectors.zendesk.normalize import normalize as zendesk_normalize
from contracts.actions import Action
from contracts.events import EventKind, Identities, SupportEvent, TicketInfo
from contracts.records import RawEnvelope, encode_event_batch, encode_raw_batch, envelope_record
from contracts.timebounds import EARLIEST, LATEST, TimeOutOfRange
from streams.routing import Router
from streams.runtime.normalizers import normalize_envelope
from streams.stages import (
    apply_batch,
    decode_event_record,
    decode_raw_record,
    expire_due,
    ingest,
)
from streams.state import StateConfig, SupportState
from tests.unit.connectors.customerio.fixtures import reporting
from tests.unit.connectors.intercom.fixtures import conversation, notification

RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PLACEHOLDER = b'"@@time@@"'

#: JSON literals of unix times: huge, negative, fractional, integers past 64 bits, NaN-like.
unix_literals = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: orjson.dumps(f)),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda i: str(i).encode()),
    st.sampled_from([b"1e300", b"-1e300", b"-1", b"253402300800", b"1e11", b"NaN", b"Infinity"]),
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
iso_literals = st.one_of(
    st.datetimes(timezones=offsets).map(lambda d: orjson.dumps(d.isoformat())),
    st.sampled_from(
        [b'"9999-12-31T23:59:59-14:00"', b'"0001-01-01T00:00:00+14:00"', b'"9999-12-31T23:59:59Z"']
    ),
)


def _zendesk(literal: bytes) -> bytes:
    doc = {"type": "zen:event-type:ticket.status_changed", "id": "evt-1", "time": "@@time@@",
           "detail": {"id": "77", "status": "OPEN", "requester_id": "5",
                      "updated_at": "@@time@@"}}
    return orjson.dumps(doc).replace(PLACEHOLDER, literal)


def _intercom(literal: bytes) -> bytes:
    body = notification("conversation.user.created", conversation(updated_at="@@time@@"))
    return body.replace(PLACEHOLDER, literal)


def _customerio(literal: bytes) -> bytes:
    doc = orjson.loads(reporting("opened"))
    doc["timestamp"] = "@@time@@"
    return orjson.dumps(doc).replace(PLACEHOLDER, literal)


def _pipelines(literal: bytes) -> bytes:
    doc = {"type": "track", "event": "E", "userId": "u1", "messageId": "m1",
           "timestamp": "@@time@@"}
    return orjson.dumps(doc).replace(PLACEHOLDER, literal)


NORMALIZERS: dict[str, tuple[Any, Any, Any]] = {
    "zendesk": (zendesk_normalize, _zendesk, st.one_of(unix_literals, iso_literals)),
    "intercom": (intercom_normalize, _intercom, unix_literals),
    "customerio": (customerio_normalize, _customerio, unix_literals),
    "pipelines": (pipelines_normalize, _pipelines, iso_literals),
}


def _times(event: SupportEvent) -> list[datetime]:
    found = [event.occurred_at]
    for info in (event.ticket, event.conversation):
        if info is not None:
            found += [t for t in (info.created_at, info.updated_at) if t is not None]
    return found


class TestNormalizersOverExtremeTimes:
    """A normalizer gives in-range UTC times or rejects the body with a ValueError."""

    @pytest.mark.parametrize("source", sorted(NORMALIZERS))
    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def test_times_in_range_or_value_error(self, source: str, data: st.DataObject) -> None:
        normalize, build, literals = NORMALIZERS[source]
        body = build(data.draw(literals))
        try:
            events = normalize(body, RECEIVED)
        except ValueError:  # TimeOutOfRange, or a literal that is not JSON at all
            return
        for event in events:
            for moment in _times(event):
                assert moment.utcoffset() == timedelta(0)
                assert EARLIEST <= moment < LATEST

    @pytest.mark.parametrize(
        ("source", "literal"),
        [
            ("zendesk", b"1e300"),
            ("zendesk", b'"9999-12-31T23:59:59-14:00"'),
            ("zendesk", b"-5"),
            ("intercom", b"1e300"),
            ("intercom", b"-1"),
            ("customerio", b"1e300"),
            ("pipelines", b'"9999-12-31T23:59:59-14:00"'),
        ],
    )
    def test_out_of_range_is_named(self, source: str, literal: bytes) -> None:
        normalize, build, _ = NORMALIZERS[source]
        with pytest.raises(TimeOutOfRange, match="outside 1970..2200"):
            normalize(build(literal), RECEIVED)


def _envelope(body: bytes, key: str) -> RawEnvelope:
    return RawEnvelope(source="zendesk", body=body.decode(), received_at=RECEIVED.timestamp(),
                       key=key)


def _valid(index: int) -> bytes:
    return _zendesk(b'"2026-11-01T10:00:00Z"').replace(b"evt-1", f"evt-{index}".encode()).replace(
        b'"requester_id":"5"', f'"requester_id":"{index}"'.encode()
    )


class TestIngestIsolatesPoison:
    """One envelope that raises ends in one dead letter; its record's others proceed."""

    def test_poison_among_valid(self) -> None:
        envelopes = [_envelope(_valid(i), f"k{i}") for i in range(20)]
        envelopes.insert(7, _envelope(_zendesk(b"1e300"), "poison"))
        envelopes.insert(12, _envelope(_zendesk(b'"9999-12-31T23:59:59-14:00"'), "poison2"))
        links: dict[str, str] = {}
        result = ingest(envelopes, normalize=normalize_envelope, lookup=links.get,
                        link=links.__setitem__, partitions=4)
        routed = [e for items in result.by_partition.values() for _, e, _ in items]
        assert sorted(e.event_id for e in routed) == sorted(f"evt-{i}" for i in range(20))
        assert [d.reason for d in result.dead_letters] == ["malformed_payload"] * 2
        assert all("TimeOutOfRange" in d.detail for d in result.dead_letters)
        assert result.dead_letters[0].record["key"] == "poison"

    def test_unexpected_exception_is_a_dead_letter(self) -> None:
        def explode(envelope: RawEnvelope) -> list[SupportEvent]:
            if envelope.key == "k3":
                raise RuntimeError("normalizer bug")
            return normalize_envelope(envelope)

        envelopes = [_envelope(_valid(i), f"k{i}") for i in range(5)]
        links: dict[str, str] = {}
        result = ingest(envelopes, normalize=explode, lookup=links.get, link=links.__setitem__,
                        partitions=4)
        assert sum(len(v) for v in result.by_partition.values()) == 4
        [letter] = result.dead_letters
        assert letter.reason == "normalize_failed" and "RuntimeError" in letter.detail

    def test_undecodable_envelope_in_a_record(self) -> None:
        good = [_envelope(_valid(i), f"k{i}") for i in (1, 2)]
        docs: list[Any] = [
            envelope_record(e) for e in good
        ]
        docs.insert(1, {"source": "nowhere", "body": 5})  # in the first (JSON) record format
        envelopes, letters = decode_raw_record(orjson.dumps({"v": 1, "envelopes": docs}))
        assert [e.key for e in envelopes] == ["k1", "k2"]
        assert [d.reason for d in letters] == ["undecodable_record"]
        _, letters = decode_raw_record(b"\xff not a record")
        assert [d.stage for d in letters] == ["decode"]
        truncated = encode_raw_batch(good)[:-3]
        _, letters = decode_raw_record(truncated)
        assert [d.reason for d in letters] == ["undecodable_record"]


def _ticket(event_id: str, when: datetime) -> SupportEvent:
    return SupportEvent(
        event_id=event_id, source="zendesk", kind=EventKind.TICKET_STATUS_CHANGED,
        occurred_at=when, received_at=RECEIVED,
        identities=Identities(email=f"{event_id}@example.com"),
        ticket=TicketInfo(id=event_id, status="open", updated_at=when),
    )


class _ExplodingRouter(Router):
    """Routes nothing, and raises for one customer's transitions."""

    def __init__(self, bad_key: str) -> None:
        super().__init__()
        self.bad_key = bad_key

    def route(self, transition: Any, state: SupportState, *args: Any) -> Any:
        if state.customer_key == self.bad_key:
            raise OverflowError("date value out of range")
        return [], []

    def route_event(self, event: Any, state: SupportState, *args: Any) -> Any:
        return [], []


class _LateExplodingRouter(Router):
    """One action per event; raises for one customer once its transitions are routed."""

    def __init__(self, bad_key: str) -> None:
        super().__init__()
        self.bad_key = bad_key

    def route(self, transition: Any, state: SupportState, *args: Any) -> Any:
        return [], []

    def route_event(self, event: Any, state: SupportState, *args: Any) -> Any:
        if state.customer_key == self.bad_key:
            raise OverflowError("date value out of range")
        action = Action.for_transition(
            event.event_id, sink="customerio", operation="track",
            customer_key=state.customer_key, person=state.customer_key,
        )
        return [action], []


class TestApplyIsolatesPoison:
    """An event that raises anywhere in apply is a dead letter; its state stays unchanged."""

    def test_poison_among_valid(self) -> None:
        far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
        items = [(f"c:{i}", _ticket(f"t{i}", RECEIVED), 0.0) for i in range(10)]
        items.insert(4, ("c:poison", _ticket("tp", far), 0.0))
        items.insert(6, ("c:boom", _ticket("tb", RECEIVED), 0.0))
        states: dict[str, SupportState] = {}
        result = apply_batch(
            items, get_state=states.get, put_state=states.__setitem__,
            config=StateConfig(), router=_ExplodingRouter("c:boom"),
        )
        assert sorted(states) == sorted(f"c:{i}" for i in range(10))
        reasons = sorted((d.reason, d.record["customer_key"]) for d in result.dead_letters)
        assert reasons == [("apply_failed", "c:boom"), ("invalid_event", "c:poison")]
        assert "OverflowError" in next(d.detail for d in result.dead_letters
                                       if d.reason == "apply_failed")

    def test_failed_event_leaves_nothing_it_routed(self) -> None:
        """Transitions and actions routed before the failure are not in the result."""
        items = [(k, _ticket(k, RECEIVED), 0.0) for k in ("c:a", "c:boom", "c:b")]
        states: dict[str, SupportState] = {}
        result = apply_batch(
            items, get_state=states.get, put_state=states.__setitem__,
            config=StateConfig(), router=_LateExplodingRouter("c:boom"),
        )
        assert {t.customer_key for t in result.transitions} == {"c:a", "c:b"}
        assert sorted(a.customer_key for a in result.actions) == ["c:a", "c:b"]
        assert [d.record["customer_key"] for d in result.dead_letters] == ["c:boom"]
        assert "c:boom" not in states

    def test_timers_of_one_customer_do_not_stop_others(self) -> None:
        states: dict[str, SupportState] = {}
        config = StateConfig()
        apply_batch(
            [(k, _ticket(k, RECEIVED), 0.0) for k in ("c:a", "c:boom", "c:b")],
            get_state=states.get, put_state=states.__setitem__, config=config,
            router=_ExplodingRouter("nobody"),
        )
        before = dict(states)
        result = expire_due(
            ["c:a", "c:boom", "c:b"], RECEIVED + timedelta(days=400),
            get_state=states.get, put_state=states.__setitem__, config=config,
            router=_ExplodingRouter("c:boom"),
        )
        assert [d.record["customer_key"] for d in result.dead_letters] == ["c:boom"]
        assert states["c:boom"] is before["c:boom"]
        assert states["c:a"] is not before["c:a"] and states["c:b"] is not before["c:b"]

    def test_undecodable_event_in_a_record(self) -> None:
        record = orjson.loads(encode_event_batch([("c:1", _ticket("t1", RECEIVED), 1.0)]))
        record["items"].append({"k": "c:2", "e": {"kind": "nonsense"}, "t": 1.0})
        items, letters = decode_event_record(orjson.dumps(record))
        assert [k for k, _, _ in items] == ["c:1"] and len(letters) == 1
        assert math.isfinite(items[0][2])
