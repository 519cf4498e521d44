"""The hot path builds state structs without validation: their values must have the
declared types (a typed round trip gives back an equal struct)."""

from __future__ import annotations

import msgspec

from contracts.events import EventKind
from streams.state import SupportState, Transition, apply, expire
from streams.state.codec import decode_state_v1, encode_state_v1

from .factory import CONFIG, KEY, at, conversation, event, opened, rating, run, solved


class TestUnchangedIsTheSameObject:
    """Callers detect "nothing changed" by identity, so apply/expire must return `state`."""

    def test_duplicate_returns_the_same_state(self) -> None:
        state, _ = run([opened("e1", "1")])
        again, out = apply(state, opened("e1", "1"), KEY, CONFIG)
        assert again is state and out == []

    def test_expire_with_nothing_due_returns_the_same_state(self) -> None:
        state, _ = run([opened("e1", "1")])
        same, out = expire(state, at(minutes=1), CONFIG)
        assert same is state and out == []


class TestBuiltStructsHaveTheirDeclaredTypes:
    """A list where a tuple is declared, or a string where a time is, would not survive
    a round trip through the typed JSON decoders."""

    def test_states_tickets_and_transitions(self) -> None:
        state, out = run(
            [
                opened("e1", "1", reason="refund", tags=("a",), priority="high"),
                solved("e2", "1", at(hours=1)),
                rating("r1", "bad", at(hours=2)),
                conversation("c1", "9", "open", at(hours=3), EventKind.CONVERSATION_OPENED),
                event("u1", EventKind.UNSUBSCRIBED, at(hours=4), source="intercom"),
                event("p1", EventKind.CONTACT_UPDATED, at(hours=5), attributes={"plan": "pro"}),
            ]
        )
        assert decode_state_v1(encode_state_v1(state)) == state
        for ticket in state.tickets.values():
            assert msgspec.json.decode(msgspec.json.encode(ticket), type=type(ticket)) == ticket
        for note in state.recent_transitions:
            assert msgspec.json.decode(msgspec.json.encode(note), type=type(note)) == note
        assert out
        for transition in out:
            assert Transition.from_json(transition.to_json()) == transition

    def test_a_wrong_type_is_caught(self) -> None:
        state, _ = run([opened("e1", "1", tags=("a",))])
        wrong = msgspec.structs.replace(state, segments=["vip"])  # type: ignore[arg-type]
        assert decode_state_v1(encode_state_v1(wrong)) != wrong
        assert isinstance(state, SupportState)
