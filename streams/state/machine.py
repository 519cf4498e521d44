"""The pure support state machine (SPEC S4): `apply`, `expire`, `merge_states`.

No I/O and no clock: every time comes from the event (`occurred_at`) or from the caller
(`expire(now=...)`). Each call returns the next immutable `SupportState` and the
transitions it caused, in a fixed order, with ids derived from the inputs only: replaying
the same inputs reproduces the same states and transition ids.

Events that do not change the support state (email engagement, lifecycle, group, track)
are still recorded as processed; routing acts on them straight from the events topic.
Events missing what their kind needs raise `InvalidEvent` (the agent dead-letters them);
events for a key that was merged away raise `StateAbsorbed` (the agent forwards them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from msgspec.structs import astuple, replace

from contracts.events import IDENTITY_FIELDS, EventKind, Identities, SupportEvent
from contracts.timebounds import TimeOutOfRange, bounded
from streams.state.config import StateConfig
from streams.state.folds import (
    Folded,
    fold_consent,
    fold_engagement,
    fold_profile,
    fold_rating,
    fold_segment,
)
from streams.state.merge import combine
from streams.state.model import SupportState, as_utc, event_digest_bytes
from streams.state.tickets import (
    CONVERSATION_KINDS,
    TICKET_KINDS,
    InvalidEvent,
    TicketChange,
    fold_conversation,
    fold_ticket,
)
from streams.state.transitions import Fact, Transition, build_transitions, notes_for, ticket_payload
from streams.state.windows import evaluate, open_age_days
from streams.state.windows import next_deadline as next_deadline

__all__ = [
    "InvalidEvent",
    "StateAbsorbed",
    "absorbed_tombstone",
    "apply",
    "expire",
    "merge_states",
    "next_deadline",
]


class StateAbsorbed(Exception):
    """The state was merged into `survivor`; the event belongs there."""

    def __init__(self, customer_key: str, survivor: str) -> None:
        super().__init__(f"{customer_key} was merged into {survivor}")
        self.customer_key = customer_key
        self.survivor = survivor


def apply(
    state: SupportState | None, event: SupportEvent, customer_key: str, config: StateConfig
) -> tuple[SupportState, list[Transition]]:
    """The next state and its transitions. A duplicate hands back `state` itself (the same
    object, no transitions): callers test `after is before`, never `==` (a deep compare)."""
    current = state if state is not None else new_state(customer_key)
    if current.customer_key != customer_key:
        raise ValueError(f"state of {current.customer_key} applied under key {customer_key}")
    if current.merged_into is not None:
        raise StateAbsorbed(customer_key, current.merged_into)
    digest = event_digest_bytes(event.event_id)
    if current.processed_ids.contains_raw(digest):
        return current, []
    at = _checked_times(event)
    staged = _with_identities(current, event)
    fold = _FOLDERS.get(event.kind, _fold_nothing)
    staged, facts, hint = fold(staged, event)
    evaluated, stale = evaluate(staged, at, config)
    return _finish(
        current,
        evaluated,
        facts,
        config,
        cause=event.event_id,
        at=at,
        reason=str(event.kind),
        hint="stale" if stale else hint,
        processed=digest,
    )


def expire(
    state: SupportState, now: datetime, config: StateConfig
) -> tuple[SupportState, list[Transition]]:
    """Run every deadline up to `now`, each at its own time, so a late timer gives the
    same transitions (ids included) as a punctual one. Nothing due: `state` itself."""
    if state.merged_into is not None:
        return state, []
    now = as_utc(now)
    emitted: list[Transition] = []
    while (deadline := next_deadline(state, config)) is not None and deadline <= now:
        evaluated, stale = evaluate(state, deadline, config)
        state, transitions = _finish(
            state,
            evaluated,
            [],
            config,
            cause=f"timer:{deadline.isoformat()}",
            at=deadline,
            reason="timer",
            hint="stale" if stale else None,
        )
        emitted.extend(transitions)
    return state, emitted


def merge_states(
    survivor: SupportState,
    absorbed: SupportState,
    config: StateConfig,
    *,
    event_id: str,
    occurred_at: datetime,
) -> tuple[SupportState, list[Transition]]:
    """Fold `absorbed` into `survivor` (identity merge). Idempotent: merging a tombstone
    or a state into itself changes nothing. The causing event is not marked processed,
    because the agent applies it to the merged state next."""
    if absorbed.merged_into is not None or absorbed.customer_key == survivor.customer_key:
        return survivor, []
    if survivor.merged_into is not None:
        raise StateAbsorbed(survivor.customer_key, survivor.merged_into)
    staged = combine(survivor, absorbed, config)
    evaluated, stale = evaluate(staged, as_utc(occurred_at), config)
    fact = Fact(
        "states_merged",
        discriminator=absorbed.customer_key,
        reason="identity_merge",
        details={
            "survivor": survivor.customer_key,
            "absorbed": absorbed.customer_key,
            "tickets_moved": sorted(set(absorbed.tickets) - set(survivor.tickets)),
            # who the absorbed customer was on the platforms (R1 merges its profile away)
            "absorbed_identities": dict(absorbed.identities.pairs()),
        },
    )
    return _finish(
        survivor,
        evaluated,
        [fact],
        config,
        cause=event_id,
        at=as_utc(occurred_at),
        reason="identity_merge",
        hint="stale" if stale else "identity_merge",
        scope=f"merge:{absorbed.customer_key}:",
    )


def absorbed_tombstone(absorbed: SupportState, survivor_key: str) -> SupportState:
    """What stays under an absorbed key: a forwarding pointer (and who it was)."""
    return SupportState(
        customer_key=absorbed.customer_key,
        identities=absorbed.identities,
        merged_into=survivor_key,
        as_of=absorbed.as_of,
    )


def _finish(
    before: SupportState,
    after: SupportState,
    facts: list[Fact],
    config: StateConfig,
    *,
    cause: str,
    at: datetime,
    reason: str,
    hint: str | None,
    processed: bytes | None = None,  # the event's digest, when an event (not a timer) ran
    scope: str = "",
) -> tuple[SupportState, list[Transition]]:
    if after.last_email_open_at is not None and (
        after.last_email_open_at == before.last_email_open_at
    ):
        days = open_age_days(after, config)
        if days is not None and days != open_age_days(before, config):
            details = {"days_since_last_open": days}
            facts = [*facts, Fact("engagement_aged", str(days), "days_passed", details=details)]
    if after.identities is not before.identities:
        linked = _linked_kinds(before.identities, after.identities)
        if linked:
            facts = [*facts, Fact("identities_linked", ",".join(linked), reason,
                                  details={"added": linked})]
    transitions = build_transitions(
        before, after, facts, cause=cause, at=at, reason=reason, hint=hint, scope=scope
    )
    update: dict[str, Any] = {}
    notes = notes_for(transitions)
    if notes:
        kept = (*after.recent_transitions, *notes)
        limit = config.max_transitions_kept
        update["recent_transitions"] = kept[-limit:] if limit else ()
    if processed is not None:
        update["processed_ids"] = after.processed_ids.appended(processed, config.processed_ids_max)
        update["seq"] = after.seq + 1
    return (replace(after, **update) if update else after), transitions


def _checked_times(event: SupportEvent) -> datetime:
    """The event's time in UTC; InvalidEvent when any of its times is out of range (adding a
    window to year 9999 would overflow)."""
    try:
        for info in (event.ticket, event.conversation):
            if info is not None:
                for moment in (info.created_at, info.updated_at):
                    if moment is not None:
                        bounded(moment)
        return bounded(event.occurred_at, "occurred_at")
    except TimeOutOfRange as exc:
        raise InvalidEvent(str(exc)) from exc


def new_state(customer_key: str) -> SupportState:
    return SupportState(customer_key=customer_key)


def _with_identities(state: SupportState, event: SupportEvent) -> SupportState:
    known = astuple(state.identities)
    seen = astuple(event.identities)
    if all(k is not None or s is None for k, s in zip(known, seen, strict=True)):
        return state  # the common case: nothing new, skip building an Identities
    merged = {name: k or s for name, k, s in zip(IDENTITY_FIELDS, known, seen, strict=True)}
    return replace(state, identities=Identities(**merged))


def _linked_kinds(before: Identities, after: Identities) -> list[str]:
    """The identifier kinds `after` holds and `before` lacked; none for a customer seen for
    the first time (there is nothing yet to bring any platform up to date with)."""
    known = astuple(before)
    if not any(known):
        return []
    return [name for name, k, a in zip(IDENTITY_FIELDS, known, astuple(after), strict=True)
            if a and not k]


def _fold_nothing(state: SupportState, event: SupportEvent) -> Folded:
    return state, [], None


def _fold_ticket_like(state: SupportState, event: SupportEvent) -> Folded:
    if event.kind in TICKET_KINDS:
        change = fold_ticket(state.tickets, event)
    else:
        change = fold_conversation(state.tickets, event)
    if change is None:  # older than what we hold: changes nothing
        return state, [], None
    return _ticket_changed(state, change)


def _ticket_changed(state: SupportState, change: TicketChange) -> Folded:
    before, after = change.before, change.after
    facts: list[Fact] = []
    update: dict[str, Any] = {"tickets": {**state.tickets, after.key: after}}
    if before is None and after.is_open:
        facts.append(Fact("ticket_opened", after.key, "opened", ticket=ticket_payload(after)))
    previous = None if before is None else before.closed_reason
    if after.closed_reason == "resolved" and previous != "resolved":
        facts.append(Fact("ticket_resolved", after.key, after.status, ticket=ticket_payload(after)))
        closed = after.closed_at
        if closed is not None and (
            state.last_resolved_at is None or closed > state.last_resolved_at
        ):
            update["last_resolved_at"] = closed
    hint = None
    if after.closed_reason in ("merged", "deleted") and previous != after.closed_reason:
        hint = f"ticket_{after.closed_reason}"
    return replace(state, **update), facts, hint


_FOLDERS: dict[EventKind, Callable[[SupportState, SupportEvent], Folded]] = {
    **{kind: _fold_ticket_like for kind in TICKET_KINDS | CONVERSATION_KINDS},
    EventKind.CSAT_RECEIVED: fold_rating,
    EventKind.CONVERSATION_RATED: fold_rating,
    EventKind.UNSUBSCRIBED: fold_consent,
    EventKind.SUBSCRIBED: fold_consent,
    EventKind.SEGMENT_ENTERED: fold_segment,
    EventKind.SEGMENT_EXITED: fold_segment,
    EventKind.CONTACT_UPDATED: fold_profile,
    EventKind.IDENTIFY: fold_profile,
    EventKind.EMAIL_ENGAGEMENT: fold_engagement,
}
