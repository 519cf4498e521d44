"""Intercom notifications → SupportEvents (pure).

A notification is `{"type": "notification_event", "id": "notif_…", "topic": "…",
"created_at": unix, "data": {"item": {…}}}`. Topics mapped:

- conversation.user.created → conversation_opened;
- conversation.user.replied, conversation.admin.{replied,assigned,noted,opened,snoozed,
  unsnoozed} → conversation_opened: the conversation is active; `conversation.state` says
  open/snoozed and `attributes.topic` keeps the topic;
- conversation.admin.closed → conversation_closed;
- conversation_part.tag.created → conversation_tagged (the tags added; the transcript the
  notification carries, as plain text, in `attributes.transcript` for R8);
- conversation.rating.added → conversation_rated (1–5; anything else is a bad shape);
- contact.{user,lead}.{created,updated} → contact_updated (name, email, role, custom
  attributes),
  plus unsubscribed/subscribed from `unsubscribed_from_emails`; contact.unsubscribed →
  unsubscribed;
- ticket.created → ticket_opened, ticket.state.updated → ticket_status_changed (ticket state
  category mapped to new/open/pending/solved, so a resolved ticket closes), ticket.closed →
  ticket_status_changed with status closed.

Anything else (including `ping`) yields no events. Ids are strings; times are unix seconds.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

import orjson

from connectors.inbound.reason import NO_REASON, ReasonRule
from connectors.intercom.webhook import conversation_author, first_contact
from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    RatingInfo,
    SupportEvent,
    TicketInfo,
)
from contracts.timebounds import from_unix

_ACTIVE_TOPICS: dict[str, str | None] = {
    "conversation.user.created": "open",
    "conversation.user.replied": None,
    "conversation.admin.replied": None,
    "conversation.admin.assigned": None,
    "conversation.admin.noted": None,
    "conversation.admin.opened": "open",
    "conversation.admin.snoozed": "snoozed",
    "conversation.admin.unsnoozed": "open",
}
_CONTACT_TOPICS = frozenset(
    {"contact.user.created", "contact.lead.created", "contact.user.updated", "contact.lead.updated"}
)
_OTHER_CONVERSATION_TOPICS = frozenset(
    {"conversation.admin.closed", "conversation_part.tag.created"}
)
_PRIORITY = {"priority": "high", "not_priority": "normal"}
#: Intercom ticket state categories → the helpdesk statuses of SPEC S4.
_TICKET_STATUS = {
    "submitted": "new",
    "in_progress": "open",
    "waiting_on_customer": "pending",
    "resolved": "solved",
}


_TICKET_TOPICS = frozenset({"ticket.created", "ticket.state.updated", "ticket.closed"})


def _time(value: Any) -> datetime | None:
    """A UTC time; None when absent or 0 (unset); TimeOutOfRange (a ValueError: the body is
    dead-lettered as malformed) for NaN, a negative number or a time past 2200."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
        return from_unix(value)
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    return str(value).strip() or None


def _tags(value: Any) -> tuple[str, ...]:
    listed = value.get("tags") if isinstance(value, dict) else value
    if not isinstance(listed, list):
        return ()
    names = (_text(t.get("name")) if isinstance(t, dict) else _text(t) for t in listed)
    return tuple(n for n in names if n)


def _identities(*people: dict[str, Any] | None) -> Identities:
    found = Identities()
    for person in people:
        if person is None:
            continue
        found = found.merged(
            Identities(
                intercom_contact_id=_text(person.get("id")),
                email=_text(person.get("email")),
                external_id=_text(person.get("external_id")),
                phone=_text(person.get("phone")),
            )
        )
    return found


def _reason(item: dict[str, Any], tags: tuple[str, ...], rule: ReasonRule) -> str | None:
    """The conversation's reason: its custom attribute `rule.field`, else a tag with the
    prefix (of the conversation's tags, or of those just added)."""
    custom = item.get("custom_attributes")
    if rule.field and isinstance(custom, dict):
        value = rule.from_value(custom.get(rule.field))
        if value is not None:
            return value
    return rule.from_tags((*tags, *_tags(item.get("tags"))))


def _conversation(
    item: dict[str, Any], state: str | None, tags: tuple[str, ...], rule: ReasonRule = NO_REASON
) -> ConversationInfo:
    return ConversationInfo(
        id=str(item["id"]),
        state=state or _text(item.get("state")),
        priority=_PRIORITY.get(str(item.get("priority")), None),
        reason=_reason(item, tags, rule),
        tags=tags,
        admin_id=_text(item.get("admin_assignee_id")),
        created_at=_time(item.get("created_at")),
        updated_at=_time(item.get("updated_at")),
    )


def normalize(
    body: bytes, received_at: datetime, reason: ReasonRule = NO_REASON
) -> list[SupportEvent]:
    """All events in one Intercom notification (raises ValueError/KeyError on a bad shape).
    `reason` says where a conversation's reason is (custom attribute, tag prefix)."""
    doc = orjson.loads(body)
    topic = str(doc.get("topic", ""))
    item = (doc.get("data") or {}).get("item")
    if not isinstance(item, dict):
        return []
    fallback_id = f"intercom:{topic}:{item.get('id')}:{item.get('updated_at')}"
    base: dict[str, Any] = {
        "event_id": str(doc.get("id") or fallback_id),
        "source": "intercom",
        "received_at": received_at,
        "occurred_at": _time(item.get("updated_at")) or _time(doc.get("created_at")) or received_at,
    }
    if topic in _ACTIVE_TOPICS or topic in _OTHER_CONVERSATION_TOPICS:
        return _from_conversation(topic, item, base, reason)
    if topic == "conversation.rating.added":
        return _from_rating(item, base)
    if topic in _CONTACT_TOPICS or topic == "contact.unsubscribed":
        return _from_contact(topic, item, base)
    if topic in _TICKET_TOPICS:
        return _from_ticket(item, base, topic)
    return []


def part_author(item: dict[str, Any]) -> str | None:
    """The admin (or bot) id that wrote the notification's newest conversation part; for a
    conversation an admin started, its `source.author`. None when a person wrote it."""
    parts = item.get("conversation_parts")
    listed = parts.get("conversation_parts") if isinstance(parts, dict) else None
    author: Any = None
    if isinstance(listed, list) and listed and isinstance(listed[-1], dict):
        author = listed[-1].get("author")
    elif isinstance(item.get("source"), dict):
        author = item["source"].get("author")
    if isinstance(author, dict) and author.get("type") in ("admin", "bot", "team"):
        return _text(author.get("id"))
    return None


def _from_conversation(
    topic: str, item: dict[str, Any], base: dict[str, Any], rule: ReasonRule = NO_REASON
) -> list[SupportEvent]:
    identities = _identities(first_contact(item), conversation_author(item))
    attributes: dict[str, Any] = {"topic": topic}
    if topic == "conversation_part.tag.created":
        kind = EventKind.CONVERSATION_TAGGED
        added = _tags(item.get("tags_added")) or _tags(item.get("tags"))
        conversation = _conversation(item, None, added, rule)
        if text := transcript(item):
            attributes["transcript"] = text
    elif topic == "conversation.admin.closed":
        kind = EventKind.CONVERSATION_CLOSED
        conversation = _conversation(item, "closed", _tags(item.get("tags")), rule)
    else:
        kind = EventKind.CONVERSATION_OPENED
        conversation = _conversation(item, _ACTIVE_TOPICS[topic], _tags(item.get("tags")), rule)
    return [
        SupportEvent(
            **base,
            kind=kind,
            identities=identities,
            conversation=conversation,
            attributes=attributes,
            author_id=part_author(item),
        )
    ]


TRANSCRIPT_MAX = 20_000  # characters; the newest are kept
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li)\s*/?>", re.IGNORECASE)


def _plain(body: Any) -> str:
    text = _text(body)
    if text is None:
        return ""
    text = _TAG.sub("", _BREAK.sub("\n", text))
    return html.unescape(text).strip()


def _speaker(author: Any) -> str:
    if not isinstance(author, dict):
        return "unknown"
    kind = _text(author.get("type")) or "unknown"
    name = _text(author.get("name")) or _text(author.get("email"))
    return f"{name} ({kind})" if name else kind


def transcript(item: dict[str, Any]) -> str:
    """The conversation's messages as plain text, oldest first: the opening message, then
    every comment and note part with a body ("speaker: text"; notes marked)."""
    lines: list[str] = []
    source = item.get("source")
    if isinstance(source, dict) and (text := _plain(source.get("body"))):
        lines.append(f"{_speaker(source.get('author'))}: {text}")
    parts = item.get("conversation_parts")
    found = parts.get("conversation_parts") if isinstance(parts, dict) else None
    for part in found if isinstance(found, list) else []:
        if not isinstance(part, dict) or part.get("part_type") not in _MESSAGE_PARTS:
            continue
        if text := _plain(part.get("body")):
            marker = " [internal note]" if part.get("part_type") == "note" else ""
            lines.append(f"{_speaker(part.get('author'))}{marker}: {text}")
    joined = "\n\n".join(lines)
    return joined[-TRANSCRIPT_MAX:]


_MESSAGE_PARTS = frozenset({"comment", "note", "open", "close", "assignment"})


def _from_rating(item: dict[str, Any], base: dict[str, Any]) -> list[SupportEvent]:
    rating = item.get("conversation_rating")
    if not isinstance(rating, dict):
        raise ValueError("conversation.rating.added without conversation_rating")
    score = rating.get("rating")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValueError("conversation rating is not an integer from 1 to 5")
    contact = rating.get("contact") if isinstance(rating.get("contact"), dict) else None
    occurred = _time(rating.get("created_at")) or base["occurred_at"]
    return [
        SupportEvent(
            **{**base, "occurred_at": occurred},
            kind=EventKind.CONVERSATION_RATED,
            identities=_identities(first_contact(item), contact, conversation_author(item)),
            conversation=_conversation(item, None, ()),
            rating=RatingInfo(
                score=score,
                scale="one_to_five",
                ticket_id=str(item["id"]),
                comment=bool(_text(rating.get("remark"))),
                comment_text=_text(rating.get("remark")),
            ),
        )
    ]


def _from_contact(topic: str, item: dict[str, Any], base: dict[str, Any]) -> list[SupportEvent]:
    identities = _identities(item)
    events: list[SupportEvent] = []
    if topic != "contact.unsubscribed":
        attributes: dict[str, Any] = {
            k: v for k in ("name", "role") if (v := _text(item.get(k)))
        }
        if identities.email:  # a profile field too: R10 carries a changed email across
            attributes["email"] = identities.email
        custom = item.get("custom_attributes")
        if isinstance(custom, dict):
            attributes.update({str(k): v for k, v in custom.items() if v is not None})
        events.append(
            SupportEvent(
                **base, kind=EventKind.CONTACT_UPDATED, identities=identities, attributes=attributes
            )
        )
    flag = True if topic == "contact.unsubscribed" else item.get("unsubscribed_from_emails")
    if isinstance(flag, bool):
        events.append(
            SupportEvent(
                **{**base, "event_id": f"{base['event_id']}:consent"},
                kind=EventKind.UNSUBSCRIBED if flag else EventKind.SUBSCRIBED,
                identities=identities,
                attributes={"channel": "email"},
            )
        )
    return events


def _from_ticket(
    item: dict[str, Any], base: dict[str, Any], topic: str = "ticket.created"
) -> list[SupportEvent]:
    state = item.get("ticket_state")
    category = state.get("category") if isinstance(state, dict) else state
    if topic == "ticket.closed" or item.get("open") is False:
        status = "closed"
    else:
        status = _TICKET_STATUS.get(str(category), "new")
    ticket = TicketInfo(
        id=str(item["id"]),
        status=status,
        priority=_PRIORITY.get(str(item.get("priority")), None),
        subject=_text((item.get("ticket_attributes") or {}).get("_default_title_")),
        assignee=_text(item.get("admin_assignee_id")),
        created_at=_time(item.get("created_at")),
        updated_at=_time(item.get("updated_at")) or base["occurred_at"],
    )
    return [
        SupportEvent(
            **base,
            kind=EventKind.TICKET_OPENED
            if topic == "ticket.created"
            else EventKind.TICKET_STATUS_CHANGED,
            identities=_identities(first_contact(item)),
            ticket=ticket,
        )
    ]
