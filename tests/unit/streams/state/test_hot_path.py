"""The hot path builds models without validation: they must equal validated ones."""

from __future__ import annotations

from contracts.events import EventKind
from contracts.fast import construct, replace
from streams.state import SupportState, TicketState, Transition, apply, expire
from streams.state.model import TransitionNote

from .factory import CONFIG, KEY, at, conversation, event, opened, rating, run, solved


def _revalidated(model: object) -> object:
    cls = type(model)
    assert hasattr(cls, "model_validate") and hasattr(model, "model_dump")
    return cls.model_validate(model.model_dump())


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


class TestBuiltModelsEqualValidatedOnes:
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
        assert SupportState.model_validate(state.model_dump()) == state
        for ticket in state.tickets.values():
            assert isinstance(ticket, TicketState) and _revalidated(ticket) == ticket
            assert list(ticket.__dict__) == list(TicketState.model_fields)
        for note in state.recent_transitions:
            assert _revalidated(note) == note
            assert list(note.__dict__) == list(TransitionNote.model_fields)
        for transition in out:
            assert Transition.model_validate(transition.model_dump()) == transition
            assert list(transition.__dict__) == list(Transition.model_fields)

    def test_replace_keeps_other_fields_and_copies(self) -> None:
        state, _ = run([opened("e1", "1")])
        changed = replace(state, {"seq": 99})
        assert changed.seq == 99 and state.seq == 1
        assert changed.model_dump(exclude={"seq"}) == state.model_dump(exclude={"seq"})

    def test_construct_takes_values_as_given(self) -> None:
        note = construct(
            TransitionNote,
            {"at": at(), "kind": "k", "reason": "r", "event": "e", "old": None, "new": None,
             "ticket": None},
        )
        assert note == TransitionNote(at=at(), kind="k", reason="r", event="e")
        assert note.model_copy(update={"kind": "x"}).kind == "x" and note.kind == "k"
