"""Zendesk payloads → SupportEvents (pure).

Two body shapes arrive at /webhooks/zendesk:
- event-subscribed webhooks: `{"type": "zen:event-type:ticket.status_changed", "id", "time",
  "subject", "detail": {...ticket or user...}, "event": {...}}` — statuses in upper or title
  case, ids as strings;
- trigger/automation webhooks built from our recommended body (`TRIGGER_BODY_TEMPLATE`,
  documented in the README): a full ticket snapshot plus the requester and satisfaction.
Unknown-but-valid event types normalize to no events (counted by the caller, kept on raw).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from connectors.inbound.reason import NO_REASON, ReasonRule
from contracts.events import (
    EventKind,
    Identities,
    RatingInfo,
    SupportEvent,
    TicketInfo,
    normalize_email,
)
from contracts.timebounds import from_unix, parse_iso

TRIGGER_MARKER = "zendesk-trigger/v1"

#: What to paste as the JSON body of a Zendesk trigger/automation webhook action.
TRIGGER_BODY_TEMPLATE: dict[str, Any] = {
    "supportsync": TRIGGER_MARKER,
    "event_id": "{{ticket.id}}:{{ticket.updated_at_with_timestamp}}:{{ticket.status}}",
    "ticket": {
        "id": "{{ticket.id}}",
        "status": "{{ticket.status}}",
        "priority": "{{ticket.priority}}",
        "tags": "{{ticket.tags}}",
        "subject": "{{ticket.title}}",
        "channel": "{{ticket.via}}",
        "assignee": "{{ticket.assignee.email}}",
        "group": "{{ticket.group.name}}",
        "created_at": "{{ticket.created_at_with_timestamp}}",
        "updated_at": "{{ticket.updated_at_with_timestamp}}",
        # The ticket's reason, when a custom field holds it: put the field's id in place
        # of FIELD_ID, or leave this out (a tag prefix can name the reason instead).
        "reason": "{{ticket.ticket_field_option_title_FIELD_ID}}",
    },
    "requester": {
        "id": "{{ticket.requester.id}}",
        "email": "{{ticket.requester.email}}",
        "external_id": "{{ticket.requester.external_id}}",
        "phone": "{{ticket.requester.phone}}",
    },
    "satisfaction": {
        "score": "{{satisfaction.current_rating}}",
        "comment": "{{satisfaction.current_comment}}",
    },
    # who made this update: supportsync drops its own (loop prevention by author)
    "updater": {"email": "{{current_user.email}}"},
}

_TICKET_KINDS = {
    "ticket.created": EventKind.TICKET_OPENED,
    "ticket.status_changed": EventKind.TICKET_STATUS_CHANGED,
    "ticket.priority_changed": EventKind.TICKET_PRIORITY_CHANGED,
    "ticket.tags_changed": EventKind.TICKET_TAGS_CHANGED,
    "ticket.merged": EventKind.TICKET_MERGED,
    "ticket.soft_deleted": EventKind.TICKET_STATUS_CHANGED,
    "ticket.permanently_deleted": EventKind.TICKET_STATUS_CHANGED,
}
_USER_PREFIX = "user."
#: user events whose `detail.email` may be a new email (the primary identity changed)
_EMAIL_EVENTS = frozenset({
    "user.created", "user.identity_created", "user.identity_changed", "user.merged",
})
_ORGANIZATION_TYPES = frozenset({
    "organization.created", "organization.name_changed", "organization.custom_field_changed",
    "organization.external_id_changed",
})
_CUSTOM_FIELD_CHANGED = "ticket.custom_field_changed"


def parse_time(value: Any, field: str = "time") -> datetime | None:
    """A UTC time; None when absent or not a time; TimeOutOfRange (a ValueError: the body is
    dead-lettered as malformed) for a time outside 1970..2200, NaN or negative."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_unix(value, field)
    if isinstance(value, str) and value.strip():
        return parse_iso(value, field)
    return None


def _text(value: Any) -> str | None:
    if type(value) is str:  # the usual case (13 fields of every trigger body)
        text = value.strip()
    elif value is None or isinstance(value, (dict, list)):
        return None
    else:
        text = str(value).strip()
    # Trigger placeholders for empty fields render as "" (or "-" for priority).
    return text if text and text != "-" else None


def satisfaction_score(value: Any) -> str | None:
    """"good" or "bad" from a rating as Zendesk renders `{{satisfaction.current_rating}}`
    ("Good, I'm satisfied", "Bad, I'm unsatisfied") or as the API names it ("good",
    "good_with_comment"); None for "offered", "unoffered" and empty placeholders."""
    text = (_text(value) or "").lower()
    word = text.replace(",", " ").replace("_", " ").split(" ", 1)[0]
    return word if word in ("good", "bad") else None


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(t) for t in value if str(t).strip())
    if isinstance(value, str):
        return tuple(t for t in value.split() if t)  # {{ticket.tags}} is space-separated
    return ()


def _custom_field(detail: dict[str, Any], field_id: str) -> Any:
    """The value of a custom field in a REST-shaped ticket (`custom_fields: [{id, value}]`)."""
    for entry in detail.get("custom_fields") or ():
        if isinstance(entry, dict) and str(entry.get("id")) == field_id:
            return entry.get("value")
    return None


def _reason(detail: dict[str, Any], tags: tuple[str, ...], rule: ReasonRule) -> str | None:
    """The trigger template's `reason` (a rendered custom field placeholder; an unrendered
    one is ignored), else the configured custom field, else a tag with the prefix."""
    explicit = _text(detail.get("reason"))
    if explicit and "{{" not in explicit:
        return explicit
    if rule.field and (value := rule.from_value(_custom_field(detail, rule.field))):
        return value
    return rule.from_tags(tags)


def _ticket(detail: dict[str, Any], rule: ReasonRule = NO_REASON, **override: Any) -> TicketInfo:
    tags = _tags(detail.get("tags"))
    fields: dict[str, Any] = {
        "id": detail.get("id"),
        "status": _text(detail.get("status")),
        "priority": _text(detail.get("priority")),
        "tags": tags,
        "reason": _reason(detail, tags, rule),
        "subject": _text(detail.get("subject")),
        "channel": _text((detail.get("via") or {}).get("channel"))
        if isinstance(detail.get("via"), dict)
        else _text(detail.get("channel")),
        "assignee": _text(detail.get("assignee") or detail.get("assignee_id")),
        "group": _text(detail.get("group") or detail.get("group_id")),
        "created_at": parse_time(detail.get("created_at"), "created_at"),
        "updated_at": parse_time(detail.get("updated_at"), "updated_at"),
    }
    fields.update(override)
    if "tags" in override and "reason" not in override:  # tags_changed: the new tags count
        fields["reason"] = fields["reason"] or rule.from_tags(override["tags"])
    return TicketInfo(**fields)


def _event(
    *,
    event_id: str,
    kind: EventKind,
    occurred_at: datetime,
    received_at: datetime,
    identities: Identities,
    ticket: TicketInfo | None = None,
    rating: RatingInfo | None = None,
    attributes: dict[str, Any] | None = None,
    author_id: str | None = None,
) -> SupportEvent:
    """A Zendesk event (the keywords every caller here uses)."""
    return SupportEvent(
        event_id=event_id, source="zendesk", kind=kind, occurred_at=occurred_at,
        received_at=received_at, identities=identities, ticket=ticket, rating=rating,
        attributes={} if attributes is None else attributes, author_id=author_id,
    )


def _event_current(doc: dict[str, Any], field: str) -> Any:
    event = doc.get("event")
    if not isinstance(event, dict):
        return None
    current = event.get("current")
    return current.get(field) if isinstance(current, dict) else current


def _fallback_id(body: bytes) -> str:
    return "zendesk:" + hashlib.sha256(body).hexdigest()[:32]


def normalize(
    body: bytes, received_at: datetime, reason: ReasonRule = NO_REASON
) -> list[SupportEvent]:
    """All events in one Zendesk webhook body (raises ValueError/KeyError on a bad shape).
    `reason` says where the ticket's reason is (custom field id, tag prefix)."""
    doc = orjson.loads(body)
    if doc.get("supportsync") == TRIGGER_MARKER:
        return _from_trigger(doc, body, received_at, reason)
    event_type = str(doc.get("type", "")).removeprefix("zen:event-type:")
    detail = doc.get("detail") or {}
    event_id = str(doc.get("id") or _fallback_id(body))
    occurred = parse_time(doc.get("time")) or received_at
    if event_type in _TICKET_KINDS:
        return [
            _from_ticket_event(doc, event_type, detail, event_id, occurred, received_at, reason)
        ]
    if event_type == _CUSTOM_FIELD_CHANGED:
        return _from_reason_field(doc, detail, event_id, occurred, received_at, reason)
    if event_type in _ORGANIZATION_TYPES:
        return _from_organization(doc, event_type, detail, event_id, occurred, received_at)
    if event_type.startswith(_USER_PREFIX):
        identities = Identities(
            email=_text(detail.get("email")),
            external_id=_text(detail.get("external_id")),
            zendesk_user_id=_text(detail.get("id")),
            phone=_text(detail.get("phone")),
        )
        attributes = _user_attributes(event_type, doc, detail)
        return [
            _event(
                event_id=event_id,
                kind=EventKind.CONTACT_UPDATED,
                occurred_at=occurred,
                received_at=received_at,
                identities=identities,
                attributes=attributes,
                author_id=_text(detail.get("actor_id")) or _text(doc.get("actor_id")),
            )
        ]
    return []


def _user_attributes(
    event_type: str, doc: dict[str, Any], detail: dict[str, Any]
) -> dict[str, Any]:
    """The profile fields a user event reports: `role` and `organization_id` from the user
    (every user event carries them), its `email` when the event is about the user's
    identities (every event shows the email, but only these change it: a snapshot in an
    unrelated event is not a newer email), the new `name` of `user.name_changed` (a
    REST-shaped `detail.name` too), and the new value of a custom user field, named by the
    field's key (or its id when the event names none): R10 maps either to Intercom."""
    attributes: dict[str, Any] = {k: v for k in ("name", "role") if (v := _text(detail.get(k)))}
    email = normalize_email(_text(detail.get("email")))
    if email and event_type in _EMAIL_EVENTS:
        attributes["email"] = email
    organization = _text(detail.get("organization_id"))
    if organization and organization != "0":  # "0": no organization
        attributes["organization_id"] = organization
    event = doc.get("event")
    if not isinstance(event, dict):
        return attributes
    if event_type == "user.name_changed" and (name := _text(event.get("current"))):
        attributes["name"] = name
    elif event_type == "user.custom_field_changed":
        attributes.update(_custom_field_change(event))
    return attributes


def _from_organization(
    doc: dict[str, Any],
    event_type: str,
    detail: dict[str, Any],
    event_id: str,
    occurred: datetime,
    received_at: datetime,
) -> list[SupportEvent]:
    """An organization event: `attributes` = organization_id, name, external_id and the
    custom field that changed (by key, else id). It names no person (`identities` empty)."""
    organization = _text(detail.get("id"))
    if organization is None:
        raise ValueError(f"{event_type} without detail.id")
    attributes: dict[str, Any] = {"organization_id": organization}
    attributes.update({k: v for k in ("name", "external_id") if (v := _text(detail.get(k)))})
    event = doc.get("event")
    if isinstance(event, dict):
        if event_type == "organization.name_changed" and (name := _text(event.get("current"))):
            attributes["name"] = name
        elif event_type == "organization.custom_field_changed":
            attributes.update(_custom_field_change(event))
    return [
        _event(
            event_id=event_id,
            kind=EventKind.ORGANIZATION_UPDATED,
            occurred_at=parse_time(detail.get("updated_at"), "updated_at") or occurred,
            received_at=received_at,
            identities=Identities(),  # an organization: no person
            attributes=attributes,
            author_id=_text(detail.get("actor_id")) or _text(doc.get("actor_id")),
        )
    ]


def _custom_field_change(event: dict[str, Any]) -> dict[str, Any]:
    """{field key (else id): new value} of a `*.custom_field_changed` event's `event`."""
    field = event.get("custom_field") or event.get("field")
    key = None
    if isinstance(field, dict):
        key = _text(field.get("key")) or _text(field.get("id"))
    elif isinstance(field, str | int):
        key = _text(field)
    if key is None:
        return {}
    value = event.get("current")
    if isinstance(value, dict):  # drop-down fields: {"value": ..., "name": ...}
        value = value.get("value")
    return {key: value}


def _from_ticket_event(
    doc: dict[str, Any],
    event_type: str,
    detail: dict[str, Any],
    event_id: str,
    occurred: datetime,
    received_at: datetime,
    rule: ReasonRule = NO_REASON,
) -> SupportEvent:
    override: dict[str, Any] = {}
    if event_type == "ticket.status_changed" and (status := _event_current(doc, "status")):
        override["status"] = _text(status)
    elif event_type == "ticket.priority_changed" and (prio := _event_current(doc, "priority")):
        override["priority"] = _text(prio)
    elif event_type == "ticket.tags_changed" and isinstance(doc.get("event"), dict):
        added = _tags(doc["event"].get("tags_added"))
        removed = set(_tags(doc["event"].get("tags_removed")))
        base = _tags(detail.get("tags"))
        override["tags"] = tuple(t for t in dict.fromkeys(base + added) if t not in removed)
    elif event_type == "ticket.merged":
        event = doc.get("event") or {}
        target = event.get("target_ticket_id") or event.get("merged_into") or event.get("current")
        override["merged_into"] = _text(target)
        override["status"] = "closed"
    elif event_type.endswith("deleted"):
        override["status"] = "deleted"
    if "updated_at" not in override and not detail.get("updated_at"):
        override["updated_at"] = occurred
    ticket = _ticket(detail, rule, **override)
    requester = _text(detail.get("requester_id"))
    return _event(
        event_id=event_id,
        kind=_TICKET_KINDS[event_type],
        occurred_at=ticket.updated_at or occurred,
        received_at=received_at,
        identities=Identities(
            email=None, external_id=None, zendesk_user_id=requester, phone=None
        ),
        ticket=ticket,
        author_id=_text(detail.get("actor_id")) or _text(doc.get("actor_id")),
    )


def _author(person: Any) -> str | None:
    """A Zendesk user id, else the user's (normalized) email."""
    if not isinstance(person, dict):
        return None
    return _text(person.get("id")) or normalize_email(_text(person.get("email")))


def _from_reason_field(
    doc: dict[str, Any],
    detail: dict[str, Any],
    event_id: str,
    occurred: datetime,
    received_at: datetime,
    rule: ReasonRule,
) -> list[SupportEvent]:
    """`ticket.custom_field_changed` of the reason field: the ticket's new reason (other
    custom fields are not mapped)."""
    event = doc.get("event")
    if not isinstance(event, dict):
        return []
    field = event.get("custom_field")
    if not rule.field or not isinstance(field, dict) or str(field.get("id")) != rule.field:
        return []
    value = event.get("current")
    if isinstance(value, dict):  # drop-down fields: {"value": ..., "name": ...}
        value = value.get("value")
    updated = {} if detail.get("updated_at") else {"updated_at": occurred}
    ticket = _ticket(detail, rule, reason=rule.from_value(value), **updated)
    return [
        _event(
            event_id=event_id,
            kind=EventKind.TICKET_STATUS_CHANGED,
            occurred_at=ticket.updated_at or occurred,
            received_at=received_at,
            identities=Identities(
                email=None, external_id=None,
                zendesk_user_id=_text(detail.get("requester_id")), phone=None,
            ),
            ticket=ticket,
        )
    ]


def _from_trigger(
    doc: dict[str, Any], body: bytes, received_at: datetime, rule: ReasonRule = NO_REASON
) -> list[SupportEvent]:
    ticket_doc = doc.get("ticket") or {}
    requester = doc.get("requester") or {}
    ticket = _ticket(ticket_doc, rule)
    identities = Identities(
        email=_text(requester.get("email")),
        external_id=_text(requester.get("external_id")),
        zendesk_user_id=_text(requester.get("id")),
        phone=_text(requester.get("phone")),
    )
    event_id = _text(doc.get("event_id")) or _fallback_id(body)
    occurred = ticket.updated_at or received_at
    author = _author(doc.get("updater"))
    events = [
        _event(
            event_id=event_id,
            kind=EventKind.TICKET_STATUS_CHANGED,
            occurred_at=occurred,
            received_at=received_at,
            identities=identities,
            ticket=ticket,
            author_id=author,
        )
    ]
    found = doc.get("satisfaction")
    satisfaction: dict[str, Any] = found if isinstance(found, dict) else {}
    score = satisfaction_score(satisfaction.get("score"))
    if score is not None:
        comment = _text(satisfaction.get("comment"))
        rating = RatingInfo(score=score, scale="good_bad", ticket_id=ticket.id,
                            comment=comment is not None, comment_text=comment)
        events.append(
            _event(
                event_id=f"{event_id}:csat:{score}",
                kind=EventKind.CSAT_RECEIVED,
                occurred_at=occurred,
                received_at=received_at,
                identities=identities,
                ticket=ticket,
                rating=rating,  # the customer's rating, whoever updated the ticket
            )
        )
    return events
