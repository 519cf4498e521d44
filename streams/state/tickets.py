"""Folding ticket and conversation events into `TicketState` (SPEC S4 ticket rules).

- Updates are versioned by the platform's `updated_at` (else the event's `occurred_at`);
  an update older than what the state holds changes nothing. Equal times are applied:
  Zendesk sends one event per changed field of the same update, all with one timestamp.
- Only fields an event carries overwrite; the rest are kept.
- `ticket_merged`, or a closed status with `merged_into`, closes the source ticket with
  reason "merged" (no resolution campaign); "deleted" closes without one too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from msgspec.structs import replace

from contracts.events import ConversationInfo, EventKind, SupportEvent, TicketInfo
from streams.state.model import (
    CLOSED_STATUSES,
    ClosedReason,
    TicketSource,
    TicketState,
    as_utc,
    ticket_key,
)

TICKET_KINDS = frozenset(
    {
        EventKind.TICKET_OPENED,
        EventKind.TICKET_STATUS_CHANGED,
        EventKind.TICKET_MERGED,
        EventKind.TICKET_PRIORITY_CHANGED,
        EventKind.TICKET_TAGS_CHANGED,
    }
)
CONVERSATION_KINDS = frozenset(
    {EventKind.CONVERSATION_OPENED, EventKind.CONVERSATION_CLOSED, EventKind.CONVERSATION_TAGGED}
)


class InvalidEvent(ValueError):
    """The event lacks what its kind needs; the agent sends it to the dlq with this reason."""


class TicketChange(NamedTuple):
    before: TicketState | None
    after: TicketState


def _closed_reason(status: str, merged: bool) -> ClosedReason | None:
    if merged:
        return "merged"
    if status == "deleted":
        return "deleted"
    return "resolved" if status in CLOSED_STATUSES else None


def _helpdesk(event: SupportEvent) -> TicketSource:
    if event.source == "zendesk" or event.source == "intercom":
        return event.source
    raise InvalidEvent(f"{event.kind} from {event.source}: tickets come from zendesk or intercom")


def _build(
    existing: TicketState | None,
    *,
    source: TicketSource,
    ticket_id: str,
    version: datetime,
    created_at: datetime,
    status: str,
    merged: bool,
    merged_into: str | None,
    fields: dict[str, Any],
) -> TicketState:
    reason = _closed_reason(status, merged)
    if reason is None:
        closed_at = None
    elif existing is not None and existing.closed_reason == reason:
        closed_at = existing.closed_at  # still closed the same way: keep when it closed
    else:
        closed_at = version
    values = {k: v for k, v in fields.items() if v is not None}
    values.update(
        source=source,
        id=ticket_id,
        status=status,
        updated_at=version,
        closed_at=closed_at,
        closed_reason=reason,
        merged_into=merged_into,
    )
    if existing is not None:
        return replace(existing, **values)
    return TicketState(opened_at=created_at, **values)


def fold_ticket(tickets: dict[str, TicketState], event: SupportEvent) -> TicketChange | None:
    """The ticket after a `ticket_*` event, or None when the update is older than the state."""
    info: TicketInfo | None = event.ticket
    if info is None:
        raise InvalidEvent(f"{event.kind} without a ticket payload")
    source = _helpdesk(event)
    key = ticket_key(source, info.id)
    existing = tickets.get(key)
    version = as_utc(info.updated_at or event.occurred_at)
    if existing is not None and version < existing.updated_at:
        return None
    default_status = "new" if source == "zendesk" else "open"
    status = info.status or (existing.status if existing is not None else default_status)
    merged_into = (
        info.merged_into
        or _attr(event, "merged_into")
        or (existing.merged_into if existing is not None else None)
    )
    is_merge = event.kind == EventKind.TICKET_MERGED
    if is_merge and status not in CLOSED_STATUSES:
        status = "closed"
    merged = is_merge or (merged_into is not None and status in CLOSED_STATUSES)
    replace_tags = event.kind == EventKind.TICKET_TAGS_CHANGED or bool(info.tags)
    after = _build(
        existing,
        source=source,
        ticket_id=info.id,
        version=version,
        created_at=as_utc(info.created_at or event.occurred_at),
        status=status,
        merged=merged,
        merged_into=merged_into,
        fields={
            "priority": info.priority,
            "reason": info.reason,
            "assignee": info.assignee,
            "tags": info.tags if replace_tags else None,
        },
    )
    return TicketChange(existing, after)


def fold_conversation(tickets: dict[str, TicketState], event: SupportEvent) -> TicketChange | None:
    """The conversation after a `conversation_*` event (Intercom states open/snoozed/closed)."""
    info: ConversationInfo | None = event.conversation
    if info is None:
        raise InvalidEvent(f"{event.kind} without a conversation payload")
    source = _helpdesk(event)
    key = ticket_key(source, info.id)
    existing = tickets.get(key)
    version = as_utc(info.updated_at or event.occurred_at)
    if existing is not None and version < existing.updated_at:
        return None
    if event.kind == EventKind.CONVERSATION_CLOSED:
        status = "closed"
    else:
        # ConversationInfo does not lower-case its state the way TicketInfo does.
        state = info.state.strip().lower() if info.state else None
        status = state or (existing.status if existing is not None else "open")
    tags: tuple[str, ...] | None = info.tags or None
    if event.kind == EventKind.CONVERSATION_TAGGED and existing is not None:
        # Tag events say what was added; keep the tags we knew.
        tags = tuple(dict.fromkeys((*existing.tags, *info.tags)))
    after = _build(
        existing,
        source=source,
        ticket_id=info.id,
        version=version,
        created_at=as_utc(info.created_at or event.occurred_at),
        status=status,
        merged=False,
        merged_into=None,
        fields={
            "priority": info.priority, "reason": info.reason, "assignee": info.admin_id,
            "tags": tags,
        },
    )
    return TicketChange(existing, after)


def _attr(event: SupportEvent, name: str) -> str | None:
    value = event.attributes.get(name)
    return None if value is None else str(value)
