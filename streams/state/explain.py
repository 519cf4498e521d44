"""The `supportsync state show` view of one customer: why suppressed or not, and from what.

Plain JSON-ready dicts; no config needed (the machine stores the config-derived flags).
What was last *delivered* where is the sinks' knowledge and is added by the CLI, not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from streams.state.model import SupportState

#: TicketState's optional fields and their defaults, as JSON (left out of the view)
_TICKET_DEFAULTS: dict[str, Any] = {
    "priority": None, "reason": None, "tags": [], "closed_at": None, "closed_reason": None,
    "merged_into": None, "assignee": None,
}


def _without_defaults(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}

SUPPRESSING_STATES: frozenset[str] = frozenset({"open", "escalated", "cooldown"})


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def why(state: SupportState) -> str:
    opened = [t.key for t in state.open_tickets]
    risk = " with refund/chargeback risk" if state.refund_risk else " at high priority"
    text = {
        "escalated": f"escalated: open {opened}{risk}",
        "open": f"open tickets {opened}",
        "recovery": f"low CSAT at {_iso(state.last_low_csat_at)} (service recovery)",
        "cooldown": f"all tickets resolved, last at {_iso(state.last_resolved_at)} (cooldown)",
        "clear": "no open ticket, no window running",
    }[state.support_state]
    if state.holdout:
        text += "; in the holdout group: flagged, never suppressed"
    if state.parked:
        text += (f"; {len(state.parked)} event(s) parked until the customer can be "
                 "addressed (e.g. the requester's email arrives)")
    if state.merged_into is not None:
        text = f"merged into {state.merged_into}; look there"
    return text


def explain_state(state: SupportState) -> dict[str, Any]:
    tickets = sorted(state.tickets.values(), key=lambda t: (t.opened_at, t.key))
    return {
        "customer_key": state.customer_key,
        "merged_into": state.merged_into,
        "support_state": state.support_state,
        "suppressed": state.support_state in SUPPRESSING_STATES and not state.holdout,
        "why": why(state),
        "holdout": state.holdout,
        "as_of": _iso(state.as_of),
        "identities": dict(state.identities.pairs()),
        "other_emails": list(state.other_emails),
        "attributes": state.exported_attributes(),
        "tickets": [_without_defaults(msgspec.to_builtins(t), _TICKET_DEFAULTS) for t in tickets],
        "csat": None if state.csat is None else msgspec.to_builtins(state.csat),
        "consent": msgspec.to_builtins(state.consent.snapshot()),
        "segments": list(state.segments),
        "last_resolved_at": _iso(state.last_resolved_at),
        "last_low_csat_at": _iso(state.last_low_csat_at),
        "recent_transitions": [n.as_dict() for n in state.recent_transitions],
        "parked_events": len(state.parked),
    }
