"""Building transitions (SPEC S4): the facts one apply/expire/merge produced, turned into
`Transition`s (a contract: contracts/transitions.py) in a fixed order, plus the notes a
state keeps of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from contracts.transitions import Transition, TransitionKind, transition_id
from streams.state.model import SupportState, TicketState, TransitionNote

__all__ = [
    "Fact",
    "Transition",
    "TransitionKind",
    "build_transitions",
    "notes_for",
    "state_reason",
    "ticket_payload",
    "transition_id",
]


# Kinds worth remembering in `SupportState.recent_transitions` (attribute and profile
# churn would push the interesting history out of the bounded buffer).
NOTED_KINDS: frozenset[str] = frozenset(
    {
        "support_state_changed",
        "ticket_opened",
        "ticket_resolved",
        "csat_received",
        "consent_changed",
        "states_merged",
    }
)




class Fact(NamedTuple):
    """A transition before the final state is known (handlers produce these). A named
    tuple: several are built per event, and a frozen dataclass costs ~3x as much."""

    kind: TransitionKind
    discriminator: str = ""
    reason: str = ""
    ticket: dict[str, Any] | None = None
    rating: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    changed: tuple[str, ...] = ()


def ticket_payload(ticket: TicketState) -> dict[str, Any]:
    resolution = None
    if ticket.closed_at is not None:
        resolution = max(0, int((ticket.closed_at - ticket.opened_at).total_seconds()))
    return {
        "key": ticket.key,
        "id": ticket.id,
        "source": ticket.source,
        "status": ticket.status,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "tags": list(ticket.tags),
        "assignee": ticket.assignee,
        "opened_at": ticket.opened_at.isoformat(),
        "resolution_seconds": resolution,
    }


def state_reason(before: SupportState, after: SupportState, hint: str | None) -> str:
    """Why `after.support_state` holds, in words routing and `state show` can use."""
    if hint:
        return hint
    new = after.support_state
    if new == "escalated":
        return "refund_risk" if after.refund_risk else "high_priority"
    if new == "open":
        return "ticket_open"
    if new == "recovery":
        return "low_csat"
    if new == "cooldown":
        return "all_resolved"
    if before.support_state in ("cooldown", "recovery"):
        return f"{before.support_state}_expired"
    return "all_resolved"


def build_transitions(
    before: SupportState,
    after: SupportState,
    facts: list[Fact],
    *,
    cause: str,
    at: datetime,
    reason: str,
    hint: str | None,
    scope: str = "",
) -> list[Transition]:
    """Facts first, then attributes_changed, then support_state_changed (a fixed order)."""
    attributes = after.exported_attributes()
    old_attributes = before.exported_attributes()
    changed = tuple(k for k, v in attributes.items() if old_attributes.get(k) != v)
    all_facts = list(facts)
    if changed:
        all_facts.append(Fact("attributes_changed", reason=hint or reason, changed=changed))
    if after.support_state != before.support_state:
        all_facts.append(
            Fact(
                "support_state_changed",
                discriminator=f"{before.support_state}->{after.support_state}",
                reason=state_reason(before, after, hint),
            )
        )
    if not all_facts:
        return []
    consent = after.consent.snapshot()
    key, identities, holdout = after.customer_key, after.identities, after.holdout
    old_state, new_state = before.support_state, after.support_state
    return [
        Transition(
            transition_id=transition_id(key, cause, fact.kind, scope + fact.discriminator),
            kind=fact.kind,
            customer_key=key,
            identities=identities,
            consent=consent,
            holdout=holdout,
            old_state=old_state if fact.kind == "support_state_changed" else None,
            new_state=new_state if fact.kind == "support_state_changed" else None,
            reason=fact.reason or reason,
            causing_event_id=cause,
            occurred_at=at,
            attributes=dict(attributes),  # one dict each: recipes may change theirs
            changed=fact.changed,
            ticket=fact.ticket,
            rating=fact.rating,
            details=fact.details,
        )
        for fact in all_facts
    ]


def notes_for(transitions: list[Transition]) -> list[TransitionNote]:
    return [
        TransitionNote(
            at=t.occurred_at,
            kind=t.kind,
            reason=t.reason,
            event=t.causing_event_id,
            old=t.old_state,
            new=t.new_state,
            ticket=None if t.ticket is None else str(t.ticket["key"]),
        )
        for t in transitions
        if t.kind in NOTED_KINDS
    ]
