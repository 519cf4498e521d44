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
from datetime import datetime, timedelta
from functools import lru_cache

from msgspec.structs import replace

from streams.state.config import StateConfig
from streams.state.model import SupportState, SupportStateName, TicketState, is_newer


@lru_cache(maxsize=4096)  # a few reasons and tags repeat on every evaluation
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
    expired = [
        key
        for key, ticket in tickets.items()
        if ticket.is_open and stale_deadline(ticket, config) <= now
    ]
    if not expired:
        return tickets, expired
    result = dict(tickets)
    for key in expired:
        deadline = stale_deadline(tickets[key], config)
        result[key] = replace(tickets[key], closed_reason="stale", closed_at=deadline)
    return result, expired


def _prune(
    tickets: dict[str, TicketState], last: TicketState | None, now: datetime, config: StateConfig
) -> dict[str, TicketState]:
    """Drop closed tickets no window can see any more; the last ticket stays so the
    exported last_ticket_* attributes do not change just because time passed."""
    cutoff = now - config.retention

    def prunable(ticket: TicketState) -> bool:
        closed = ticket.closed_at
        return closed is not None and closed <= cutoff and ticket is not last

    if not any(prunable(t) for t in tickets.values()):
        return tickets
    return {key: t for key, t in tickets.items() if not prunable(t)}


def decide(
    *,
    open_tickets: bool,
    escalate: bool,
    low_csat_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
    config: StateConfig,
) -> SupportStateName:
    """The precedence rule. `low_csat_at` is None unless the newest rating is low."""
    if open_tickets:
        return "escalated" if escalate else "open"
    if low_csat_at is not None and now < low_csat_at + config.recovery:
        return "recovery"
    if resolved_at is not None and now < resolved_at + config.cooldown:
        return "cooldown"
    return "clear"


def evaluate(
    state: SupportState, now: datetime, config: StateConfig
) -> tuple[SupportState, list[str]]:
    """The state as of max(state.as_of, now), and the keys of tickets that went stale."""
    if state.as_of is not None and state.as_of > now:
        now = state.as_of
    tickets, stale = _expire_stale(state.tickets, now, config)
    # One pass: the last ticket (as `last_ticket` picks it), the open ones and the ones
    # closed before the retention cutoff (pruned below unless one is the last).
    cutoff = now - config.retention
    best = best_merged = None
    open_tickets: list[TicketState] = []
    old = False
    for ticket in tickets.values():
        if ticket.closed_reason is None:
            open_tickets.append(ticket)
        if ticket.closed_at is not None and ticket.closed_at <= cutoff:
            old = True
        if ticket.closed_reason == "merged":
            if best_merged is None or is_newer(ticket, best_merged):
                best_merged = ticket
        elif best is None or is_newer(ticket, best):
            best = ticket
    last = best if best is not None else best_merged
    if old:
        pruned = _prune(tickets, last, now, config)
        if pruned is not tickets:
            tickets = pruned
            open_tickets = [t for t in tickets.values() if t.is_open]
    high = any(t.priority in config.high_priorities for t in open_tickets)
    refund = any(is_refund_risk(t, config) for t in open_tickets)
    low_csat = state.csat is not None and state.csat.low
    name = decide(
        open_tickets=bool(open_tickets),
        escalate=high or refund,
        low_csat_at=state.last_low_csat_at if low_csat else None,
        resolved_at=state.last_resolved_at,
        now=now,
        config=config,
    )
    evaluated = replace(
        state,
        tickets=tickets,
        as_of=now,
        support_state=name,
        high_priority_open=high,
        refund_risk=refund,
        recent_ticket=last is not None and now < last.opened_at + config.recent_ticket_window,
        holdout=in_holdout(state.customer_key, config.holdout_percent),
    )
    return evaluated, stale


_DAY = timedelta(days=1)


def open_age_days(state: SupportState, config: StateConfig) -> int | None:
    """Whole days from the newest email open to `as_of`, capped at `open_age_max`."""
    opened, now = state.last_email_open_at, state.as_of
    if opened is None or now is None:
        return None
    days = max(0, (now - opened) // _DAY)
    return int(min(days, config.open_age_max // _DAY))


def next_deadline(state: SupportState, config: StateConfig) -> datetime | None:
    """The earliest moment after `as_of` at which `evaluate` would change something."""
    candidates: list[datetime] = []
    last = state.last_ticket
    stale_after, retention = config.stale_after, config.retention
    for ticket in state.tickets.values():
        if ticket.closed_reason is None:  # open: goes stale (`stale_deadline`)
            candidates.append(ticket.updated_at + stale_after)
        elif ticket.closed_at is not None and ticket is not last:  # one ticket per key
            candidates.append(ticket.closed_at + retention)
    if state.last_resolved_at is not None:
        candidates.append(state.last_resolved_at + config.cooldown)
    if state.last_low_csat_at is not None:
        candidates.append(state.last_low_csat_at + config.recovery)
    if last is not None:
        candidates.append(last.opened_at + config.recent_ticket_window)
    days = open_age_days(state, config)
    if days is not None and state.last_email_open_at is not None:
        next_day = state.last_email_open_at + (days + 1) * _DAY  # days_since_last_open ticks
        if next_day <= state.last_email_open_at + config.open_age_max:
            candidates.append(next_day)
    after = state.as_of
    future = [c for c in candidates if after is None or c > after]
    return min(future, default=None)
