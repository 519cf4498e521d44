from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from msgspec.structs import replace

from contracts.events import EventKind, Identities, TicketInfo
from streams.state import SupportState, Transition
from streams.state.codec import FIELDS
from streams.state.model import ProcessedIds, event_digest, event_digest_bytes

from .factory import CONFIG, at, event, opened, rating, run, solved


def _busy_state(open_tickets: int, history: int = 0) -> SupportState:
    events = [
        opened(f"o{i}", str(i), at(minutes=i), priority="normal", reason="billing", tags=("web",))
        for i in range(open_tickets)
    ]
    events += [
        event(f"h{i}", EventKind.EMAIL_ENGAGEMENT, at(hours=1, minutes=i)) for i in range(history)
    ]
    return run(events)[0]


class TestSerialisation:
    """to_bytes/from_bytes round-trip exactly and stay small."""

    def test_round_trip(self) -> None:
        state, _ = run(
            [
                opened("e1", "1", reason="refund", tags=("a", "b")),
                solved("e2", "1", at(hours=1)),
                rating("r1", "bad", at(hours=2)),
                event("u1", EventKind.UNSUBSCRIBED, source="intercom"),
                event("s1", EventKind.SEGMENT_ENTERED, attributes={"segment": "vip"}),
                event("p1", EventKind.CONTACT_UPDATED, attributes={"plan": {"tier": 2}}),
            ]
        )
        assert SupportState.from_bytes(state.to_bytes()) == state

    def test_bytes_are_deterministic(self) -> None:
        assert _busy_state(2).to_bytes() == _busy_state(2).to_bytes()

    def test_two_open_tickets_fit_in_2kb(self) -> None:
        assert len(_busy_state(2).to_bytes()) <= 2048

    def test_full_history_with_two_tickets_stays_bounded(self) -> None:
        size = len(_busy_state(2, history=250).to_bytes())
        assert size <= 2048  # 200 packed 6-byte digests are 1,200 of these bytes

    def test_two_open_tickets_and_a_full_window_fit_in_2kb(self) -> None:
        """Realistic worst case: long identifiers, Zendesk trigger event ids, tags, assignee."""
        who = Identities(
            email="someone.with-a-long-name@example-company.com",
            zendesk_user_id="381923712",
            external_id="user-0001923",
        )
        events = []
        for i in range(2):
            when = at(minutes=i)
            info = TicketInfo(
                id=str(1000 + i), status="new", priority="normal", reason="billing_question",
                tags=("web", "billing", "vip"), assignee="agent@example-company.com",
                created_at=when, updated_at=when,
            )
            events.append(
                event(f"{1000 + i}:{when.isoformat()}:new", EventKind.TICKET_OPENED, when,
                      identities=who, ticket=info)
            )
        events += [
            event(f"cio-{i:020d}-delivery", EventKind.EMAIL_ENGAGEMENT, at(hours=1, minutes=i),
                  source="customerio", identities=who)
            for i in range(CONFIG.processed_ids_max + 50)
        ]
        state, _ = run(events)
        assert len(state.processed_ids) == CONFIG.processed_ids_max and state.open_ticket_count == 2
        assert len(state.to_bytes()) <= 2048
        assert SupportState.from_bytes(state.to_bytes()) == state

    def test_reads_the_previous_json_encoding(self) -> None:
        state = _busy_state(2, history=30)
        old = state.to_json_bytes()
        assert old.startswith(b"{") and SupportState.from_bytes(old) == state
        assert SupportState.from_bytes(old.decode()) == state

    def test_codec_writes_every_field(self) -> None:
        assert set(SupportState.__struct_fields__) == FIELDS  # a new field needs a codec entry

    def test_odd_times_round_trip_exactly(self) -> None:
        state, _ = run([opened("e1", "1"), rating("r1", 3, at(hours=1), source="intercom")])
        india = timezone(timedelta(hours=5, minutes=30))
        odd = replace(
            state,
            as_of=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
            last_resolved_at=datetime(2024, 5, 1, 17, 30, tzinfo=india),
            last_low_csat_at=datetime(2024, 5, 1, 12, 0),  # naive
        )
        back = SupportState.from_bytes(odd.to_bytes())
        assert back == odd
        assert back.last_resolved_at is not None and back.last_resolved_at.utcoffset() == (
            timedelta(hours=5, minutes=30)
        )
        assert back.last_low_csat_at is not None and back.last_low_csat_at.tzinfo is None


class TestProcessedIds:
    """The packed window behaves like the tuple of digests it replaced."""

    def test_sequence_of_digests(self) -> None:
        digests = tuple(event_digest(f"e{i}") for i in range(5))
        ids = ProcessedIds.of(digests)
        assert len(ids) == 5 and tuple(ids) == digests and ids == digests
        assert ids[0] == digests[0] and ids[-1] == digests[-1] and ids[1:3] == digests[1:3]
        assert digests[2] in ids and event_digest("nope") not in ids and "short" not in ids
        assert event_digest_bytes("e3") in ids and ids.contains_raw(event_digest_bytes("e4"))
        with pytest.raises(IndexError):
            ids[5]

    def test_a_match_across_two_digests_does_not_count(self) -> None:
        ids = ProcessedIds(bytes(range(12)))
        assert not ids.contains_raw(bytes(range(3, 9)))
        assert ids.contains_raw(bytes(range(6, 12)))

    def test_appended_keeps_the_newest(self) -> None:
        ids = ProcessedIds()
        for i in range(5):
            ids = ids.appended(event_digest_bytes(f"e{i}"), 3)
        assert tuple(ids) == tuple(event_digest(f"e{i}") for i in (2, 3, 4))

    def test_all_json_form(self) -> None:
        state = _busy_state(1, history=3)
        dumped = orjson.loads(state.to_json_bytes())
        assert dumped["processed_ids"] == "".join(state.processed_ids)
        assert ProcessedIds.parse(dumped["processed_ids"]) == state.processed_ids
        assert ProcessedIds.parse(list(state.processed_ids)) == state.processed_ids
        assert SupportState.from_bytes(orjson.dumps(dumped)) == state


class TestExportedAttributes:
    """The R1 attribute set, with times as unix seconds."""

    def test_empty_state(self) -> None:
        assert SupportState(customer_key="c:x").exported_attributes() == {
            "has_open_ticket": False,
            "open_ticket_count": 0,
            "last_ticket_at": None,
            "last_ticket_status": None,
            "ticket_reason": None,
            "support_state": "clear",
            "refund_risk": False,
            "recent_ticket": False,
            "last_csat_score": None,
            "last_csat_at": None,
        }

    def test_open_ticket_attributes(self) -> None:
        state, out = run(
            [opened("e1", "1", reason="billing"), opened("e2", "2", at(hours=1), reason="bug")]
        )
        attributes = state.exported_attributes()
        assert attributes["open_ticket_count"] == 2
        assert attributes["last_ticket_at"] == int(at(hours=1).timestamp())
        assert attributes["last_ticket_status"] == "new"
        assert attributes["ticket_reason"] == "bug"
        changed = [t for t in out if t.kind == "attributes_changed"][-1]
        assert set(changed.changed) == {"open_ticket_count", "last_ticket_at", "ticket_reason"}
        assert changed.attributes == attributes


class TestExplain:
    """explain() says why a customer is suppressed and lists tickets and history."""

    def test_explain_open(self) -> None:
        state, _ = run([opened("e1", "1", priority="urgent")])
        view = state.explain()
        assert view["suppressed"] is True and view["support_state"] == "escalated"
        assert "zendesk:1" in view["why"]
        assert view["tickets"][0]["id"] == "1"
        assert [n["kind"] for n in view["recent_transitions"]] == [
            "ticket_opened",
            "support_state_changed",
        ]

    def test_recent_transitions_are_bounded(self) -> None:
        events = []
        for i in range(12):
            events += [
                opened(f"o{i}", str(i), at(days=i)),
                solved(f"s{i}", str(i), at(days=i, hours=1)),
            ]
        state, _ = run(events)
        assert len(state.recent_transitions) == 10


class TestTransitionCodec:
    """Transitions round-trip through JSON and have stable ids."""

    def test_round_trip(self) -> None:
        _, out = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        for transition in out:
            assert Transition.from_json(transition.to_json()) == transition

    def test_ids_are_unique_and_reproducible(self) -> None:
        events = [
            opened("e1", "1"),
            solved("e2", "1", at(hours=1)),
            rating("r1", "bad", at(hours=2)),
        ]
        first = [t.transition_id for t in run(events)[1]]
        second = [t.transition_id for t in run(events)[1]]
        assert first == second and len(set(first)) == len(first)
