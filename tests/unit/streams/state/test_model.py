from __future__ import annotations

from streams.events import EventKind
from streams.state import SupportState, Transition

from .factory import at, event, opened, rating, run, solved


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
        assert size <= 2600  # 200 packed 8-character digests are 1,600 of these bytes


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
