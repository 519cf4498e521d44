"""Builders for canonical events and a fixed clock, shared by the state tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    RatingInfo,
    SupportEvent,
    TicketInfo,
)
from streams.state import StateConfig, SupportState, Transition, apply

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEY = "c:test"
CONFIG = StateConfig()
WHO = Identities(email="ann@example.com", zendesk_user_id="77")


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def event(
    event_id: str,
    kind: EventKind,
    when: datetime = T0,
    *,
    source: str = "zendesk",
    **payload: Any,
) -> SupportEvent:
    return SupportEvent.from_dict(
        {
            "event_id": event_id,
            "source": source,
            "kind": kind,
            "occurred_at": when,
            "received_at": when,
            "identities": payload.pop("identities", WHO),
            **payload,
        }
    )


def ticket(
    event_id: str,
    ticket_id: str,
    status: str | None,
    when: datetime = T0,
    *,
    kind: EventKind = EventKind.TICKET_STATUS_CHANGED,
    **fields: Any,
) -> SupportEvent:
    info = TicketInfo(id=ticket_id, status=status, updated_at=when, **fields)
    return event(event_id, kind, when, ticket=info)


def opened(event_id: str, ticket_id: str, when: datetime = T0, **fields: Any) -> SupportEvent:
    return ticket(
        event_id, ticket_id, "new", when, kind=EventKind.TICKET_OPENED, created_at=when, **fields
    )


def solved(event_id: str, ticket_id: str, when: datetime, **fields: Any) -> SupportEvent:
    return ticket(event_id, ticket_id, "solved", when, **fields)


def conversation(
    event_id: str, conv_id: str, state: str | None, when: datetime, kind: EventKind, **fields: Any
) -> SupportEvent:
    info = ConversationInfo(id=conv_id, state=state, updated_at=when, **fields)
    return event(event_id, kind, when, source="intercom", conversation=info)


def rating(
    event_id: str, score: str | int, when: datetime, *, source: str = "zendesk"
) -> SupportEvent:
    scale = "good_bad" if isinstance(score, str) else "one_to_five"
    kind = EventKind.CSAT_RECEIVED if source == "zendesk" else EventKind.CONVERSATION_RATED
    return event(event_id, kind, when, source=source, rating=RatingInfo(score=score, scale=scale))


def run(
    events: list[SupportEvent],
    state: SupportState | None = None,
    config: StateConfig = CONFIG,
) -> tuple[SupportState, list[Transition]]:
    """Apply events in order; the final state and every transition emitted."""
    emitted: list[Transition] = []
    for item in events:
        state, transitions = apply(state, item, KEY, config)
        emitted.extend(transitions)
    assert state is not None
    return state, emitted


def kinds(transitions: list[Transition]) -> list[str]:
    return [t.kind for t in transitions]
