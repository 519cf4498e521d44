"""Time-dependent part of the machine: stale tickets, pruning, windows, deadlines.

`evaluate(state, now)` is the only place `support_state` is decided. It runs after every
event (at the event's time) and on every timer deadline, always with an explicit `now`;
the state's `as_of` never moves backwards, so a late event cannot reopen a window that
already expired, and the outcome does not depend on how events of different tickets
interleave.

Precedence (SPEC S4): escalated > open > recovery > cooldown > clear. Recovery outranks
cooldown: a customer who rated us badly is in the service-recovery journey even while
the ordinary post-resolution cooldown runs, and both suppress promotions anyway.
Recovery needs the *newest* rating to be low: a later good rating ends it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from streams.state.config import StateConfig
from streams.state.model import SupportState, SupportStateName, TicketState


def normalize_marker(value: str) -> str:
    return value.strip().lower().replace(" ", "_").replace("-", "_")


def is_refund_risk(ticket: TicketState, config: StateConfig) -> bool:
    values = [*ticket.tags, *([ticket.reason] if ticket.reason else [])]
    return any(normalize_marker(v) in config.refund_markers for v in values)


def in_holdout(customer_key: str, percent: float) -> bool:
    """Deterministic: the first 8 bytes of sha256(key) as a fraction of 2**64, in percent."""
    if percent <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(customer_key.encode()).digest()[:8], "big")
    return bucket / 2**64 * 100 < percent


def stale_deadline(ticket: TicketState, config: StateConfig) -> datetime:
    return ticket.updated_at + config.stale_after


def _expire_stale(
    tickets: dict[str, TicketState], now: datetime, config: StateConfig
) -> tuple[dict[str, TicketState], list[str]]:
    expired: list[str] = []
    result = dict(tickets)
    for key, ticket in tickets.items():
        deadline = stale_deadline(ticket, config)
        if ticket.is_open and deadline <= now:
            result[key] = ticket.model_copy(
                update={"closed_reason": "stale", "closed_at": deadline}
            )
            expired.append(key)
    return result, expired


def _prune(state: SupportState, now: datetime, config: StateConfig) -> dict[str, TicketState]:
    """Drop closed tickets no window can see any more; the last ticket stays so the
    exported last_ticket_* attributes do not change just because time passed."""
    last = state.last_ticket
    keep_key = None if last is None else last.key
    return {
        key: t
        for key, t in state.tickets.items()
        if t.is_open
        or key == keep_key
        or t.closed_at is None
        or t.closed_at + config.retention > now
    }


def decide(state: SupportState, now: datetime, config: StateConfig) -> SupportStateName:
    if state.has_open_ticket:
        return "escalated" if state.high_priority_open or state.refund_risk else "open"
    low = state.last_low_csat_at
    if (
        state.csat is not None
        and state.csat.low
        and low is not None
        and now < low + config.recovery
    ):
        return "recovery"
    resolved = state.last_resolved_at
    if resolved is not None and now < resolved + config.cooldown:
        return "cooldown"
    return "clear"


def evaluate(
    state: SupportState, now: datetime, config: StateConfig
) -> tuple[SupportState, list[str]]:
    """The state as of max(state.as_of, now), and the keys of tickets that went stale."""
    if state.as_of is not None and state.as_of > now:
        now = state.as_of
    tickets, stale = _expire_stale(state.tickets, now, config)
    staged = state.model_copy(update={"tickets": tickets, "as_of": now})
    staged = staged.model_copy(update={"tickets": _prune(staged, now, config)})
    open_tickets = staged.open_tickets
    last_at = staged.last_ticket_at
    staged = staged.model_copy(
        update={
            "high_priority_open": any(t.priority in config.high_priorities for t in open_tickets),
            "refund_risk": any(is_refund_risk(t, config) for t in open_tickets),
            "recent_ticket": last_at is not None and now < last_at + config.recent_ticket_window,
            "holdout": in_holdout(staged.customer_key, config.holdout_percent),
        }
    )
    return staged.model_copy(update={"support_state": decide(staged, now, config)}), stale


def next_deadline(state: SupportState, config: StateConfig) -> datetime | None:
    """The earliest moment after `as_of` at which `evaluate` would change something."""
    candidates: list[datetime] = []
    last = state.last_ticket
    for ticket in state.tickets.values():
        if ticket.is_open:
            candidates.append(stale_deadline(ticket, config))
        elif ticket.closed_at is not None and (last is None or ticket.key != last.key):
            candidates.append(ticket.closed_at + config.retention)
    if state.last_resolved_at is not None:
        candidates.append(state.last_resolved_at + config.cooldown)
    if state.last_low_csat_at is not None:
        candidates.append(state.last_low_csat_at + config.recovery)
    if last is not None:
        candidates.append(last.opened_at + config.recent_ticket_window)
    after = state.as_of
    future = [c for c in candidates if after is None or c > after]
    return min(future, default=None)
